"""Near-duplicate articles: found on add, linked to the first copy, listed, and folded into one answer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from index.articles import make_article, read_file
from index.duplicates import find_copy, record, signature, similarity
from index.indexer import add_articles
from index.store.faiss_sqlite import FaissSqliteStore
from qa import answer
from qa.pipeline import Pipeline, default_reader
from qa.retriever import retrieve
from tests.conftest import SEED
from ui.cli import main


def wire_copy(text: str) -> str:
    """The seed article as another outlet runs it: a byline, no dateline, one paragraph edited, a copyright line."""
    text = text.replace("LONDON. KAZINFORM ", "By Staff Reporters\n\n", 1)
    text = text.replace("He is believed to have fled across the border to his native Belgium.",
                        "Investigators believe he fled to Belgium, where he was born.")
    return text + "\n\nCopyright 2015 The Wire Agency. All rights reserved."


@pytest.fixture
def seed_text() -> str:
    return read_file(SEED)[0].text


def test_a_wire_copy_is_similar_and_another_story_is_not(seed_text: str, quake_file: Path) -> None:
    seed, copy = signature(seed_text), signature(wire_copy(seed_text))
    other = signature(read_file(quake_file)[0].text)
    assert similarity(seed, copy) > 0.7
    assert similarity(seed, other) < 0.1
    db = sqlite3.connect(":memory:")
    db.executescript("CREATE TABLE articles(id TEXT PRIMARY KEY, duplicate_of TEXT);"
                     "CREATE TABLE signatures(article_id TEXT PRIMARY KEY, minhash BLOB NOT NULL);"
                     "CREATE TABLE bands(key INTEGER NOT NULL, article_id TEXT NOT NULL);")
    db.execute("INSERT INTO articles VALUES ('seed', NULL)")
    record(db, "seed", seed)
    assert find_copy(db, copy) == "seed"
    assert find_copy(db, other) is None


@pytest.mark.slow
def test_a_copy_is_added_linked_and_reported(index_dir: Path, tmp_path: Path, seed_text: str,
                                             capsys: pytest.CaptureFixture) -> None:
    copy_file = tmp_path / "wire.txt"
    copy_file.write_text("# Paris raids: France mobilises 115,000\n\n" + wire_copy(seed_text))
    assert main(["index", "add", str(copy_file), "--index", str(index_dir)]) == 0
    seed_id = read_file(SEED)[0].id
    assert f"added: {copy_file}: “Paris raids: France mobilises 115,000” (near-duplicate of {seed_id} “France has" in capsys.readouterr().out
    corpus = FaissSqliteStore(index_dir)
    first, copy = corpus.list_articles()
    assert (first.id, first.duplicate_of, copy.duplicate_of) == (seed_id, None, seed_id)
    assert copy.source == str(copy_file)  # listed with its own source
    assert corpus.stats()["near_duplicates"] == 1
    main(["index", "list", "--index", str(index_dir)])
    assert f"(near-duplicate of {seed_id})" in capsys.readouterr().out


@pytest.mark.slow
def test_copies_do_not_crowd_answers_and_an_answer_lists_every_copy(index_dir: Path, seed_text: str, quake_file: Path) -> None:
    corpus = FaissSqliteStore(index_dir)
    copies = [make_article(f"Copy {n}", f"{outlet}\n\n" + wire_copy(seed_text), f"outlet{n}.txt", "2015-11-17")
              for n, outlet in enumerate(["By A. Writer", "From our correspondent", "Agency report"])]
    add_articles(corpus, [*copies, *read_file(quake_file)])
    passages = retrieve(corpus, "How many raids?", k=5)
    centres = [" ".join(p.slice(p.sentence_start, p.sentence_end).split()) for p in passages]
    assert len(centres) == len(set(centres))  # no sentence twice from copies of one story
    result = answer("How many raids?", corpus=corpus, top_k=3)
    assert result.text == "128"
    assert [s.source for s in result.sources[1:]] != [] and result.sources[0] == result.article
    assert sorted(s.source for s in result.sources) == sorted([read_file(SEED)[0].source, "outlet0.txt", "outlet1.txt", "outlet2.txt"])
    assert all(alt.text != "128" for alt in result.alternatives)


@pytest.mark.slow
def test_removing_the_first_copy_promotes_the_next(index_dir: Path, seed_text: str) -> None:
    corpus = FaissSqliteStore(index_dir)
    seed_id = read_file(SEED)[0].id
    a, b = (make_article(f"Copy {n}", f"Outlet {n}\n\n" + wire_copy(seed_text), f"c{n}.txt") for n in range(2))
    add_articles(corpus, [a, b])
    assert {i.id: i.duplicate_of for i in corpus.list_articles()} == {seed_id: None, a.id: seed_id, b.id: seed_id}
    corpus.remove(seed_id)
    assert {i.id: i.duplicate_of for i in corpus.list_articles()} == {a.id: None, b.id: a.id}
    assert corpus.check() == []
    corpus.rebuild()
    assert {i.id: i.duplicate_of for i in corpus.list_articles()} == {a.id: None, b.id: a.id}


@pytest.mark.slow
def test_an_index_made_before_duplicate_detection_is_upgraded(index_dir: Path, seed_text: str) -> None:
    db = sqlite3.connect(index_dir / "index.sqlite")
    db.executescript("DROP TABLE bands; DROP TABLE signatures; DROP INDEX articles_by_first_copy;"
                     "ALTER TABLE articles DROP COLUMN duplicate_of;")
    db.close()
    assert answer("How many raids?", corpus=FaissSqliteStore(index_dir, read_only=True)).text == "128"  # searched as it is
    corpus = FaissSqliteStore(index_dir)
    copy = make_article("Copy", wire_copy(seed_text), "copy.txt")
    add_articles(corpus, [copy])
    assert corpus.first_copies([copy.id]) == {copy.id: read_file(SEED)[0].id}
    assert corpus.check() == []


@pytest.mark.slow
def test_the_chat_says_when_a_pasted_article_is_a_copy(index_dir: Path, seed_text: str) -> None:
    from ui.app import ChatApp, render_answer

    corpus = FaissSqliteStore(index_dir)
    chat = ChatApp(Pipeline(corpus, default_reader()))
    report = chat.paste("Wire copy", wire_copy(seed_text), "2015-11-17")[3]
    seed_id = read_file(SEED)[0].id
    assert "added&#58; pasted&#58; “Wire copy”" in report and f"near&#45;duplicate of {seed_id} “France has mobilised" in report
    assert chat.table()["data"][1][-1] == seed_id
    result = answer("How many raids?", corpus=corpus)
    reply = render_answer(result)
    # Both copies are named, whichever of them the reader answered from.
    assert sorted(s.id for s in result.sources) == sorted([seed_id, chat.table()["data"][1][4]])
    assert "Also in: <em>" in reply and "<em>Wire copy</em>" in reply
