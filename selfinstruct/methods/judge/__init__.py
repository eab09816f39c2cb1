"""The Self-Instruct paper's quality study (section 4): a judge model's verdicts per task."""

from selfinstruct.methods.judge.command import judge
from selfinstruct.methods.judge.method import Judge

METHOD = Judge
COMMAND = judge
__all__ = ["COMMAND", "METHOD", "Judge"]
