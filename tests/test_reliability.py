"""The index under concurrent writers, damaged files, full and read-only disks, and bad input."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from index.articles import IngestError, load_file, make_article, printable, read_file
from index.embedder import Embedder
from index.indexer import ADDED, UNCHANGED, add_articles
from index.ingest import add_files
from index.sentences import MAX_SENTENCE_CHARS, split_sentences
from index.store.base import IndexDamagedError, IndexReadOnlyError, IndexWriteError, StoreError
from index.store.faiss_sqlite import FaissSqliteStore
from qa import answer
from qa.answer import clean_question
from tests.conftest import QUAKE, ROOT
from ui.cli import main


def _story(n: int) -> object:
    return make_article(f"Story {n}", f"The town of Vale{n} counted {n + 10} new houses this year. Its mayor is Ann Lee{n}.",
                        f"story{n}.txt")


def _clean(corpus: FaissSqliteStore) -> dict:
    assert corpus.check() == []
    return corpus.stats()


# -- concurrent writers --------------------------------------------------------------------


@pytest.mark.slow
def test_a_stale_writer_starts_from_the_last_commit(index_dir: Path) -> None:
    first, second = FaissSqliteStore(index_dir), FaissSqliteStore(index_dir)  # two processes' views, both at one generation
    add_articles(first, [_story(1)])
    add_articles(second, [_story(2)])  # before the fix this saved its own stale vectors over the first's
    stats = _clean(FaissSqliteStore(index_dir))
    assert stats["articles"] == 3 and stats["vectors"] == stats["sentences"]
    first.refresh()
    assert len(first.vectors) == stats["vectors"]


@pytest.mark.slow
def test_same_article_added_by_two_writers_is_already_indexed_for_the_second(
    index_dir: Path,
) -> None:
    story, other = _story(3), _story(9)
    first_result = []

    class FirstWriterMeanwhile(Embedder):
        """The first writer commits the story while the second embeds it."""

        def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
            if not first_result:
                first_result.extend(add_articles(first, [story]))
            return super().embed(texts, progress)

    first, second = FaissSqliteStore(index_dir), FaissSqliteStore(index_dir, embedder=FirstWriterMeanwhile())
    assert add_articles(second, [story, other]) == [(story, UNCHANGED), (other, ADDED)]
    assert first_result == [(story, ADDED)]
    assert _clean(FaissSqliteStore(index_dir))["articles"] == 3


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(index_dir: Path) -> None:
    stories = [[_story(10 * w + i) for i in range(3)] for w in range(4)]
    errors: list[BaseException] = []

    def write(batch: list) -> None:
        try:
            corpus = FaissSqliteStore(index_dir)
            for story in batch:
                add_articles(corpus, [story])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(batch,)) for batch in stories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    stats = _clean(FaissSqliteStore(index_dir))
    assert stats["articles"] == 1 + 12


@pytest.mark.slow
def test_a_failed_write_never_deletes_a_committed_file(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = FaissSqliteStore(index_dir), FaissSqliteStore(index_dir)
    add_articles(first, [_story(4)])

    def full(self, path):  # noqa: ANN001
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("index.vectors.VectorIndex.save", full)
    with pytest.raises(IndexWriteError, match="No space left"):
        add_articles(second, [_story(5)])
    monkeypatch.undo()
    assert _clean(FaissSqliteStore(index_dir))["articles"] == 2


@pytest.mark.slow
def test_readers_see_other_processes_writes_and_old_files_go(index_dir: Path) -> None:
    reader = FaissSqliteStore(index_dir)
    writer = FaissSqliteStore(index_dir)
    for n in range(3):
        add_articles(writer, [_story(20 + n)])
    reader.refresh()
    assert len(reader.vectors) == writer.stats()["sentences"]
    # what the committed generation and the one before it (for readers mid-load) need stays; older files go
    files = sorted(p.name for p in [*index_dir.glob("vectors.*"), *index_dir.glob("changes.*")])
    assert "vectors.1.faiss" not in files and len(files) <= 3 and not any(f.endswith(".tmp") for f in files)


# -- consistency check and repair ------------------------------------------------------------


@pytest.mark.slow
def test_check_finds_vectors_and_full_text_that_disagree(index_dir: Path) -> None:
    corpus = FaissSqliteStore(index_dir)
    assert corpus.check() == []
    ids = corpus.vectors.ids()
    corpus.vectors.remove(ids[:2])
    corpus.vectors.save(corpus._vector_path(corpus.generation))
    with sqlite3.connect(index_dir / "index.sqlite") as db:
        db.execute("DELETE FROM window_fts WHERE rowid = ?", (int(ids[5]),))
    corpus = FaissSqliteStore(index_dir)
    assert corpus.check() == ["2 sentences have no vector", "1 sentences are missing from the full-text index"]
    assert "run `qa index check`" in corpus.stats()["warning"]
    corpus.rebuild()
    assert corpus.check() == [] and "warning" not in corpus.stats()


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "deleted", "garbage"])
def test_damaged_vectors_are_reported_and_rebuilt(index_dir: Path, damage: str, capsys: pytest.CaptureFixture) -> None:
    path = index_dir / f"vectors.{FaissSqliteStore(index_dir).generation}.faiss"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"not a faiss index")
    assert main(["index", "stats", "--index", str(index_dir)]) == 0
    assert "rebuild" in capsys.readouterr().err
    with pytest.raises(IndexDamagedError, match="qa index rebuild"):
        answer("How many raids?", index_dir=None, corpus=FaissSqliteStore(index_dir))
    with pytest.raises(IndexDamagedError):  # nothing is written on top of damaged vectors
        add_articles(FaissSqliteStore(index_dir), [_story(6)])
    assert main(["index", "check", "--index", str(index_dir)]) == 1
    assert main(["index", "rebuild", "--index", str(index_dir)]) == 0
    assert main(["index", "check", "--index", str(index_dir)]) == 0
    assert "ok: 1 articles" in capsys.readouterr().out


@pytest.mark.slow
def test_damaged_database_is_one_line_and_rebuilt_from_files(index_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    (index_dir / "index.sqlite").write_bytes(b"\0" * 100 + os.urandom(5000))
    for name in ("index.sqlite-wal", "index.sqlite-shm"):
        (index_dir / name).unlink(missing_ok=True)
    assert main(["index", "stats", "--index", str(index_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "damaged" in err and "--from" in err
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "quake.md").write_text(QUAKE)
    assert main(["index", "rebuild", "--index", str(index_dir), "--from", str(articles)]) == 0
    assert "old index is kept in" in capsys.readouterr().out
    assert _clean(FaissSqliteStore(index_dir))["articles"] == 1
    assert list(index_dir.parent.glob("index.old-*"))


# -- full and read-only disks ----------------------------------------------------------------


@pytest.mark.slow
def test_full_database_leaves_the_index_as_it_was(index_dir: Path) -> None:
    corpus = FaissSqliteStore(index_dir)
    before = _clean(corpus)
    files = sorted(p.name for p in index_dir.iterdir())
    pages = corpus._db.execute("PRAGMA page_count").fetchone()[0]
    corpus._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL on the next page, as on a full disk
    with pytest.raises(IndexWriteError, match="disk is full; it is unchanged"):
        add_articles(corpus, [make_article("Long", " ".join(f"Sentence number {n} is here." for n in range(400)), "long.txt")])
    assert sorted(p.name for p in index_dir.iterdir()) == files  # no stray vectors file
    assert _clean(FaissSqliteStore(index_dir)) == before


@pytest.mark.slow
@pytest.mark.parametrize("whole", [True, False], ids=["whole index", "changes only"])
def test_full_disk_while_writing_vectors_leaves_no_temporary_file(index_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  whole: bool) -> None:
    corpus = FaissSqliteStore(index_dir)
    before = _clean(corpus)

    def enospc(index, path):  # noqa: ANN001
        Path(path).write_bytes(b"part")
        raise RuntimeError("Error in faiss::FileIOWriter: write error (No space left on device)")

    def enospc_changes(file, **arrays):  # noqa: ANN001, ANN003
        file.write(b"part")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("index.store.faiss_sqlite.generations.COMPACT_SHARE", 0.0 if whole else 1e9)
    if whole:
        monkeypatch.setattr(faiss, "write_index", enospc)
    else:
        monkeypatch.setattr("index.vectors.np.savez", enospc_changes)
    with pytest.raises(IndexWriteError, match="No space left on device"):
        add_articles(corpus, [_story(7)])
    monkeypatch.undo()
    assert not list(index_dir.glob("*.tmp"))
    assert _clean(FaissSqliteStore(index_dir)) == before


@pytest.mark.slow
def test_read_only_index_is_searched_not_changed(index_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture, quake_file: Path) -> None:
    FaissSqliteStore(index_dir).close()
    monkeypatch.setattr("index.store.faiss_sqlite.store.writable", lambda directory: False)  # as on a read-only file system
    corpus = FaissSqliteStore(index_dir)
    assert corpus.read_only and corpus.stats()["articles"] == 1
    assert answer("How many raids?", corpus=corpus).text == "128"
    with pytest.raises(IndexReadOnlyError):
        add_articles(corpus, [_story(8)])
    assert main(["index", "list", "--index", str(index_dir)]) == 0
    assert main(["index", "add", "--index", str(index_dir), str(quake_file)]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "Traceback" not in err


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_bad_files_each_get_one_line_and_the_rest_is_indexed(index_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "nested.json").write_text("[" * 200_000 + "]" * 200_000)
    (folder / "digits.json").write_text('{"text": "x", "n": ' + "9" * 5000 + "}")
    (folder / os.fsdecode(b"bad\xff\xfename.txt")).write_text("Odd name\n\nThe bridge reopened after 40 days.\n")
    (folder / "utf16.txt").write_bytes("Wide\n\nThe ferry carried 312 passengers.\n".encode("utf-16"))
    (folder / "records.jsonl").write_text("\n".join([
        json.dumps({"title": "Good", "text": "The dam holds 9 billion litres."}),
        "{broken",
        json.dumps({"title": {"x": [1, 2]}, "text": "Typed wrong."}),
        json.dumps({"text": "Bad date.", "date": "9999-99-99"}),
    ]))
    (folder / "\x1b[31mred.txt").write_text("Red \x1b[31mtitle\n\nThe lighthouse is 52 metres tall.\n")
    (folder / "big.txt").write_text("word " * 300_000)
    os.mkfifo(folder / "pipe.txt")
    missing = tmp_path / "missing"
    code = main(["index", "add", "--index", str(index_dir), "--max-mb", "1", str(folder), str(missing)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err and "\x1b" not in out + err
    lines = err.splitlines()
    expected = {
        "nested.json": "nested too deeply",
        "digits.json": "malformed JSON",
        "records.jsonl: line 2": "malformed JSON",
        "records.jsonl: line 3": "'title' is a dict, not a string",
        "records.jsonl: line 4": "not a real YYYY-MM-DD day",
        "big.txt": "over the 1.0 MB limit",
        "pipe.txt": "not a regular file",
        "missing": "no such file or folder",
    }
    for name, reason in expected.items():
        assert any(name in line and reason in line for line in lines), (name, err)
    assert len(lines) == len(expected)
    titles = {a.title for a in FaissSqliteStore(index_dir).list_articles()}
    assert {"Odd name", "Wide", "Good", "Red title"} <= titles
    assert "\ufffd" in out  # the undecodable file name is shown, with replacement characters


def test_long_sentences_are_cut() -> None:
    text = "A " + "very " * 2000 + "long sentence. Then a short one."
    sentences = split_sentences(text)
    assert max(e - s for s, e in sentences) <= MAX_SENTENCE_CHARS
    assert text[sentences[-1].start : sentences[-1].end] == "Then a short one."
    assert "".join(text[s:e] for s, e in sentences).replace(" ", "") == text.replace(" ", "")


def test_pasted_text_has_the_same_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_MAX_MB", "0.01")
    with pytest.raises(IngestError, match="over the 0.01 MB limit"):
        make_article("Big", "word " * 5000, "pasted")


def test_questions_and_names_are_made_printable() -> None:
    assert clean_question("How many\ud800 raids?")[0] == "How many raids?"
    assert printable("a\x1b[2Jb\nc") == "ab\ufffdc"


def test_utf16_and_per_record_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"text": "One."}) + "\n" + json.dumps({"text": 5}) + "\n")
    loaded = load_file(path)
    assert [a.text for a in loaded.articles] == ["One."] and loaded.problems == ["line 2: no 'text' string"]
    with pytest.raises(IngestError, match="line 2"):
        read_file(path)


def test_index_folder_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["index", "stats", "--index", str(tmp_path / "file")]) == 1
    assert capsys.readouterr().err.strip().endswith("is a file, not a folder")


def test_console_script_reports_a_damaged_index_without_a_traceback(index_dir: Path) -> None:
    path = index_dir / f"vectors.{FaissSqliteStore(index_dir).generation}.faiss"
    path.write_bytes(path.read_bytes()[:500])
    proc = subprocess.run([sys.executable, "-m", "ui.cli", "ask", "How many raids?", "--index", str(index_dir)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("run `qa index rebuild`")


@pytest.mark.slow
def test_vectors_search_after_concurrent_writes_finds_each_story(index_dir: Path) -> None:
    corpus = FaissSqliteStore(index_dir)
    add_articles(FaissSqliteStore(index_dir), [_story(30)])
    add_articles(FaissSqliteStore(index_dir), [_story(31)])
    corpus.refresh()
    [(sid, _)] = corpus.dense_search(Embedder().embed(["Who is the mayor of Vale31?"])[0], 1)
    row = corpus.sentence_rows([sid])[sid]
    assert "Vale31" in corpus.article_text(row.article_id)
    assert np.isclose(np.linalg.norm(corpus.vectors.index.reconstruct(sid)), 1.0, atol=1e-4)


def test_corpus_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        FaissSqliteStore(tmp_path / "nope" / "x", read_only=True)
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_an_article_removed_during_retrieval_is_skipped(index_dir: Path, quake_file: Path) -> None:
    from qa.retriever import retrieve

    corpus = FaissSqliteStore(index_dir)
    [(quake, _)] = add_articles(corpus, read_file(quake_file))
    found = corpus.article
    corpus.article = lambda article_id: None if article_id == quake.id else found(article_id)  # removed meanwhile
    passages = retrieve(corpus, "How strong was the earthquake in Turkey?")
    assert passages and all(p.article_id != quake.id for p in passages)
    assert answer("How strong was the earthquake in Turkey?", corpus=corpus).article.id != quake.id


@pytest.mark.slow
def test_an_interrupt_during_a_long_file_keeps_the_files_before_it(index_dir: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("index.ingest.BATCH_CHARS", 2000)
    files = []
    for n in range(3):
        path = tmp_path / f"small{n}.txt"
        path.write_text(f"Small {n}\n\nThe village of Brook{n} has {n + 3} bakeries.\n")
        files.append((path, path.name))
    long = tmp_path / "long.txt"
    long.write_text("Long\n\n" + " ".join(f"Sentence {k} of a long report." for k in range(200)))
    corpus = FaissSqliteStore(index_dir)
    write = corpus.write

    def interrupted(prepared):  # noqa: ANN001, ANN202 - Ctrl-C while the long file is stored
        if any(p.article.title == "Long" for p in prepared):
            raise KeyboardInterrupt
        return write(prepared)

    corpus.write = interrupted
    with pytest.raises(KeyboardInterrupt):
        add_files(corpus, [*files, (long, long.name)])
    assert {"Small 0", "Small 1", "Small 2"} <= {a.title for a in FaissSqliteStore(index_dir).list_articles()}
