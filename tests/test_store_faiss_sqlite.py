"""The FAISS+SQLite store: the store contract (``tests/store_conformance.py``), and what only this backend does:
vector files per generation, crashes of a whole process, SQLite's term counts."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from index.articles import make_article
from index.embedder import Embedder
from index.indexer import ADDED, add_articles
from index.store import Backend
from index.store.base import FORMAT, IndexFormatError, IndexMismatchError, IndexWriteError, Store, StoreError
from index.store.faiss_sqlite import FaissSqliteStore, keywords
from index.text import content_terms
from qa.pipeline import Pipeline
from tests.conftest import ROOT
from tests.fakes import FakeEmbedder, FakeReader
from tests.store_conformance import QUAKE, STORM, OpenStore, StoreConformance


class TestFaissSqliteStore(StoreConformance):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> OpenStore:
        return lambda read_only=False: Backend("faiss").open(tmp_path / "index", read_only=read_only or None,
                                                             embedder=FakeEmbedder())

    def fail_next_write(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        def full_disk(self, path):  # noqa: ANN001 - after the rows went into the open transaction
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("index.vectors.VectorIndex.save", full_disk)
        monkeypatch.setattr("index.vectors.VectorIndex.save_changes", full_disk)


def _consistent(corpus: FaissSqliteStore) -> dict:
    stats = corpus.stats()
    assert stats["vectors"] == stats["sentences"]
    return stats


@pytest.mark.parametrize("saving", ["save", "save_changes"])
def test_a_process_killed_while_saving_vectors_leaves_the_previous_index(fake_index_dir: Path, saving: str) -> None:
    before = _consistent(FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder()))
    # A process that dies (no clean-up, no rollback) while writing the whole index or only its changes.
    script = textwrap.dedent(f"""
        import os
        from index import vectors
        from index.indexer import add_articles
        from index.store.faiss_sqlite import FaissSqliteStore, generations
        from tests.fakes import FakeEmbedder, FakeReader
        from tests.store_conformance import QUAKE

        def crash(self, path):
            path.write_bytes(b"partial")
            os._exit(3)

        generations.COMPACT_SHARE = {0.0 if saving == "save" else 1e9}
        setattr(vectors.VectorIndex, {saving!r}, crash)
        add_articles(FaissSqliteStore({str(fake_index_dir)!r}, embedder=FakeEmbedder()), [QUAKE])
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    corpus = FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())
    assert _consistent(corpus) == before
    assert add_articles(corpus, [QUAKE])[0][1] == ADDED
    assert _consistent(corpus)["articles"] == before["articles"] + 1
    # the crash's partial file was replaced
    assert _consistent(FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())) == _consistent(corpus)


def test_a_failed_write_says_why_in_one_line(fake_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())
    TestFaissSqliteStore().fail_next_write(corpus, monkeypatch)
    with pytest.raises(IndexWriteError, match="No space left on device; it is unchanged"):
        add_articles(corpus, [STORM])


def test_model_mismatch_says_to_rebuild(fake_index_dir: Path) -> None:
    with sqlite3.connect(fake_index_dir / "index.sqlite") as db:
        db.execute("UPDATE meta SET value = 'some/other-model' WHERE key = 'model'")
    with pytest.raises(IndexMismatchError, match="qa index rebuild"):
        FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())
    FaissSqliteStore(fake_index_dir, check_model=False, embedder=FakeEmbedder()).rebuild()
    assert _consistent(FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder()))["articles"] == 1


@pytest.mark.slow
def test_vectors_match_sentences(seeded_dir: Path) -> None:
    corpus = FaissSqliteStore(seeded_dir)
    [(sid, score)] = corpus.dense_search(Embedder().embed(["How many raids were carried out?"])[0], 1)
    row = corpus.sentence_rows([sid])[sid]
    assert "raids" in corpus.article_text(row.article_id)[row.start : row.end]
    assert 0 < score <= 1.0001
    assert np.isclose(np.linalg.norm(corpus.vectors.index.reconstruct(sid)), 1.0, atol=1e-4)


def test_small_changes_to_a_big_index_are_written_alone(fake_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("index.store.faiss_sqlite.generations.COMPACT_SHARE", 1e9)  # as beside a big index: changes only
    open_store = lambda: FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())  # noqa: E731
    writer = open_store()
    base = writer.base
    add_articles(writer, [QUAKE])
    quake_ids = {row.id for row in writer.article_sentences(QUAKE.id)}
    writer.remove(QUAKE.id)
    add_articles(writer, [make_article("Ferry", "The ferry carried 312 passengers on Sunday.", "ferry.txt")])
    assert writer.base == base and sorted(p.name for p in fake_index_dir.glob("changes.*")) == [
        f"changes.{g}.npz" for g in range(base + 1, writer.generation + 1)]
    new_ids = {row.id for row in writer.article_sentences(writer.list_articles()[-1].id)}
    assert min(new_ids) > max(quake_ids)  # a removed sentence's id is never given again
    reader = open_store()  # loads the base and replays the changes
    assert sorted(reader.vectors.ids()) == sorted(writer.vectors.ids()) and reader.check() == []
    assert Pipeline(reader, FakeReader()).answer("How many passengers did the ferry carry?").text == "312"
    monkeypatch.setattr("index.store.faiss_sqlite.generations.MAX_CHANGE_FILES", writer.generation - base)
    add_articles(writer, [QUAKE])  # the changes reach the limit: the whole index is saved again
    assert writer.base == writer.generation and reader.check() == [] and open_store().check() == []
    monkeypatch.setattr("index.store.faiss_sqlite.generations.MAX_CHANGE_FILES", 64)
    writer.remove(QUAKE.id)  # old change files go once no reader of the previous generation needs them
    assert sorted(p.name for p in fake_index_dir.glob("changes.*")) == [f"changes.{writer.generation}.npz"]


def test_bm25_over_a_big_index_leaves_out_the_commonest_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = FaissSqliteStore(tmp_path / "index", embedder=FakeEmbedder())
    towns = [make_article(f"Council {n}", f"The city council met on day {n}. The mayor of the city spoke about "
                          f"{n} parks. Residents of the city asked questions.", f"{n}.txt") for n in range(30)]
    zebra = make_article("Zebra", "A zebra escaped from the city zoo on Tuesday. Keepers caught it in a park.", "z.txt")
    add_articles(corpus, [*towns, zebra])
    counts = dict(corpus._db.execute("SELECT term, windows FROM term_windows WHERE term IN ('', 'citi', 'zebra')"))  # noqa: SLF001
    assert counts == {"": 92, "citi": 92, "zebra": 2}  # every window holds "city"; the zebra's two windows
    question = "When did the zebra escape from the city zoo near the council?"
    words = content_terms(question)
    assert keywords.searched_terms(corpus._db, words) == words  # noqa: SLF001 - a small index: every word is searched
    monkeypatch.setattr(keywords, "PRUNE_FROM", 10)
    # "city" and "council" (in most windows) go; "near", in none, costs nothing and stays
    assert keywords.searched_terms(corpus._db, words) == ["zebra", "escape", "zoo", "near"]  # noqa: SLF001
    assert {corpus.sentence_rows([i])[i].article_id for i, _ in corpus.keyword_search(question, 2)} == {zebra.id}
    corpus.remove(zebra.id)
    corpus.rebuild()
    assert dict(corpus._db.execute("SELECT term, windows FROM term_windows WHERE term IN ('', 'zebra')")) == {"": 90}  # noqa: SLF001
    assert corpus.check() == []


def _council_story(n: int) -> list:
    """One article of two sentences."""
    return [make_article(f"Story {n}", f"The council of Vale{n} met on Monday. It approved {n} new parks.", f"{n}.txt")]


def test_a_reader_replays_only_the_change_files_written_since_it_loaded(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from index import vectors

    story = _council_story
    reader, writer = FaissSqliteStore(tmp_path, embedder=FakeEmbedder()), FaissSqliteStore(tmp_path, embedder=FakeEmbedder())
    add_articles(writer, story(1))  # the first write saves a whole index: the base
    reader.refresh()
    loads = []
    load = vectors.VectorIndex.load
    monkeypatch.setattr(vectors.VectorIndex, "load", lambda path: loads.append(path.name) or load(path))
    monkeypatch.setattr("index.store.faiss_sqlite.generations.COMPACT_SHARE", 1e9)  # changes files, however small the base
    add_articles(writer, story(2))
    add_articles(writer, story(3))
    writer.remove(story(1)[0].id)
    reader.refresh()  # three change files, replayed on what it holds
    assert loads == [] and reader.generation == writer.generation
    assert sorted(reader.vectors.ids().tolist()) == sorted(writer.vectors.ids().tolist())
    hits = {reader.sentence_rows([i])[i].article_id for i, _ in reader.dense_search(FakeEmbedder().embed_query("Vale3 parks"), 4)}
    assert story(3)[0].id in hits and story(1)[0].id not in hits
    monkeypatch.setattr("index.store.faiss_sqlite.generations.COMPACT_SHARE", 0.0)
    add_articles(writer, story(4))  # a full save: a new base, read again
    reader.refresh()
    assert loads == [f"vectors.{writer.generation}.faiss"] and len(reader.vectors) == len(writer.vectors) == 6
    assert reader.check() == []


def test_a_graph_index_is_saved_whole_before_its_change_files_take_long_to_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("index.vectors.HNSW_FROM", 4)
    monkeypatch.setattr("index.store.faiss_sqlite.generations.COMPACT_SHARE", 1e9)
    monkeypatch.setattr("index.store.faiss_sqlite.generations.MAX_REPLAYED_GRAPH_VECTORS", 6)
    corpus = FaissSqliteStore(tmp_path, embedder=FakeEmbedder())
    add_articles(corpus, _council_story(1) + _council_story(2))  # 4 sentences: a graph, and the first save is whole
    assert corpus.vectors.factory == "IDMap2,HNSW32,Flat" and corpus.base == corpus.generation
    add_articles(corpus, _council_story(3))
    add_articles(corpus, _council_story(4))
    assert corpus.generation - corpus.base == 2  # 2, then 4 vectors in change files
    add_articles(corpus, _council_story(5))  # 6 to replay: saved whole instead
    assert corpus.base == corpus.generation
    assert FaissSqliteStore(tmp_path, embedder=FakeEmbedder()).check() == []


def test_an_index_of_the_previous_format_is_upgraded_and_a_newer_one_refused(fake_index_dir: Path,
                                                                            capsys: pytest.CaptureFixture) -> None:
    def recorded() -> str | None:
        with sqlite3.connect(fake_index_dir / "index.sqlite") as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        return row and row[0]

    before = Pipeline(FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder()), FakeReader()).answer("How many raids?")
    assert recorded() == str(FORMAT)
    with sqlite3.connect(fake_index_dir / "index.sqlite") as db:  # as every release before the format was recorded
        db.execute("DELETE FROM meta WHERE key = 'format'")
    _checkpoint(fake_index_dir)
    reader = FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder(), read_only=True)  # read as it is
    assert recorded() is None and Pipeline(reader, FakeReader()).answer("How many raids?").text == before.text == "128"
    upgraded = FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())
    assert recorded() == str(FORMAT) and upgraded.check() == []
    assert Pipeline(upgraded, FakeReader()).answer("How many raids?").sentence == before.sentence
    with sqlite3.connect(fake_index_dir / "index.sqlite") as db:  # as a later release will write it
        db.execute("UPDATE meta SET value = ? WHERE key = 'format'", (str(FORMAT + 1),))
    _checkpoint(fake_index_dir)
    for read_only in (False, True):
        with pytest.raises(IndexFormatError, match=f"made by a newer release of news-qa .index format {FORMAT + 1}"):
            FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder(), read_only=read_only)
    assert recorded() == str(FORMAT + 1)  # refused before anything changed
    from ui.cli import main

    assert main(["index", "stats", "--index", str(fake_index_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the index in ") and err.count("\n") == 1


def _checkpoint(index_dir: Path) -> None:
    """Move committed changes into the database file, where a read-only (immutable) open reads them."""
    with closing(sqlite3.connect(index_dir / "index.sqlite")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_a_backup_while_writers_add_is_whole_and_holds_every_committed_article(fake_index_dir: Path,
                                                                              tmp_path: Path) -> None:
    stop, written = threading.Event(), []

    def write() -> None:  # another writer of the same index, adding while the backups run
        with closing(FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())) as writer:
            n = 0
            while not stop.is_set():
                n += 1
                add_articles(writer, [make_article(f"Ferry {n}", f"The ferry {n} carried {n + 300} passengers.", f"{n}.txt")])
                written.append(n)

    writing = threading.Thread(target=write)
    writing.start()
    store = FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())
    try:
        for round_ in range(10):
            store.refresh()
            committed = {a.id for a in store.list_articles()}
            store.backup(tmp_path / f"copy{round_}")
            with closing(FaissSqliteStore(tmp_path / f"copy{round_}", embedder=FakeEmbedder())) as copy:
                assert copy.check() == [] and committed <= {a.id for a in copy.list_articles()}
                assert Pipeline(copy, FakeReader()).answer("How many raids?").text == "128"
    finally:
        stop.set()
        writing.join()
    assert len(written) >= 10  # the writer kept adding between the copies
    with pytest.raises(StoreError, match="already exists"):
        store.backup(tmp_path / "copy0")


def test_qa_index_backup_copies_an_index_that_opens_as_it_is(fake_index_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    from ui.cli import main

    assert main(["index", "backup", "--index", str(fake_index_dir), str(tmp_path / "copy")]) == 0
    assert f"open it with --index {tmp_path / 'copy'}" in capsys.readouterr().out
    copy = FaissSqliteStore(tmp_path / "copy", embedder=FakeEmbedder())
    assert copy.check() == [] and [a.id for a in copy.list_articles()] == [
        a.id for a in FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder()).list_articles()]
    assert main(["index", "backup", "--index", str(fake_index_dir), str(tmp_path / "copy")]) == 1
    assert "already exists: back up into a new folder" in capsys.readouterr().err
