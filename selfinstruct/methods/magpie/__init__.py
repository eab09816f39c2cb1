"""Magpie (Xu et al. 2024): an aligned model writes the user queries itself."""

from selfinstruct.methods.magpie.command import magpie
from selfinstruct.methods.magpie.method import Magpie

METHOD = Magpie
COMMAND = magpie
__all__ = ["COMMAND", "METHOD", "Magpie"]
