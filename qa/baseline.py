"""A rule-based span picker: the starting point the trained reader is measured against.

It finds, in the best windows, a span of the kind the question asks for (a
number for "how many", a year or date for "when", a capitalised name for
"who"/"where") in the sentence that shares the most words with the question.
"""

from __future__ import annotations

import re

from index.corpus import fts_query
from qa.retriever import Passage

_NUMBER = re.compile(r"\b\d[\d,.]*\b(?:\s*(?:%|per ?cent|million|billion|thousand))?")
_YEAR_OR_DATE = re.compile(
    r"\b(?:(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"(?:\s+\d{1,2})?,?\s+)?\d{3,4}\b"
)
_NAME = re.compile(r"\b[A-Z][\w'-]+(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'-]+)*")
_KINDS = (
    (re.compile(r"\bhow (many|much)\b|\bwhat (number|percentage)\b", re.I), _NUMBER),
    (re.compile(r"\bwhen\b|\bwhat year\b|\bwhich year\b", re.I), _YEAR_OR_DATE),
    (re.compile(r"\bwho\b|\bwhere\b|\bwhich\b", re.I), _NAME),
)


def _terms(text: str) -> set[str]:
    return {t.strip('"') for t in fts_query(text).split(" OR ") if t}


def pick(question: str, passages: list[Passage]) -> tuple[Passage, int, int, float] | None:
    """Pick an answer span from the passages.

    Returns:
        (passage, start, end, score) with offsets into the passage text, or
        ``None`` when no span of the asked-for kind is found.
    """
    pattern = next((p for q, p in _KINDS if q.search(question)), None)
    if pattern is None or not passages:
        return None
    q_terms = _terms(question)
    best = None
    for rank, passage in enumerate(passages):
        for s_start, s_end in passage.sentences:
            sentence = passage.text[s_start - passage.start : s_end - passage.start]
            overlap = len(q_terms & _terms(sentence)) / max(1, len(q_terms))
            lowered = sentence.lower()
            positions = [m.start() for t in q_terms for m in re.finditer(rf"\b{re.escape(t)}", lowered)]
            for match in pattern.finditer(sentence):
                if match.group().lower() in question.lower():
                    continue
                # Prefer spans in sentences sharing the question's words, near those words,
                # in higher-ranked windows.
                distance = min((abs(match.start() - p) for p in positions), default=len(sentence))
                score = overlap / (1 + 0.2 * rank) - 1e-4 * distance
                if best is None or score > best[3]:
                    offset = s_start - passage.start
                    best = (passage, offset + match.start(), offset + match.end(), score)
    if best is None or best[3] <= 0:
        return None
    return best
