"""The tantivy copy of a big index's windows (``index/store/faiss_sqlite/tantivy_windows.py``): searched in
place of FTS5 while it holds the generation loaded, kept in step by every write, and never trusted when a
crash left it out of step. The size it starts at is lowered here so that a few articles have one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from index.articles import make_article
from index.indexer import add_articles
from index.store.base import SearchFilter
from index.store.faiss_sqlite import FaissSqliteStore, keywords, tantivy_windows
from tests.conftest import ROOT
from tests.fakes import FakeEmbedder

LYNX = make_article("Lynx", "A lynx was seen near the reservoir at dawn. Rangers closed the trail for a week.", "lynx.txt",
                    date="2024-03-04")
BRIDGE = make_article("Bridge", "The old bridge reopened after repairs. Cyclists crossed the bridge on Monday.", "bridge.txt",
                      date="2024-05-20")
OWL = make_article("Owl", "An owl nested in the clock tower. The clock stopped at noon.", "owl.txt")


@pytest.fixture(autouse=True)
def every_index_is_big(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tantivy_windows, "FROM_WINDOWS", 0)


def _store(directory: Path, read_only: bool | None = None) -> FaissSqliteStore:
    return FaissSqliteStore(directory, embedder=FakeEmbedder(), read_only=read_only)


def _texts(store: FaissSqliteStore, hits: list[tuple[int, float]]) -> list[str]:
    rows = store.sentence_rows([i for i, _ in hits])
    return [store.article_text(rows[i].article_id)[rows[i].start : rows[i].end] for i, _ in hits if i in rows]


def _in_step(store: FaissSqliteStore) -> bool:
    return store._tantivy.generation == store.generation  # noqa: SLF001


def test_searches_go_to_tantivy_and_find_what_fts5_finds(tmp_path: Path) -> None:
    store = _store(tmp_path)
    add_articles(store, [LYNX, BRIDGE, OWL])
    assert _in_step(store) and store._tantivy.count() == 6  # noqa: SLF001
    found = store.keyword_search("Where was the lynx seen?", 3)  # both windows of the lynx story are all of it
    assert set(_texts(store, found)) == {"A lynx was seen near the reservoir at dawn.", "Rangers closed the trail for a week."}
    fts5 = keywords.keyword_search(store._db, "Where was the lynx seen?", 3, None)  # noqa: SLF001
    assert {i for i, _ in found} == {i for i, _ in fts5}
    # stemmed alike: "bridges" finds "bridge", accents are folded
    assert "The old bridge reopened after repairs." in _texts(store, store.keyword_search("bridges réopened", 5))
    assert store.check() == []


def test_a_removed_article_is_not_found_and_a_date_range_holds(tmp_path: Path) -> None:
    store = _store(tmp_path)
    add_articles(store, [LYNX, BRIDGE, OWL])
    store.remove(OWL.id)
    assert _in_step(store) and store.keyword_search("owl clock tower", 5) == []
    march = SearchFilter(since=date(2024, 3, 1), until=date(2024, 3, 31))
    # each window holds its neighbours: both of the March article's windows hold "trail"; no May window is found
    assert set(_texts(store, store.keyword_search("trail bridge", 5, march))) == {
        "A lynx was seen near the reservoir at dawn.", "Rangers closed the trail for a week."}
    assert store.keyword_search("lynx", 5, SearchFilter(since=date(2025, 1, 1))) == []
    # a source prefix is searched by FTS5, with the same answer
    assert _texts(store, store.keyword_search("lynx", 5, SearchFilter(source="lynx")))[0].startswith("A lynx")
    assert store.check() == []


def test_another_process_sees_the_copy_after_a_write(tmp_path: Path) -> None:
    writer = _store(tmp_path)
    add_articles(writer, [LYNX])
    reader = _store(tmp_path)  # another process searching it, as the chat does
    assert reader.keyword_search("bridge", 5) == []
    add_articles(writer, [BRIDGE])
    reader.refresh()
    assert _in_step(reader) and _texts(reader, reader.keyword_search("bridge", 5))


def test_a_crash_between_the_two_commits_leaves_searches_on_fts5_until_the_next_write(tmp_path: Path) -> None:
    add_articles(_store(tmp_path), [LYNX])
    # A process that dies (no clean-up, no rollback) after tantivy committed and before SQLite did.
    script = textwrap.dedent(f"""
        import os
        from index.indexer import add_articles
        from index.store.faiss_sqlite import FaissSqliteStore, tantivy_windows
        from tests.fakes import FakeEmbedder
        from tests.test_tantivy_windows import BRIDGE

        tantivy_windows.FROM_WINDOWS = 0
        follow = tantivy_windows.TantivyWindows.follow

        def follow_and_die(self, *args):
            follow(self, *args)
            os._exit(9)

        tantivy_windows.TantivyWindows.follow = follow_and_die
        add_articles(FaissSqliteStore({str(tmp_path)!r}, embedder=FakeEmbedder()), [BRIDGE])
    """)
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=120).returncode == 9
    store = _store(tmp_path)
    assert store.stats()["articles"] == 1 and not _in_step(store)  # tantivy holds the write SQLite never committed
    assert store.keyword_search("bridge", 5) == []  # FTS5 answers, as the database says
    assert store.check() == []
    add_articles(store, [OWL])  # the next write copies every window again
    assert _in_step(store) and store._tantivy.count() == 4  # noqa: SLF001
    assert store.keyword_search("bridge", 5) == [] and _texts(store, store.keyword_search("owl", 5))


def test_rebuild_and_backup_carry_the_copy(tmp_path: Path) -> None:
    store = _store(tmp_path / "index")
    add_articles(store, [LYNX, BRIDGE])
    store.rebuild()
    assert _in_step(store) and store._tantivy.count() == 4  # noqa: SLF001
    store.backup(tmp_path / "copy")
    copy = _store(tmp_path / "copy")
    assert _in_step(copy) and _texts(copy, copy.keyword_search("lynx", 5))
    assert copy.check() == []


def test_a_small_index_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tantivy_windows, "FROM_WINDOWS", 100)
    store = _store(tmp_path)
    add_articles(store, [LYNX])
    assert not (tmp_path / tantivy_windows.FOLDER).exists() and store._tantivy.generation == -1  # noqa: SLF001
    assert _texts(store, store.keyword_search("lynx", 5))


def test_a_damaged_copy_is_searched_around_and_made_again_by_the_next_write(tmp_path: Path) -> None:
    add_articles(_store(tmp_path), [LYNX])
    (tmp_path / tantivy_windows.FOLDER / "meta.json").write_text("{ not json")
    store = _store(tmp_path)
    assert not _in_step(store) and _texts(store, store.keyword_search("lynx", 5))  # FTS5
    add_articles(store, [BRIDGE])
    assert _in_step(store) and store._tantivy.count() == 4 and store.check() == []  # noqa: SLF001
