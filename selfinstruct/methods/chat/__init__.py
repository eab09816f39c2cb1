"""UltraChat (Ding et al. 2023): multi-turn dialogues between a simulated user and an assistant."""

from selfinstruct.methods.chat.method import Chat

METHOD = Chat
__all__ = ["METHOD", "Chat"]
