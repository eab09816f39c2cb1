"""GPT-4-LLM (Peng et al. 2023): a teacher model answers every instance again."""

from selfinstruct.methods.respond.command import respond
from selfinstruct.methods.respond.method import Respond

METHOD = Respond
COMMAND = respond
__all__ = ["COMMAND", "METHOD", "Respond"]
