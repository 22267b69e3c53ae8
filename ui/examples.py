"""Example questions for the chat, made from the indexed articles.

A sentence with a count in it ("... 128 more raids on suspected militants ...")
gives a "How many raids?" question. Candidates are kept only when the answering
pipeline finds an answer to them, so every example shown is one the tool answers.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Callable

from index.text import FUNCTION_WORDS

if TYPE_CHECKING:
    from index.store.base import Store

log = logging.getLogger(__name__)

# A count, up to two modifiers, then a plural noun: "128 more raids", "28 member states".
_COUNT = re.compile(r"(?<![\w.,-])(\d{1,3}(?:,\d{3})+|\d+)((?:\s+[a-z][a-z-]+){1,3})")
_IRREGULAR = frozenset("people police personnel children men women troops staff cattle".split())
_SKIP = FUNCTION_WORDS | frozenset("per percent than these those".split())  # "128 of the raids" counts no noun
_MODIFIERS_DROPPED = frozenset("more other new further extra additional hundred thousand million billion".split())
_NOT_COUNTED = frozenset("years months weeks days hours minutes seconds times".split())
ARTICLES_SCANNED = 30
CANDIDATES = 10
LIMIT = 4


def _plural(word: str) -> bool:
    return word in _IRREGULAR or (word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3)


def candidates(text: str) -> list[str]:
    """ "How many ...?" questions about the counts in a text, in order of appearance."""
    found: dict[str, str] = {}
    for match in _COUNT.finditer(text):
        number, following = match.group(1), match.group(2).split()
        if len(number) == 4 and number.startswith(("19", "20")):
            continue  # a year, not a count
        at = next((i for i, w in enumerate(following) if _plural(w)), None)
        if at is None:
            continue
        modifiers, noun = following[:at], following[at]
        if noun in _NOT_COUNTED or any(w in _SKIP for w in modifiers):
            continue
        words = [w for w in modifiers if w not in _MODIFIERS_DROPPED] + [noun]
        found.setdefault(noun, f"How many {' '.join(words)}?")
    return list(found.values())


class ExampleQuestions:
    """Example questions for one corpus, recomputed only when the index changes."""

    def __init__(self, corpus: "Store", ask: Callable[[str], bool], limit: int = LIMIT) -> None:
        """
        Args:
            corpus: The index the questions are about.
            ask: Whether the tool answers a question (the check that keeps a candidate).
            limit: How many questions to offer.
        """
        self.corpus = corpus
        self.ask = ask
        self.limit = limit
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._questions: list[str] = []

    def get(self) -> list[str]:
        """The current example questions (newest articles first)."""
        with self._lock:
            self.corpus.refresh()
            if self._generation != self.corpus.generation:
                self._questions = self._compute()
                self._generation = self.corpus.generation
            return list(self._questions)

    def _compute(self) -> list[str]:
        seen: set[str] = set()
        pool: list[str] = []
        articles = self.corpus.list_articles()[-ARTICLES_SCANNED:]
        per_article = max(2, -(-self.limit // max(1, len(articles))))
        for info in reversed(articles):
            for question in candidates(self.corpus.article_text(info.id))[:per_article]:
                if question not in seen:
                    seen.add(question)
                    pool.append(question)
        kept: list[str] = []
        for question in pool[:CANDIDATES]:
            try:
                if self.ask(question):
                    kept.append(question)
            except Exception:  # an example that fails is simply not offered
                log.exception("example question %r failed", question)
            if len(kept) == self.limit:
                break
        return kept
