from index.sentences import split_sentences
from tests.sentence_cases import CASES

import pytest


@pytest.mark.parametrize("text,expected", CASES, ids=[c[1][0][:30] for c in CASES])
def test_tricky_news_sentences(text: str, expected: list[str]) -> None:
    assert [text[s.start : s.end] for s in split_sentences(text)] == expected


def test_offsets_point_into_the_text() -> None:
    text = "  First one.   Second one!\n\n\nThird?  "
    spans = split_sentences(text)
    assert [text[s.start : s.end] for s in spans] == ["First one.", "Second one!", "Third?"]
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))


def test_punctuation_only_pieces_are_not_sentences() -> None:
    assert split_sentences("...\n\n!!!") == []
    assert split_sentences("") == []
