"""The Milvus store, tested against Milvus Lite (embedded, and as a local server reached over gRPC): the store
contract (``tests/store_conformance.py``), and what only this backend does: collections swapped by a rebuild,
the journal of writes, several processes on one server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")

from pymilvus.exceptions import MilvusException  # noqa: E402

from index.indexer import add_articles  # noqa: E402
from index.store.base import FORMAT, IndexFormatError, IndexMismatchError, IndexReadOnlyError, Store, StoreError  # noqa: E402
from index.store.milvus import MilvusStore  # noqa: E402
from qa.pipeline import Pipeline  # noqa: E402
from tests.conftest import SEED  # noqa: E402
from tests.fakes import FakeEmbedder, FakeReader  # noqa: E402
from tests.store_conformance import QUAKE, STORM, UNDATED, OpenStore, StoreConformance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class TestMilvusLiteStore(StoreConformance):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> OpenStore:
        return lambda read_only=False: MilvusStore(str(tmp_path / "milvus.db"), embedder=FakeEmbedder(),
                                                   read_only=read_only)

    def fail_next_write(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        client = store._client  # noqa: SLF001
        upsert = client.upsert

        def lost_connection(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - at the articles' commit
            if name.endswith("_articles"):
                raise MilvusException(message="connection lost")
            return upsert(name, *args, **kwargs)

        monkeypatch.setattr(client, "upsert", lost_connection)


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[MilvusStore]:
    with closing(MilvusStore(str(tmp_path / "milvus.db"), embedder=FakeEmbedder())) as corpus:
        yield corpus


def test_the_chat_pastes_lists_answers_and_removes_on_milvus(lite: MilvusStore) -> None:
    from html import unescape

    from ui.app import ChatApp

    chat = ChatApp(Pipeline(lite, FakeReader()))
    report, table, stats = (chat.paste("Storm <b>", STORM.text, "2024-05-10")[i] for i in (3, 4, 6))
    assert "added&#58; pasted&#58; “Storm &#60;b&#62;”" in report and "1 articles, 3 sentences" in unescape(stats)
    assert table["data"][0][:3] == ["Storm <b>", "2024-05-10", 3]
    history, asked = chat.add_user_message("How many homes did the storm destroy?", [], [])[1:]
    assert "<strong>57</strong>" in chat.add_bot_message(history, asked, {})[0][-1]["content"]
    article_id = lite.list_articles()[0].id
    assert unescape(chat.remove(article_id)[0]) == "Removed “Storm <b>” (3 sentences)."
    assert lite.stats()["articles"] == 0


def test_rebuild_swaps_in_a_new_sentence_collection(lite: MilvusStore) -> None:
    add_articles(lite, [QUAKE, STORM])
    before = lite._client.describe_alias(lite.sentences)["collection_name"]
    stats = lite.rebuild()
    after = lite._client.describe_alias(lite.sentences)["collection_name"]
    assert after != before and before not in lite._client.list_collections()
    assert (stats["articles"], stats["sentences"]) == (2, 6) and lite.check() == []
    assert Pipeline(lite, FakeReader()).answer("How many homes did the storm in Brindle destroy?").text == "57"


def test_a_rebuild_takes_in_what_another_writer_changes_while_it_embeds(
    lite: MilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_articles(lite, [QUAKE, STORM])
    other = MilvusStore(lite.uri, embedder=FakeEmbedder())  # another writer of the same index
    embed = lite.embedder.embed
    calls = []

    def embed_while_others_write(texts: list[str], progress: bool = False):  # noqa: ANN202
        if not calls:
            add_articles(other, [UNDATED])
            other.remove(QUAKE.id)
        calls.append(len(texts))
        return embed(texts, progress)

    monkeypatch.setattr(lite.embedder, "embed", embed_while_others_write)
    stats = lite.rebuild()
    assert calls == [6, 2]  # the two articles listed, then the one added meanwhile
    assert (stats["articles"], stats["sentences"]) == (2, 5) and lite.check() == []
    assert {a.id for a in lite.list_articles()} == {STORM.id, UNDATED.id}
    answer = Pipeline(lite, FakeReader()).answer("How many survivors were pulled from the mill in Caldmoor?")
    assert (answer.text, answer.article.title) == ("3", "Fire at Caldmoor")


def test_model_mismatch_read_only_and_a_busy_lite_file_say_so(tmp_path: Path) -> None:
    uri = str(tmp_path / "milvus.db")
    MilvusStore(uri, embedder=FakeEmbedder()).close()
    other = type("OtherEmbedder", (FakeEmbedder,), {"name": "test/other", "dimension": 32})()
    with pytest.raises(IndexMismatchError, match="built with test/hashed-words"):
        MilvusStore(uri, embedder=other)
    with closing(MilvusStore(uri, embedder=FakeEmbedder(), read_only=True)) as corpus:
        with pytest.raises(IndexReadOnlyError):
            add_articles(corpus, [QUAKE])
    with pytest.raises(StoreError, match="no index in Milvus"):
        MilvusStore(str(tmp_path / "empty.db"), embedder=FakeEmbedder(), read_only=True)
    busy = str(tmp_path / "busy.db")  # the embedded engine keeps a file this process opened until it exits
    holder = subprocess.Popen([sys.executable, "-c", f"from pymilvus import MilvusClient; MilvusClient({busy!r}); "
                               "import time; print('open', flush=True); time.sleep(60)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="open in another process"):
            MilvusStore(busy, embedder=FakeEmbedder())
    finally:
        holder.kill()
        holder.wait()


# A writer that SIGKILLs itself at one step of its write (the name of the collection written, and which call).
KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from index.indexer import add_articles
    from index.store.milvus.store import MilvusStore
    from tests.fakes import FakeEmbedder
    from tests.store_conformance import QUAKE, STORM
    corpus = MilvusStore({uri!r}, embedder=FakeEmbedder())
    add_articles(corpus, [QUAKE])
    collection, call = corpus.prefix + "_" + {collection!r}, {call!r}
    client = corpus._client
    original = getattr(client, call)
    def dying(name, *args, **kwargs):
        if name == collection:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(name, *args, **kwargs)
    setattr(client, call, dying)
    {operation}
""")


def _killed(uri: str, operation: str, collection: str, call: str) -> None:
    script = KILLED_WRITER.format(root=str(ROOT), uri=uri, operation=operation, collection=collection, call=call)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr


@pytest.mark.parametrize("operation, collection, call", [
    ("add_articles(corpus, [STORM])", "sentences", "insert"),  # texts stored, killed before the sentences
    ("add_articles(corpus, [STORM])", "articles", "upsert"),  # texts and sentences stored, killed before the commit
    ("corpus.remove(QUAKE.id)", "texts", "delete"),  # article row deleted (committed), its rows not yet
])
def test_a_killed_writer_leaves_nothing_seen_and_the_next_open_clears_it(
    tmp_path: Path, operation: str, collection: str, call: str
) -> None:
    uri = str(tmp_path / "milvus.db")  # only the killed writer has opened it (Lite: one process at a time)
    _killed(uri, operation, collection, call)
    with closing(MilvusStore(uri, embedder=FakeEmbedder())) as corpus:  # Lite: the journal is replayed at open
        assert corpus.check() == []
        stats = corpus.stats()
        expected = {"add_articles(corpus, [STORM])": (1, 3), "corpus.remove(QUAKE.id)": (0, 0)}[operation]
        assert (stats["articles"], stats["sentences"]) == expected and "warning" not in stats
        assert add_articles(corpus, [STORM, QUAKE])[0][1] == "added"
        assert corpus.check() == [] and corpus.stats()["sentences"] == 6
        answer = Pipeline(corpus, FakeReader()).answer("How many homes did the storm in Brindle destroy?")
        assert answer.text == "57"


def test_opening_a_lite_file_again_in_the_same_process_leaves_its_writes_alone(
    lite: MilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = lite._client.upsert

    def open_another(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name == lite.articles:  # as the chat opens the index while `qa serve --watch` writes
            MilvusStore(lite.uri, embedder=FakeEmbedder()).close()
        return original(name, *args, **kwargs)

    monkeypatch.setattr(lite._client, "upsert", open_another)
    assert add_articles(lite, [STORM])[0][1] == "added"
    assert lite.check() == [] and lite.stats()["sentences"] == 3


@pytest.fixture
def lite_server(tmp_path: Path) -> Iterator[str]:
    """A Milvus Lite server on a free local port, as a Milvus server is reached: over gRPC."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "server"),
                               "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stderr.read().decode()
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_milvus_server_serves_two_clients_and_clears_a_killed_write(
    lite_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _killed(lite_server, "add_articles(corpus, [STORM])", "articles", "upsert")  # after QUAKE, killed before the storm's commit
    writer = MilvusStore(lite_server, embedder=FakeEmbedder())
    reader = MilvusStore(lite_server, embedder=FakeEmbedder(), read_only=True)
    with closing(writer), closing(reader):
        stats = reader.stats()
        assert (stats["articles"], stats["sentences"]) == (1, 6)  # the storm's sentences are left, not seen
        hits = [i for i, _ in reader.keyword_search("storm Brindle homes", 10)]
        assert len(hits) > 3 and {row.article_id for row in reader.sentence_rows(hits).values()} == {QUAKE.id}
        assert "warning" not in stats  # on a server a recent journal entry may be a write still under way
        monkeypatch.setattr("index.store.milvus.journal.STALE_WRITE_S", 0.0)
        assert "stopped before they finished" in reader.stats()["warning"]
        assert reader.check() == ["1 writes stopped before they finished (the next write clears them)",
                                  "3 sentences belong to no article (left by a stopped write)"]
        add_articles(writer, [UNDATED])  # the next write clears what the killed one left
        assert reader.check() == [] and reader.stats()["sentences"] == 3 + 2
        assert {a.id for a in reader.list_articles()} == {QUAKE.id, UNDATED.id}  # another client sees it at once
        assert add_articles(writer, [STORM])[0][1] == "added" and reader.stats()["articles"] == 3
        writer.drop()
        assert not [name for name in writer._client.list_collections() if name.startswith("qa_")]


@pytest.mark.slow
def test_the_cli_indexes_and_answers_in_milvus(tmp_path: Path) -> None:
    env = {**os.environ, "QA_BACKEND": "milvus", "QA_MILVUS_URI": str(tmp_path / "news.db")}
    qa = [sys.executable, "-m", "ui.cli"]
    added = subprocess.run(qa + ["index", "add", str(SEED)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    stats = subprocess.run(qa + ["index", "stats", "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert '"backend": "milvus"' in stats.stdout and '"sentences": 28' in stats.stdout
    asked = subprocess.run(qa + ["ask", "How many raids?", "--json", "--until", "2015-12-31"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert '"answer": "128"' in asked.stdout, asked.stderr
    none = subprocess.run(qa + ["ask", "How many raids?", "--since", "2016-01-01"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert none.returncode == 0 and "don't say" in none.stdout
    bad = subprocess.run(qa + ["index", "stats", "--backend", "faiss", "--uri", "http://x:1"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("error: a Milvus URI needs the milvus backend")
    anew = subprocess.run(qa + ["index", "rebuild", "--from", str(SEED)], cwd=ROOT, env=env, capture_output=True,
                          text=True)  # the store says why it cannot, in one line, and the index is left alone
    assert anew.returncode == 1 and anew.stderr.count("\n") == 1
    assert anew.stderr.startswith("error: an index in Milvus is not set aside")
    stats = subprocess.run(qa + ["index", "stats", "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert '"articles": 1' in stats.stdout


def test_an_index_of_a_newer_format_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = str(tmp_path / "milvus.db")
    with monkeypatch.context() as later:  # as a later release will make it
        later.setattr("index.store.milvus.collections.FORMAT", FORMAT + 1)
        MilvusStore(uri, embedder=FakeEmbedder()).close()
    for read_only in (False, True):
        with pytest.raises(IndexFormatError, match=f"in Milvus at {uri} was made by a newer release"):
            MilvusStore(uri, embedder=FakeEmbedder(), read_only=read_only)


def test_a_backup_of_milvus_names_the_tool_that_does_it(lite: MilvusStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="milvus-backup"):
        lite.backup(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_a_writer_creating_the_index_a_moment_after_another_joins_it(lite: MilvusStore) -> None:
    """Two processes opening one new index on a server both create its collections: the second finds them made."""
    from index.store.milvus.collections import create_aliased_sentences, create_plain

    behind = lite._client.describe_alias(lite.sentences)["collection_name"]  # noqa: SLF001
    create_plain(lite._client, lite.texts, "texts")  # noqa: SLF001 - already made by the first opener
    create_aliased_sentences(lite._client, lite.sentences, FakeEmbedder())  # noqa: SLF001
    assert lite._client.describe_alias(lite.sentences)["collection_name"] == behind  # noqa: SLF001
    assert [n for n in lite._client.list_collections() if n.startswith(f"{lite.sentences}_")] == [behind]  # noqa: SLF001
    add_articles(lite, [QUAKE])
    assert lite.check() == [] and lite.known([QUAKE.id]) == {QUAKE.id}
