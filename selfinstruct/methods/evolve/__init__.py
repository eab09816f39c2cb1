"""Evol-Instruct (Xu et al. 2023, WizardLM): instructions rewritten harder and broader."""

from selfinstruct.methods.evolve.command import evolve
from selfinstruct.methods.evolve.method import Evolve

METHOD = Evolve
COMMAND = evolve
__all__ = ["COMMAND", "METHOD", "Evolve"]
