"""Embedding on a Dask cluster: a scheduler and two workers on 127.0.0.1 (nothing listens beyond loopback),
checked against a local add of the same files."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from index.cluster import ClusterPreparer  # noqa: E402
from index.ingest import add_files  # noqa: E402
from index.store.faiss_sqlite import FaissSqliteStore  # noqa: E402
from qa.pipeline import Pipeline  # noqa: E402
from tests.conftest import ROOT, SEED, free_port  # noqa: E402
from tests.fakes import FakeEmbedder, FakeReader  # noqa: E402
from tests.local_cluster import LocalCluster  # noqa: E402
from tests.store_conformance import QUAKE, STORM, UNDATED  # noqa: E402


class SlowEmbedder(FakeEmbedder):
    """``FakeEmbedder`` that takes a while over each batch, so that a worker can be killed while it works."""

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        time.sleep(0.3)
        return super().embed(texts, progress)


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    running = LocalCluster(workers=2)
    try:
        yield running
    finally:
        running.stop()


def article_files(folder: Path) -> list[tuple[Path, str]]:
    """The seed article and three short ones, as files."""
    folder.mkdir()
    (folder / SEED.name).write_text(SEED.read_text())
    for n, article in enumerate((QUAKE, STORM, UNDATED)):
        (folder / f"{n}.md").write_text(f"# {article.title}\n\n{'date ' + article.date if article.date else ''}\n\n{article.text}\n")
    return [(path, path.name) for path in sorted(folder.iterdir())]


def index_contents(store: FaissSqliteStore) -> tuple:
    """What an index holds: its articles, their sentences and the vectors of each, in order."""
    articles = store.list_articles()
    rows = [row for a in articles for row in store.article_sentences(a.id)]
    vectors = np.stack([store.vectors.index.reconstruct(row.id) for row in rows])
    return [(a.id, a.title, a.date, a.sentences, a.duplicate_of) for a in articles], rows, vectors


def test_a_cluster_add_makes_the_same_index_as_a_local_one(cluster: LocalCluster, tmp_path: Path) -> None:
    files = article_files(tmp_path / "articles")
    with closing(FaissSqliteStore(tmp_path / "local", embedder=FakeEmbedder())) as local:
        add_files(local, files)
        expected = index_contents(local)
    preparer = ClusterPreparer(cluster.address)
    with closing(FaissSqliteStore(tmp_path / "cluster", embedder=FakeEmbedder())) as store:
        outcomes = add_files(store, files, prepared_by=preparer)
        assert [o.status for o in outcomes] == ["added"] * 4
        articles, rows, vectors = index_contents(store)
        assert (articles, rows) == expected[:2] and np.allclose(vectors, expected[2], atol=1e-6)
        assert store.check() == [] and store.stats()["vectors"] == len(rows)
        assert Pipeline(store, FakeReader()).answer("How many raids?").text == "128"
        assert [o.status for o in add_files(store, files, prepared_by=preparer)] == ["unchanged"] * 4
    preparer.close()


def test_a_worker_killed_mid_run_loses_nothing(cluster: LocalCluster, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("index.cluster.BATCH_SENTENCES", 3)  # a task per short article: several on each worker
    files = article_files(tmp_path / "articles")
    files += [(path, path.name) for path in _more_articles(tmp_path / "more", 8)]
    preparer = ClusterPreparer(cluster.address)
    with closing(FaissSqliteStore(tmp_path / "index", embedder=SlowEmbedder())) as store:
        added: list = []
        adding = threading.Thread(target=lambda: added.extend(add_files(store, files, prepared_by=preparer)))
        adding.start()
        time.sleep(1.0)  # each worker is on its first batches
        cluster.workers[1].send_signal(signal.SIGKILL)
        adding.join(timeout=120)
        assert [o.status for o in added] == ["added"] * len(files)
        assert store.stats()["articles"] == len(files) and store.check() == []
    preparer.close()


def _more_articles(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    for n in range(count):
        (folder / f"town{n}.txt").write_text(f"Town {n}\n\nThe council of Vale{n} met on Monday. It approved {n + 2} parks.\n")
    return sorted(folder.iterdir())


def test_a_scheduler_that_is_not_there_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    from ui.cli import main

    monkeypatch.setattr("index.cluster.CONNECT_TIMEOUT_S", 1)
    code = main(["index", "add", "--index", str(tmp_path / "index"), "--cluster", f"tcp://127.0.0.1:{free_port()}",
                 str(SEED)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert err.count("\n") == 1


def test_without_a_cluster_dask_is_never_imported() -> None:
    script = ("import sys, ui.cli, index.ingest, index.indexer, qa.pipeline; "
              "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]")
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT).returncode == 0
