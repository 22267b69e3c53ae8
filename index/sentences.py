"""Sentence splitting with character offsets.

Blingfire was chosen over pysbd and syntok by ``bench/sentence_splitters.py``
on the fixture in ``tests/sentence_cases.py``: pysbd and blingfire both got
14/16 cases (syntok 13/16), all three split datelines such as "LONDON." off
their sentence, and blingfire is about 12x faster than pysbd. The dateline
rule below brings blingfire to 16/16.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import blingfire

from index.text import is_dateline

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*$)", re.S)
_WORDY = re.compile(r"\w")
# Longer "sentences" (a table, a run-on paste) are cut at white space into pieces of at most this
# many characters, so one giant sentence cannot make every answer that retrieves it slow and huge.
MAX_SENTENCE_CHARS = 1500
_LAST_SPACE = re.compile(r".*\s", re.S)


class Sentence(NamedTuple):
    """A sentence as character offsets ``[start, end)`` into its text."""

    start: int
    end: int


def paragraphs(text: str) -> list[Sentence]:
    """Return the blank-line separated paragraphs of ``text`` as offset pairs."""
    return [Sentence(m.start(), m.end()) for m in _PARAGRAPH.finditer(text)]


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences, never across a paragraph break.

    Args:
        text: Article text; blank lines separate paragraphs.

    Returns:
        Sentences in order, as offsets whose slices are stripped of white space;
        pieces without a letter or digit are dropped.
    """
    sentences: list[Sentence] = []
    for para in paragraphs(text):
        chunk = text[para.start : para.end]
        _, offsets = blingfire.text_to_sentences_and_offsets(chunk)
        pending: int | None = None
        for start, end in offsets:
            piece = chunk[start:end].strip()
            if not _WORDY.search(piece):  # stray punctuation is no sentence
                continue
            start += chunk[start:end].index(piece[0])
            end = start + len(piece)
            if pending is not None:
                start, pending = pending, None
            elif is_dateline(piece):
                pending = start
                continue
            sentences += _capped(text, Sentence(para.start + start, para.start + end))
        if pending is not None:
            sentences += _capped(text, Sentence(para.start + pending, para.end))
    return sentences


def _capped(text: str, sentence: Sentence) -> list[Sentence]:
    """``sentence`` cut at white space into pieces of at most ``MAX_SENTENCE_CHARS``."""
    pieces = []
    start, end = sentence
    while end - start > MAX_SENTENCE_CHARS:
        space = _LAST_SPACE.match(text, start, start + MAX_SENTENCE_CHARS)
        cut = space.end() if space and space.end() > start + MAX_SENTENCE_CHARS // 2 else start + MAX_SENTENCE_CHARS
        piece = text[start:cut].rstrip()
        pieces.append(Sentence(start, start + len(piece)))
        start = cut + len(text[cut:end]) - len(text[cut:end].lstrip())
    pieces.append(Sentence(start, end))
    return pieces


def sentence_at(sentences: Sequence[tuple[int, int]], offset: int) -> int:
    """The position of the sentence holding ``offset``: the first that ends after it, else the last."""
    return next((i for i, (_, end) in enumerate(sentences) if offset < end), len(sentences) - 1)


def windows(sentences: list[Sentence], radius: int = 1) -> list[Sentence]:
    """The window around each sentence: it and up to ``radius`` neighbours each side."""
    return [
        Sentence(sentences[max(0, i - radius)].start, sentences[min(len(sentences) - 1, i + radius)].end)
        for i in range(len(sentences))
    ]
