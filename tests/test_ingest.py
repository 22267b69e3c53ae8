from pathlib import Path

import pytest

from index import ingest
from index.ingest import add_files
from index.store.faiss_sqlite import FaissSqliteStore

pytestmark = pytest.mark.slow


def test_files_are_added_in_batches_and_reported(index_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "BATCH", 2)
    files = []
    for n in range(5):
        path = tmp_path / f"story{n}.txt"
        path.write_text(f"Story {n}\n\nThe town counted {n + 10} new houses this year.\n")
        files.append((path, f"upload/story{n}.txt"))
    big = tmp_path / "big.txt"
    big.write_text("x" * 2000)
    steps: list[str] = []
    outcomes = add_files(FaissSqliteStore(index_dir), files + [(big, "big.txt")], limit=1000,
                         progress=lambda done, what: steps.append(what))
    assert [o.status for o in outcomes if o.name.startswith("upload/")] == ["added"] * 5
    [too_big] = [o for o in outcomes if o.name == "big.txt"]
    assert too_big.status == "error" and "over the" in too_big.detail
    assert sum(s.startswith("Indexing") for s in steps) == 3 and steps[-1] == "Done"
    corpus = FaissSqliteStore(index_dir)
    sources = {a.source for a in corpus.list_articles()}
    assert {f"upload/story{n}.txt" for n in range(5)} <= sources  # the shown name, not the temporary path
    assert add_files(corpus, files[:1])[0].line() == "already indexed: upload/story0.txt: “Story 0”"
