"""Self-Instruct (Wang et al. 2022): the paper's bootstrap from 175 seed tasks."""

from selfinstruct.methods.self_instruct.command import generate
from selfinstruct.methods.self_instruct.method import SelfInstruct

METHOD = SelfInstruct
COMMAND = generate
__all__ = ["COMMAND", "METHOD", "SelfInstruct"]
