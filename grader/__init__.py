"""grader: semantic, LLM-free grading of free-text answers."""

__version__ = "0.1.0"
