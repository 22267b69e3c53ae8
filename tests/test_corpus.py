import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from index.articles import make_article, read_file
from index.corpus import ADDED, NO_SENTENCES, UNCHANGED, Corpus, IndexMismatchError, IndexWriteError
from index.embedder import Embedder
from qa import answer
from tests.conftest import ROOT
from tests.fakes import FakeEmbedder


def _consistent(corpus: Corpus) -> dict:
    stats = corpus.stats()
    assert stats["vectors"] == stats["sentences"]
    return stats


@pytest.mark.slow
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


@pytest.mark.slow
def test_remove_and_rebuild(index_dir: Path, quake_file: Path) -> None:
    corpus = Corpus(index_dir)
    [(quake, _)] = corpus.add(read_file(quake_file))
    removed = corpus.remove(quake.id)
    assert removed is not None and removed.sentences == 3
    assert corpus.remove(quake.id) is None
    stats = _consistent(corpus)
    assert stats["articles"] == 1
    ids = {i for i, _ in corpus.dense_search(Embedder().embed(["earthquake in Turkey"])[0], 50)}
    assert ids and all(corpus.sentence_rows([i])[i].article_id != quake.id for i in ids)
    rebuilt = corpus.rebuild()
    assert (rebuilt["articles"], rebuilt["sentences"]) == (stats["articles"], stats["sentences"])
    assert _consistent(Corpus(index_dir)) == _consistent(corpus)


@pytest.mark.slow
def test_other_process_sees_writes(index_dir: Path, quake_file: Path) -> None:
    reader, writer = Corpus(index_dir), Corpus(index_dir)
    writer.add(read_file(quake_file))
    reader.refresh()
    assert reader.stats()["vectors"] == writer.stats()["vectors"]


@pytest.mark.slow
@pytest.mark.parametrize("saving", ["save", "save_changes"])
def test_crash_mid_add_leaves_previous_index(index_dir: Path, quake_file: Path, saving: str) -> None:
    before = _consistent(Corpus(index_dir))
    # A process that dies (no clean-up, no rollback) while writing the whole index or only its changes.
    share = 0.0 if saving == "save" else 1e9
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from index import corpus, vectors
        from index.articles import read_file
        from index.corpus import Corpus

        def crash(self, path):
            path.write_bytes(b"partial")
            os._exit(3)

        corpus.COMPACT_SHARE = {share}
        setattr(vectors.VectorIndex, {saving!r}, crash)
        Corpus({str(index_dir)!r}).add(read_file(Path({str(quake_file)!r})))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    corpus = Corpus(index_dir)
    assert _consistent(corpus) == before
    assert corpus.add(read_file(quake_file))[0][1] == ADDED
    assert _consistent(corpus)["articles"] == before["articles"] + 1
    assert _consistent(Corpus(index_dir)) == _consistent(corpus)  # the crash's partial file was replaced


@pytest.mark.slow
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


@pytest.mark.slow
def test_model_mismatch_says_to_rebuild(index_dir: Path) -> None:
    import sqlite3

    with sqlite3.connect(index_dir / "index.sqlite") as db:
        db.execute("UPDATE meta SET value = 'some/other-model' WHERE key = 'model'")
    with pytest.raises(IndexMismatchError, match="qa index rebuild"):
        Corpus(index_dir)
    Corpus(index_dir, check_model=False).rebuild()
    assert _consistent(Corpus(index_dir))["articles"] == 1


@pytest.mark.slow
def test_vectors_match_sentences(seeded_dir: Path) -> None:
    corpus = Corpus(seeded_dir)
    [(sid, score)] = corpus.dense_search(Embedder().embed(["How many raids were carried out?"])[0], 1)
    row = corpus.sentence_rows([sid])[sid]
    assert "raids" in corpus.article_text(row.article_id)[row.start : row.end]
    assert 0 < score <= 1.0001
    assert np.isclose(np.linalg.norm(corpus.vectors.index.reconstruct(sid)), 1.0, atol=1e-4)


@pytest.mark.slow
def test_small_changes_to_a_big_index_are_written_alone(index_dir: Path, quake_file: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("index.corpus.COMPACT_SHARE", 1e9)  # as beside a big index: changes only
    writer = Corpus(index_dir)
    base = writer.base
    [(quake, _)] = writer.add(read_file(quake_file))
    quake_ids = {row.id for row in writer.article_sentences(quake.id)}
    writer.remove(quake.id)
    writer.add([make_article("Ferry", "The ferry carried 312 passengers on Sunday.", "ferry.txt")])
    assert writer.base == base and sorted(p.name for p in index_dir.glob("changes.*")) == [
        f"changes.{g}.npz" for g in range(base + 1, writer.generation + 1)]
    new_ids = {row.id for row in writer.article_sentences(writer.list_articles()[-1].id)}
    assert min(new_ids) > max(quake_ids)  # a removed sentence's id is never given again
    reader = Corpus(index_dir)  # loads the base and replays the changes
    assert sorted(reader.vectors.ids()) == sorted(writer.vectors.ids()) and reader.check() == []
    assert answer("How many passengers did the ferry carry?", corpus=reader).text == "312"
    monkeypatch.setattr("index.corpus.MAX_CHANGE_FILES", writer.generation - base)
    writer.add(read_file(quake_file))  # the changes reach the limit: the whole index is saved again
    assert writer.base == writer.generation and reader.check() == [] and Corpus(index_dir).check() == []
    monkeypatch.setattr("index.corpus.MAX_CHANGE_FILES", 64)
    writer.remove(quake.id)  # old change files go once no reader of the previous generation needs them
    assert sorted(p.name for p in index_dir.glob("changes.*")) == [f"changes.{writer.generation}.npz"]


@pytest.mark.slow
def test_bm25_over_a_big_index_leaves_out_the_commonest_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from index import corpus as corpus_module

    corpus = Corpus(tmp_path / "index")
    towns = [make_article(f"Council {n}", f"The city council met on day {n}. The mayor of the city spoke about "
                          f"{n} parks. Residents of the city asked questions.", f"{n}.txt") for n in range(30)]
    zebra = make_article("Zebra", "A zebra escaped from the city zoo on Tuesday. Keepers caught it in a park.", "z.txt")
    corpus.add([*towns, zebra])
    counts = dict(corpus._db.execute("SELECT term, windows FROM term_windows WHERE term IN ('', 'citi', 'zebra')"))  # noqa: SLF001
    assert counts == {"": 92, "citi": 92, "zebra": 2}  # every window holds "city"; the zebra's two windows
    question = "When did the zebra escape from the city zoo near the council?"
    words = corpus_module.content_terms(question)
    assert corpus._searched_terms(words) == words  # noqa: SLF001 - a small index: every word is searched
    monkeypatch.setattr(corpus_module, "PRUNE_FROM", 10)
    # "city" and "council" (in most windows) go; "near", in none, costs nothing and stays
    assert corpus._searched_terms(words) == ["zebra", "escape", "zoo", "near"]  # noqa: SLF001
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
    reader, writer = Corpus(tmp_path, embedder=FakeEmbedder()), Corpus(tmp_path, embedder=FakeEmbedder())
    writer.add(story(1))  # the first write saves a whole index: the base
    reader.refresh()
    loads = []
    load = vectors.VectorIndex.load
    monkeypatch.setattr(vectors.VectorIndex, "load", lambda path: loads.append(path.name) or load(path))
    monkeypatch.setattr("index.corpus.COMPACT_SHARE", 1e9)  # changes files, however small the base
    writer.add(story(2))
    writer.add(story(3))
    writer.remove(story(1)[0].id)
    reader.refresh()  # three change files, replayed on what it holds
    assert loads == [] and reader.generation == writer.generation
    assert sorted(reader.vectors.ids().tolist()) == sorted(writer.vectors.ids().tolist())
    hits = {reader.sentence_rows([i])[i].article_id for i, _ in reader.dense_search(FakeEmbedder().embed_query("Vale3 parks"), 4)}
    assert story(3)[0].id in hits and story(1)[0].id not in hits
    monkeypatch.setattr("index.corpus.COMPACT_SHARE", 0.0)
    writer.add(story(4))  # a full save: a new base, read again
    reader.refresh()
    assert loads == [f"vectors.{writer.generation}.faiss"] and len(reader.vectors) == len(writer.vectors) == 6
    assert reader.check() == []


def test_a_graph_index_is_saved_whole_before_its_change_files_take_long_to_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("index.vectors.HNSW_FROM", 4)
    monkeypatch.setattr("index.corpus.COMPACT_SHARE", 1e9)
    monkeypatch.setattr("index.corpus.MAX_REPLAYED_GRAPH_VECTORS", 6)
    corpus = Corpus(tmp_path, embedder=FakeEmbedder())
    corpus.add(_council_story(1) + _council_story(2))  # 4 sentences: a graph, and the first save is whole
    assert corpus.vectors.factory == "IDMap2,HNSW32,Flat" and corpus.base == corpus.generation
    corpus.add(_council_story(3))
    corpus.add(_council_story(4))
    assert corpus.generation - corpus.base == 2  # 2, then 4 vectors in change files
    corpus.add(_council_story(5))  # 6 to replay: saved whole instead
    assert corpus.base == corpus.generation
    assert Corpus(tmp_path, embedder=FakeEmbedder()).check() == []
