import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from index.articles import make_article, read_file
from index.corpus import ADDED, NO_SENTENCES, UNCHANGED, Corpus, IndexMismatchError, IndexWriteError
from index.embedder import embed
from tests.conftest import ROOT


def _consistent(corpus: Corpus) -> dict:
    stats = corpus.stats()
    assert stats["vectors"] == stats["sentences"]
    return stats


def test_add_is_incremental_and_deduplicated(index_dir: Path, quake_file: Path) -> None:
    corpus = Corpus(index_dir)
    before = _consistent(corpus)
    [(article, status)] = corpus.add(read_file(quake_file))
    assert status == ADDED
    after = _consistent(corpus)
    assert after["articles"] == before["articles"] + 1
    assert after["sentences"] == before["sentences"] + 3
    assert corpus.add(read_file(quake_file)) == [(article, UNCHANGED)]
    assert _consistent(corpus) == after
    # The same text under another file name is the same article.
    copy = quake_file.with_name("copy.md")
    copy.write_text(quake_file.read_text())
    assert corpus.add(read_file(copy))[0][1] == UNCHANGED


def test_article_without_sentences_is_skipped(index_dir: Path) -> None:
    corpus = Corpus(index_dir)
    before = _consistent(corpus)
    [(_, status)] = corpus.add([make_article("Dots", "... !!! ???", "x")])
    assert status == NO_SENTENCES
    assert _consistent(corpus) == before


def test_remove_and_rebuild(index_dir: Path, quake_file: Path) -> None:
    corpus = Corpus(index_dir)
    [(quake, _)] = corpus.add(read_file(quake_file))
    removed = corpus.remove(quake.id)
    assert removed is not None and removed.sentences == 3
    assert corpus.remove(quake.id) is None
    stats = _consistent(corpus)
    assert stats["articles"] == 1
    ids = {i for i, _ in corpus.dense_search(embed(["earthquake in Turkey"])[0], 50)}
    assert ids and all(corpus.sentence_rows([i])[i].article_id != quake.id for i in ids)
    rebuilt = corpus.rebuild()
    assert (rebuilt["articles"], rebuilt["sentences"]) == (stats["articles"], stats["sentences"])
    assert _consistent(Corpus(index_dir)) == _consistent(corpus)


def test_other_process_sees_writes(index_dir: Path, quake_file: Path) -> None:
    reader, writer = Corpus(index_dir), Corpus(index_dir)
    writer.add(read_file(quake_file))
    reader.refresh()
    assert reader.stats()["vectors"] == writer.stats()["vectors"]


def test_crash_mid_add_leaves_previous_index(index_dir: Path, quake_file: Path) -> None:
    before = _consistent(Corpus(index_dir))
    # A process that dies (no clean-up, no rollback) while writing the new FAISS file.
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from index import vectors
        from index.articles import read_file
        from index.corpus import Corpus

        def crash(self, path):
            path.write_bytes(b"partial")
            os._exit(3)

        vectors.VectorIndex.save = crash
        Corpus({str(index_dir)!r}).add(read_file(Path({str(quake_file)!r})))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    corpus = Corpus(index_dir)
    assert _consistent(corpus) == before
    assert corpus.add(read_file(quake_file))[0][1] == ADDED
    assert _consistent(corpus)["articles"] == before["articles"] + 1
    # the crash's partial file was replaced; the previous generation stays one write longer for readers
    assert sorted(p.name for p in index_dir.glob("vectors.*")) == [
        f"vectors.{corpus.generation - 1}.faiss", f"vectors.{corpus.generation}.faiss"]


def test_failed_write_rolls_back_in_process(index_dir: Path, quake_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = Corpus(index_dir)
    before = _consistent(corpus)

    def fail(self, path):  # noqa: ANN001
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("index.vectors.VectorIndex.save", fail)
    with pytest.raises(IndexWriteError, match="No space left on device; it is unchanged"):
        corpus.add(read_file(quake_file))
    assert _consistent(corpus) == before
    monkeypatch.undo()
    assert _consistent(Corpus(index_dir)) == before


def test_model_mismatch_says_to_rebuild(index_dir: Path) -> None:
    import sqlite3

    with sqlite3.connect(index_dir / "index.sqlite") as db:
        db.execute("UPDATE meta SET value = 'some/other-model' WHERE key = 'model'")
    with pytest.raises(IndexMismatchError, match="qa index rebuild"):
        Corpus(index_dir)
    Corpus(index_dir, check_model=False).rebuild()
    assert _consistent(Corpus(index_dir))["articles"] == 1


def test_vectors_match_sentences(seeded_dir: Path) -> None:
    corpus = Corpus(seeded_dir)
    [(sid, score)] = corpus.dense_search(embed(["How many raids were carried out?"])[0], 1)
    row = corpus.sentence_rows([sid])[sid]
    assert "raids" in corpus.article_text(row.article_id)[row.start : row.end]
    assert 0 < score <= 1.0001
    assert np.isclose(np.linalg.norm(corpus.vectors.index.reconstruct(sid)), 1.0, atol=1e-4)
