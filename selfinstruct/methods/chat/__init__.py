"""UltraChat (Ding et al. 2023): multi-turn dialogues between a simulated user and an assistant."""

from selfinstruct.methods.chat.command import chat
from selfinstruct.methods.chat.method import Chat

METHOD = Chat
COMMAND = chat
__all__ = ["COMMAND", "METHOD", "Chat"]
