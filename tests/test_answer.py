import math
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from index.articles import read_file
from index.indexer import add_articles
from index.store.faiss_sqlite import FaissSqliteStore
from qa import answer
from qa.answer import EMPTY_INDEX, MAX_QUESTION_CHARS, UNSURE, QuestionError, pick_spans
from qa.pipeline import Pipeline
from qa.ranking import (
    Reading,
    asked_sentence,
    coverage,
    group_answers,
    latest,
    names_held,
    newest_date,
    rank_answers,
    reported,
    type_fit,
)
from qa.reader import WindowSpan
from qa.retriever import Passage

PORT_ELLIS = """# Harbour bridge reopens in Port Ellis

PORT ELLIS, 12 June 2026. The harbour bridge reopened to traffic on Saturday after two years of repairs.

Mayor Ana Reyes cut the ribbon in front of a crowd of several hundred people. She said the repairs cost 48 million pounds and were finished on time.

Ferries that had carried commuters across the harbour will stop running next month.
"""


@pytest.mark.slow
def test_how_many_raids(seeded_dir: Path) -> None:
    result = answer("How many raids?", index_dir=seeded_dir)
    assert result.text == "128"
    assert 0 < result.score <= 1
    text = FaissSqliteStore(seeded_dir).article_text(result.article.id)
    assert text[result.start : result.end] == "128"
    assert result.window[result.context_start : result.context_end] == "128"
    assert "128" in result.sentence and result.sentence in text and result.sentence in result.window
    assert result.article.date == "2015-11-17"
    assert result.article.title.startswith("France has mobilised")


@pytest.mark.slow
def test_new_article_is_answerable_at_once(index_dir: Path, quake_file: Path) -> None:
    add_articles(FaissSqliteStore(index_dir), read_file(quake_file))
    result = answer("How many countries sent rescue teams?", index_dir=index_dir)
    assert result.text == "24"
    assert result.article.title == "Earthquake strikes southern Turkey"


def test_blank_question_is_refused(fake_pipeline: Pipeline) -> None:
    for blank in ("", "   \n\t"):
        with pytest.raises(QuestionError):
            fake_pipeline.answer(blank)


@pytest.mark.slow
def test_huge_question_is_truncated_in_bounded_time(seeded_dir: Path) -> None:
    answer("warm up", index_dir=seeded_dir)
    started = time.perf_counter()
    result = answer("How many raids? " + "x" * 100_000, index_dir=seeded_dir)
    assert time.perf_counter() - started < 10
    assert len(result.question) == MAX_QUESTION_CHARS
    assert "truncated" in result.message


@pytest.mark.slow
def test_empty_index_says_so(tmp_path: Path) -> None:
    result = answer("How many raids?", index_dir=tmp_path / "empty")
    assert not result.found and result.message == EMPTY_INDEX


@pytest.mark.slow
def test_port_ellis_is_answered_from_the_title_and_the_window(index_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "port-ellis.md"
    path.write_text(PORT_ELLIS)
    add_articles(FaissSqliteStore(index_dir), read_file(path))
    mayor = answer("Who is the mayor of Port Ellis?", index_dir=index_dir)
    assert mayor.text == "Ana Reyes" and mayor.article.title == "Harbour bridge reopens in Port Ellis"
    assert answer("How much did the bridge repairs cost?", index_dir=index_dir).text == "48 million pounds"


@pytest.mark.slow
def test_strictness_setting_turns_an_answer_into_an_unsure_candidate(seeded_dir: Path) -> None:
    sure = answer("How many raids?", index_dir=seeded_dir)
    assert sure.text == "128" and sure.candidate is None
    strict = answer("How many raids?", index_dir=seeded_dir, min_confidence=1.0)
    assert strict.text == "" and not strict.found and strict.message == UNSURE
    assert strict.candidate is not None and strict.candidate.text == "128" and strict.candidate.score == sure.score
    assert "128" in strict.candidate.sentence and strict.candidate.article.id == sure.article.id
    data = strict.to_dict()
    assert data["answer"] == "" and data["candidate"]["answer"] == "128" and "candidate" not in data["candidate"]
    assert answer("How many raids?", index_dir=seeded_dir, min_confidence=0.0).text == "128"
    with pytest.raises(ValueError, match="between 0 and 1"):
        answer("How many raids?", index_dir=seeded_dir, min_confidence=1.5)


def _reading(article: str, text: str, at: int, margin: float, rank: int = 1) -> Reading:
    passage = Passage(article, 0, 0, len(text), 0, len(text), ((0, len(text)),), 1.0, text)
    return Reading(passage, at, at + 3, margin, rank)


class _Calibrated:
    """A reader stand-in whose probability is the logistic of margin - log_rank + log_places."""

    stop_probability = 0.5

    def __init__(self) -> None:
        self.reads: list[int] = []

    @staticmethod
    def probability(features: dict) -> float:
        return 1 / (1 + math.exp(-(features["margin"] - features["log_rank"] + features["log_places"])))


def test_grouping_counts_a_place_once_and_one_answer_in_several_places_once() -> None:
    text = "xx 128 yy 160 zz"
    readings = [
        _reading("a", text, 10, 0.48),  # "160"
        _reading("a", text, 3, 0.44),   # "128" ...
        _reading("a", text, 3, 0.40),   # ... the same place again, from an overlapping window
        _reading("b", text, 3, 0.42),   # "128" in another article
        _reading("a", text, 4, 0.30),   # "28 " overlaps the better "128" with other bounds
    ]
    groups = group_answers(readings)
    assert [[(r.passage.article_id, r.text, r.margin) for r in g] for g in groups] == [
        [("a", "160", 0.48)], [("a", "128", 0.44), ("b", "128", 0.42)]]


def test_answers_are_scored_from_their_features() -> None:
    found = [_reading("first", "xx 128 yy 555 zz", 3, 2.0, rank=1), _reading("second", "xx 777 yy 160 zz", 10, 2.5, rank=2),
             _reading("third", "xx 128 yy 555 zz", 3, 0.0, rank=3)]
    ranked = rank_answers("q", found, _Calibrated())
    assert [(s.text, s.places) for s in ranked] == [("128", 2), ("160", 1)]
    assert ranked[0].score == pytest.approx(1 / (1 + math.exp(-(2.0 + math.log(2)))))
    assert ranked[1].score == pytest.approx(1 / (1 + math.exp(-(2.5 - math.log(2)))))
    # An answer's rank is the best of the windows holding its text, whatever the reader picked there.
    found[0] = _reading("first", "xx 128 yy 160 zz", 3, 2.0, rank=1)
    scores = {s.text: s.score for s in rank_answers("q", found, _Calibrated())}
    assert scores["160"] == pytest.approx(1 / (1 + math.exp(-2.5)))


def test_the_kind_of_answer_must_fit_the_question() -> None:
    assert type_fit("How many raids were there?", "128") == 1.0
    assert type_fit("How many raids were there?", "the police") == -1.0
    assert type_fit("When did the attacks happen?", "13 November") == 1.0
    assert type_fit("When did the attacks happen?", "Paris") == -1.0
    assert type_fit("Who is the mayor of Port Ellis?", "Ana Reyes") == 1.0
    assert type_fit("Who is the mayor of Port Ellis?", "the bridge") == -1.0
    assert type_fit("Which app did they use?", "Signal") == 0.0


def test_coverage_and_recency_of_a_passage() -> None:
    text = "Mayor Ana Reyes cut the ribbon."
    passage = Passage("a", 0, 0, len(text), 0, len(text), ((0, len(text)),), 1.0, text,
                      "Harbour bridge reopens in Port Ellis", "2026-06-12")
    assert coverage("Who is the mayor of Port Ellis?", passage) == 1.0  # "Port Ellis" is only in the title
    assert coverage("How much did the bridge repairs cost?", passage) == pytest.approx(1 / 3)
    assert coverage("Who?", passage) == 1.0
    older, later = replace(passage, date="2026-05-01"), replace(passage, date="2026-07-01")
    today = date(2026, 6, 20)
    newest = newest_date([passage, older, later, replace(passage, date=None)], today)
    assert newest == date(2026, 6, 12)  # the article dated after the question does not count
    assert latest(passage, newest, today) == 1.0 and latest(replace(passage, date="2026-06-06"), newest, today) == 1.0
    assert latest(older, newest, today) == 0.0 and latest(later, newest, today) == 0.0
    assert latest(replace(passage, date=None), newest, today) == 1.0  # nothing to tell it by
    assert latest(older, newest_date([older], today), today) == 1.0  # the only article is the latest, however old

    assert reported(passage, (date(2026, 6, 8), date(2026, 6, 14))) == 1.0
    assert reported(passage, (date(2026, 6, 13), date(2026, 6, 19))) == 0.0
    assert reported(passage, None) == 0.0 and reported(replace(passage, date=None), (date(2026, 6, 8), today)) == 0.0
    assert names_held("Who cut the ribbon in Port Ellis?", passage) == 1.0  # the name is in the title
    assert names_held("Who cut the ribbon in Dunmore in 2026?", passage) == 0.5  # the date holds 2026, not Dunmore
    assert names_held("Who cut the ribbon?", passage) == 1.0
    # a quiz's setup sentence names other things; what it asks is the last sentence
    assert names_held("Dunmore opened a bridge last year. Who cut the ribbon in Port Ellis?", passage) == 1.0
    assert names_held("Port Ellis opened a bridge. Who cut the ribbon in Dunmore?", passage) == 0.0


def test_the_sentence_that_asks_is_found_by_the_sentence_splitter() -> None:
    assert asked_sentence("The U.S. President met which leader?") == "The U.S. President met which leader?"
    assert asked_sentence("A film is set in the “Kingdom of Wakanda.” Which superhero lives there?") == (
        "Which superhero lives there?")
    assert asked_sentence("How many districts are there? (These are the House seats.)") == "How many districts are there?"
    assert asked_sentence("Which US city dyes its river green for St. Patrick’s Day?") == (
        "Which US city dyes its river green for St. Patrick’s Day?")
    assert asked_sentence("How many raids") == "How many raids"


def test_best_answer_only_stops_reading_at_a_confident_first_window() -> None:
    windows = ("one 128", "two 128", "six 128")
    passages = [Passage(w[:3], 0, 0, len(w), 0, len(w), ((0, len(w)),), 1.0, w) for w in windows]
    margins = {"two 128": 1.0, "six 128": 2.0}
    reader = _Calibrated()

    def read(question: str, texts: list[str], sentence_starts: list, headers: list) -> list[WindowSpan]:
        reader.reads.append(len(texts))
        return [WindowSpan(4, 7, margins[w]) for w in texts]

    reader.read = read
    for first, expected_reads, places in ((0.1, [1], 1), (-0.1, [1, 2], 3)):  # probability 0.5 is margin 0
        margins["one 128"] = first
        reader.reads.clear()
        [span] = pick_spans("q", passages, stop_early=True, reader=reader)
        assert reader.reads == expected_reads and span.places == places
    reader.reads.clear()
    pick_spans("q", passages, reader=reader)  # alternatives need every window
    assert reader.reads == [3]


def test_windows_after_the_first_five_are_read_only_when_unsure() -> None:
    texts = [f"w{n} 128" for n in range(8)]
    passages = [Passage(w[:2], 0, 0, len(w), 0, len(w), ((0, len(w)),), 1.0, w) for w in texts]
    reader = _Calibrated()
    margin = {"first": 0.0}

    def read(question: str, windows: list[str], sentence_starts: list, headers: list) -> list[WindowSpan]:
        reader.reads.append(len(windows))
        return [WindowSpan(3, 6, margin["first"] if w == texts[0] else -9.0) for w in windows]

    reader.read = read
    for first, unsure_below, expected_reads in ((3.0, 0.9, [5]), (-1.0, 0.9, [5, 3]), (-1.0, None, [8])):
        margin["first"] = first
        reader.reads.clear()
        pick_spans("q", passages, reader=reader, unsure_below=unsure_below)
        assert reader.reads == expected_reads, (first, unsure_below)
    reader.reads.clear()
    pick_spans("q", passages, reader=reader, stop_early=True, unsure_below=0.9)  # unsure at the first window too
    assert reader.reads == [1, 4, 3]
