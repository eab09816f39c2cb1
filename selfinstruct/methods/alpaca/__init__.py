"""Alpaca (Taori et al. 2023): Self-Instruct's one-pass variant, whole tasks per request."""

from selfinstruct.methods.alpaca.method import Alpaca

METHOD = Alpaca
__all__ = ["METHOD", "Alpaca"]
