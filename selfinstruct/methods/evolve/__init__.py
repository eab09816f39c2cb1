"""Evol-Instruct (Xu et al. 2023, WizardLM): instructions rewritten harder and broader."""

from selfinstruct.methods.evolve.method import Evolve

METHOD = Evolve
__all__ = ["METHOD", "Evolve"]
