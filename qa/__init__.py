"""Question answering over indexed news articles: ``from qa import answer``, or a ``Pipeline`` built once.

Models load on the first question (or ``Pipeline.warm_up()``), not at import.
"""

from qa.answer import Answer
from qa.pipeline import Pipeline, answer

__all__ = ["Answer", "Pipeline", "answer"]
