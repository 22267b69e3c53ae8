"""Question answering over indexed news articles: ``from qa import answer``.

Models load on the first question, not at import.
"""

from qa.answer import Answer, answer

__all__ = ["Answer", "answer"]
