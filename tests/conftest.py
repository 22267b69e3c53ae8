"""Shared fixtures: a small index over the seed article, with the real models or with fakes.

Tiers: tests that load the real embedder or reader are marked ``slow`` (so is every test using
``seeded_dir``, ``index_dir`` or ``real_pipeline``: see ``pytest_collection_modifyitems``); the rest use
``fake_pipeline`` (``tests/fakes.py``) or no model at all, and ``pytest -m "not slow"`` runs them in seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from index.indexer import add_articles

if TYPE_CHECKING:
    from qa.pipeline import Pipeline

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "data" / "articles" / "000_057363c6d6ccf170.txt"

QUAKE = """date 2023-02-07
# Earthquake strikes southern Turkey

A magnitude 7.8 earthquake struck southern Turkey near the Syrian border on Monday.

Rescue teams from 24 countries pulled survivors from collapsed buildings in Gaziantep.

The World Health Organization said up to 23 million people could be affected.
"""


# Fixtures that embed with the real model: a test using one is in the slow tier.
REAL_MODEL_FIXTURES = frozenset({"seeded_dir", "index_dir", "real_pipeline", "app_dir"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index folder holding the seed article, built once per session."""
    from index.articles import read_file
    from index.store.faiss_sqlite import FaissSqliteStore

    directory = tmp_path_factory.mktemp("seeded")
    corpus = FaissSqliteStore(directory)
    add_articles(corpus, read_file(SEED))
    corpus.close()
    return directory


def private_copy(folder: Path, target: Path) -> Path:
    """A copy of a shared index folder at ``target``, for one test to change."""
    shutil.copytree(folder, target)
    return target


@pytest.fixture
def index_dir(seeded_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded index that a test may change."""
    return private_copy(seeded_dir, tmp_path / "index")


@pytest.fixture
def real_pipeline(index_dir: Path) -> Iterator["Pipeline"]:
    """The shipped reader over a private copy of the seeded index."""
    from index.store.faiss_sqlite import FaissSqliteStore
    from qa.pipeline import Pipeline, default_reader

    with Pipeline(FaissSqliteStore(index_dir), default_reader()) as pipeline:
        yield pipeline


@pytest.fixture(scope="session")
def fake_seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index folder holding the seed article embedded by ``FakeEmbedder``."""
    from index.articles import read_file
    from index.store.faiss_sqlite import FaissSqliteStore
    from tests.fakes import FakeEmbedder

    directory = tmp_path_factory.mktemp("fake-seeded")
    with closing(FaissSqliteStore(directory, embedder=FakeEmbedder())) as corpus:
        add_articles(corpus, read_file(SEED))
    return directory


@pytest.fixture
def fake_index_dir(fake_seeded_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the fake-embedded seed index, to change."""
    return private_copy(fake_seeded_dir, tmp_path / "fake-index")


@pytest.fixture
def fake_pipeline(fake_index_dir: Path) -> Iterator["Pipeline"]:
    """``FakeReader`` over a private copy of the fake-embedded seed index: no model loads."""
    from tests.fakes import fake_pipeline_over

    with fake_pipeline_over(fake_index_dir) as pipeline:
        yield pipeline


@pytest.fixture
def quake_file(tmp_path: Path) -> Path:
    path = tmp_path / "quake.md"
    path.write_text(QUAKE)
    return path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(pipeline: "Pipeline", **options) -> Iterator[str]:  # noqa: ANN003
    """The web chat over ``pipeline`` on a free local port, served as ``qa serve`` serves it; yields its URL.

    ``options`` go to ``ui.server.server_app`` (``read_only``, ``auth``).
    """
    import threading
    import time

    import uvicorn

    from ui.server import server_app

    port = free_port()
    app = server_app(pipeline, **options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.readers.close()  # as ``qa serve`` does: the questions still waiting are written
