"""Magpie (Xu et al. 2024): an aligned model writes the user queries itself."""

from selfinstruct.methods.magpie.method import Magpie

METHOD = Magpie
__all__ = ["METHOD", "Magpie"]
