"""Templatize (FLAN, T0): instruction data from labelled datasets by templates."""

from selfinstruct.methods.templatize.command import templatize
from selfinstruct.methods.templatize.method import Templatize

METHOD = Templatize
COMMAND = templatize
__all__ = ["COMMAND", "METHOD", "Templatize"]
