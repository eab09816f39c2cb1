"""Templatize (FLAN, T0): instruction data from labelled datasets by templates."""

from selfinstruct.methods.templatize.method import Templatize

METHOD = Templatize
__all__ = ["METHOD", "Templatize"]
