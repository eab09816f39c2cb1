"""selfinstruct: Self-Instruct synthetic instruction data, faithful to the paper and fast."""

__version__ = "0.2.0"
