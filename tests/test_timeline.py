"""Dated answers: figures that changed between articles shown newest first, and questions that name a day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from index.articles import make_article
from index.indexer import add_articles
from index.store.faiss_sqlite import FaissSqliteStore
from index.text import normalize_answer
from qa import answer
from qa.question_time import asks_latest, named_days
from qa.timeline import lag
from tests.dated_pairs import PAIRS
from ui.app import render_answer
from ui.cli import main


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index holding both articles of every pair."""
    directory = tmp_path_factory.mktemp("pairs")
    corpus = FaissSqliteStore(directory)
    add_articles(corpus, [make_article(title, text, f"pair{n}/{day}.txt", day)
                for n, pair in enumerate(PAIRS) for title, day, text in (pair.older, pair.newer)])
    corpus.close()
    return directory


def same(answer_text: str, expected: str) -> bool:
    """The answer is the expected figure, with or without its qualifier ("at least 10" for "10")."""
    got, want = normalize_answer(answer_text), normalize_answer(expected)
    return got == want or want.endswith(" " + got)


def test_days_a_question_names() -> None:
    tuesday = date(2015, 11, 17)
    assert named_days("How many raids on Monday?", tuesday) == [date(2015, 11, 16)]
    assert named_days("How many raids on Tuesday?", tuesday) == [tuesday]
    assert named_days("What happened on 16 November?", tuesday) == [date(2015, 11, 16)]
    assert named_days("What happened on 18 November?", tuesday) == [date(2014, 11, 18)]  # the latest one asked about
    assert named_days("What happened on Nov. 16, 2015?", date(2026, 1, 1)) == [date(2015, 11, 16)]
    assert named_days("What happened on 2015-11-16?", tuesday) == [date(2015, 11, 16)]
    assert named_days("How many raids so far?", tuesday) == []
    assert asks_latest("How many raids so far?") and asks_latest("How many raids?")
    assert not asks_latest("How many raids on Monday?") and not asks_latest("How many raids yesterday?")
    monday = [date(2015, 11, 16)]
    assert [lag(day, monday) for day in (date(2015, 11, 16), date(2015, 11, 17), date(2015, 11, 23), date(2015, 11, 15))] == [
        0, 1, None, None]


@pytest.mark.slow
@pytest.mark.parametrize("pair", PAIRS, ids=[p.newer[0] for p in PAIRS])
def test_a_changed_figure_is_shown_with_its_dates_newest_first(pairs_dir: Path, pair) -> None:  # noqa: ANN001
    result = answer(pair.latest_question, index_dir=pairs_dir, as_of=date.fromisoformat(pair.newer[1]))
    assert same(result.text, pair.newer_figure) and result.article.date == pair.newer[1]
    assert [(same(t.text, f), t.article.date) for t, f in zip(result.timeline, [pair.newer_figure, pair.older_figure])] == [
        (True, pair.newer[1]), (True, pair.older[1])]
    assert result.timeline[0].text == result.text  # the answer is the newest figure


@pytest.mark.slow
@pytest.mark.parametrize("pair", PAIRS, ids=[p.older[0] for p in PAIRS])
def test_a_question_naming_a_day_is_answered_from_that_day(pairs_dir: Path, pair) -> None:  # noqa: ANN001
    result = answer(pair.named_day_question, index_dir=pairs_dir, as_of=date.fromisoformat(pair.newer[1]))
    assert same(result.text, pair.older_figure) and result.article.date == pair.older[1]
    assert result.timeline == ()


@pytest.mark.slow
def test_the_chat_and_ask_json_show_both_figures(pairs_dir: Path, capsys: pytest.CaptureFixture) -> None:
    pair = PAIRS[0]
    result = answer(pair.latest_question, index_dir=pairs_dir, as_of=date(2015, 11, 18))
    reply = render_answer(result)
    assert "<strong>296</strong> (17 Nov 2015, newest) · <strong>168</strong> (16 Nov 2015)" in reply
    assert main(["ask", "--json", pair.latest_question, "--index", str(pairs_dir)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"] == "296"
    assert [(t["answer"], t["article"]["date"]) for t in data["timeline"]] == [("296", "2015-11-17"), ("168", "2015-11-16")]


@pytest.mark.slow
def test_articles_after_the_day_asked_do_not_count(pairs_dir: Path) -> None:
    pair = PAIRS[0]
    result = answer(pair.latest_question, index_dir=pairs_dir, as_of=date.fromisoformat(pair.older[1]))
    assert result.text == pair.older_figure and result.timeline == ()


@pytest.mark.slow
def test_one_dated_article_has_no_timeline(seeded_dir: Path) -> None:
    result = answer("How many raids?", index_dir=seeded_dir)
    assert result.text == "128" and result.timeline == ()
