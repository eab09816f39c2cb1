"""GLAN (Li et al. 2024): instructions from a taxonomy of human knowledge."""

from selfinstruct.methods.glan.command import glan
from selfinstruct.methods.glan.method import Glan

METHOD = Glan
COMMAND = glan
__all__ = ["COMMAND", "METHOD", "Glan"]
