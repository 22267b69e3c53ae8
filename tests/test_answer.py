import math
import time
from pathlib import Path

import pytest

from index.articles import read_file
from index.corpus import Corpus
from qa.answer import EMPTY_INDEX, MAX_QUESTION_CHARS, READER, QuestionError, Span, answer, merge_spans, pick_spans, score_spans
from qa.reader import WindowSpan
from qa.retriever import Passage


def test_how_many_raids(seeded_dir: Path) -> None:
    result = answer("How many raids?", index_dir=seeded_dir)
    assert result.text == "128"
    assert 0 < result.score <= 1
    text = Corpus(seeded_dir).article_text(result.article.id)
    assert text[result.start : result.end] == "128"
    assert result.window[result.context_start : result.context_end] == "128"
    assert "128" in result.sentence and result.sentence in text and result.sentence in result.window
    assert result.article.date == "2015-11-17"
    assert result.article.title.startswith("France has mobilised")


def test_new_article_is_answerable_at_once(index_dir: Path, quake_file: Path) -> None:
    Corpus(index_dir).add(read_file(quake_file))
    result = answer("How many countries sent rescue teams?", index_dir=index_dir)
    assert result.text == "24"
    assert result.article.title == "Earthquake strikes southern Turkey"


def test_blank_question_is_refused(seeded_dir: Path) -> None:
    for blank in ("", "   \n\t"):
        with pytest.raises(QuestionError):
            answer(blank, index_dir=seeded_dir)


def test_huge_question_is_truncated_in_bounded_time(seeded_dir: Path) -> None:
    answer("warm up", index_dir=seeded_dir)
    started = time.perf_counter()
    result = answer("How many raids? " + "x" * 100_000, index_dir=seeded_dir)
    assert time.perf_counter() - started < 10
    assert len(result.question) == MAX_QUESTION_CHARS
    assert "truncated" in result.message


def test_empty_index_says_so(tmp_path: Path) -> None:
    result = answer("How many raids?", index_dir=tmp_path / "empty")
    assert not result.found and result.message == EMPTY_INDEX


def _span(article: str, passage_start: int, text: str, at: int, score: float) -> Span:
    passage = Passage(article, 0, passage_start, passage_start + len(text), passage_start, passage_start + len(text),
                      ((passage_start, passage_start + len(text)),), 1.0, text)
    return Span(passage, at, at + 3, score)


def test_merging_counts_a_place_once_and_repeated_answers_as_evidence() -> None:
    text = "xx 128 yy 160 zz"
    spans = [
        _span("a", 0, text, 10, 0.48),   # "160"
        _span("a", 0, text, 3, 0.44),    # "128" ...
        _span("a", 0, text, 3, 0.40),    # ... the same place again, from an overlapping window
        _span("b", 100, text, 3, 0.42),  # "128" in another article
        _span("a", 0, text, 4, 0.30),    # "28 " overlaps the better "128" with other bounds
    ]
    merged = merge_spans(spans)
    assert [m.text for m in merged] == ["128", "160"]
    assert merged[0].score == pytest.approx(1 - (1 - 0.44) * (1 - 0.42))
    assert merged[0].passage.article_id == "a" and merged[1].score == 0.48


def test_rank_penalty_weighs_retrieval_rank_against_reader_margin() -> None:
    text = "xx 128 yy 160 zz"
    passages = [_span(a, 0, text, 0, 1.0).passage for a in ("first", "second", "third")]
    found = [WindowSpan(3, 6, 2.0), WindowSpan(10, 13, 2.5), None]
    unpenalised = score_spans(passages, found, READER, rank_penalty=0.0)
    assert [s.passage.article_id for s in unpenalised] == ["second", "first"]  # no span in the third
    assert unpenalised[0].score == pytest.approx(READER.probability(2.5))
    penalised = score_spans(passages, found, READER, rank_penalty=1.0)  # 2.5 - ln 2 < 2.0
    assert [s.passage.article_id for s in penalised] == ["first", "second"]
    assert penalised[0].score == pytest.approx(READER.probability(2.0))


def test_best_answer_only_stops_reading_at_a_confident_first_window(monkeypatch: pytest.MonkeyPatch) -> None:
    passages = [_span(a, 0, f"{a} 128", 0, 1.0).passage for a in ("one", "two", "six")]
    stop = READER.stop_probability
    calibration = READER.config["calibration"]
    at_stop = (math.log(stop / (1 - stop)) - calibration["intercept"]) / calibration["slope"]  # margin of probability `stop`
    margins = {"two 128": at_stop + 1.0, "six 128": at_stop + 2.0}
    reads: list[int] = []

    def read(question: str, windows: list[str], sentence_starts: list[list[int]]) -> list[WindowSpan]:
        reads.append(len(windows))
        return [WindowSpan(4, 7, margins[w]) for w in windows]

    monkeypatch.setattr(READER, "read", read)
    for first, expected_reads, expected_articles in (
        (at_stop + 0.1, [1], {"one"}),  # confident: windows two and six stay unread
        (at_stop - 0.1, [1, 2], {"one", "two", "six"}),
    ):
        margins["one 128"] = first
        reads.clear()
        spans = pick_spans("q", passages, stop_early=True)
        assert reads == expected_reads and {s.passage.article_id for s in spans} == expected_articles
    reads.clear()
    pick_spans("q", passages)  # alternatives need every window
    assert reads == [3]
