"""Tool-use data from API documentation (Gorilla, Patil et al. 2023; ToolBench, Qin et al. 2023)."""

from selfinstruct.methods.tools.command import tools
from selfinstruct.methods.tools.method import Tools

METHOD = Tools
COMMAND = tools
__all__ = ["COMMAND", "METHOD", "Tools"]
