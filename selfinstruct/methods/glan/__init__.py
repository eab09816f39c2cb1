"""GLAN (Li et al. 2024): instructions from a taxonomy of human knowledge."""

from selfinstruct.methods.glan.method import Glan

METHOD = Glan
__all__ = ["METHOD", "Glan"]
