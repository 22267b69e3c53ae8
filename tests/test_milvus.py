"""The index in Milvus, tested against Milvus Lite (embedded, and as a local server reached over gRPC), beside
the FAISS backend where both must behave alike."""

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
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")

from index.articles import Article, make_article, read_file  # noqa: E402
from index.backends import Backend  # noqa: E402
from index.corpus import CorpusError, IndexMismatchError, IndexReadOnlyError, SearchFilter  # noqa: E402
from index.milvus import TEXT_PART, MilvusCorpus  # noqa: E402
from index.text import stemmed_terms  # noqa: E402
from qa.pipeline import Pipeline  # noqa: E402
from tests.conftest import SEED  # noqa: E402
from tests.fakes import FakeEmbedder, FakeReader  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def article(title: str, text: str, day: str | None, source: str) -> Article:
    return make_article(title, text, source, day)


QUAKE = article("Quake in Lerida", "Rescuers in Lerida pulled 14 survivors from the rubble on Monday. The quake struck at "
                "dawn. Officials said 212 homes were destroyed.", "2024-03-04", "https://news.example/quake")
STORM = article("Storm hits Brindle", "The storm in Brindle destroyed 57 homes on Friday. Rescuers pulled 9 survivors "
                "from the rubble. Power was cut to the whole town.", "2024-05-10", "https://wire.example/storm")
UNDATED = article("Fire at Caldmoor", "Rescuers pulled 3 survivors from the burning mill in Caldmoor. The fire "
                  "destroyed 8 homes.", None, "notes/fire.txt")


@pytest.fixture(params=["faiss", "milvus"])
def any_corpus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """An empty index on each backend, with the fake embedder."""
    with closing(Backend(request.param).open(tmp_path / "index", embedder=FakeEmbedder())) as corpus:
        yield corpus


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[MilvusCorpus]:
    with closing(MilvusCorpus(str(tmp_path / "milvus.db"), embedder=FakeEmbedder())) as corpus:
        yield corpus


def test_both_backends_add_answer_list_and_remove(any_corpus) -> None:  # noqa: ANN001
    added = any_corpus.add(read_file(SEED) + [QUAKE, STORM])
    assert [status for _, status in added] == ["added"] * 3
    assert [status for _, status in any_corpus.add([QUAKE])] == ["unchanged"]
    stats = any_corpus.stats()
    assert (stats["articles"], stats["sentences"], stats["vectors"]) == (3, 28 + 3 + 3, 28 + 3 + 3)
    assert "warning" not in stats and any_corpus.check() == []
    answer = Pipeline(any_corpus, FakeReader()).answer("How many raids?")
    assert answer.text == "128" and "128 raids" in answer.sentence and answer.article.date == "2015-11-17"
    assert [a.title for a in any_corpus.list_articles()][1:] == ["Quake in Lerida", "Storm hits Brindle"]
    removed = any_corpus.remove(QUAKE.id)
    assert removed is not None and removed.sentences == 3
    assert any_corpus.remove(QUAKE.id) is None
    assert any_corpus.stats()["articles"] == 2 and any_corpus.check() == []
    assert QUAKE.id not in {a.id for a in any_corpus.list_articles()}


def test_both_backends_filter_searches_by_date_and_source(any_corpus) -> None:  # noqa: ANN001
    any_corpus.add([QUAKE, STORM, UNDATED])
    pipeline = Pipeline(any_corpus, FakeReader())
    question = "How many survivors did rescuers pull from the rubble?"
    found = {p.article_id for p in pipeline.retrieve(question)}
    assert found == {QUAKE.id, STORM.id, UNDATED.id}
    cases = {
        SearchFilter(since=date(2024, 4, 1)): {STORM.id},
        SearchFilter(until=date(2024, 4, 1)): {QUAKE.id},  # the undated article has no date to compare
        SearchFilter(since=date(2024, 3, 4), until=date(2024, 3, 4)): {QUAKE.id},
        SearchFilter(source="https://wire.example/"): {STORM.id},
        SearchFilter(source="notes/"): {UNDATED.id},
        SearchFilter(source="https://news.example/", since=date(2024, 4, 1)): set(),
        SearchFilter(source="https://news_example/"): set(),  # "_" is a wildcard to Milvus's like, not here
    }
    for where, expected in cases.items():
        assert {p.article_id for p in pipeline.retrieve(question, where=where)} == expected, where
        keyword = {any_corpus.sentence_rows([i])[i].article_id for i, _ in any_corpus.keyword_search(question, 20, where)}
        assert keyword == expected, where
    answer = pipeline.answer("How many homes were destroyed?", where=SearchFilter(since=date(2024, 4, 1)))
    assert answer.text == "57" and answer.article.title == "Storm hits Brindle"


def test_both_backends_count_a_question_s_words_in_windows_and_find_them(any_corpus) -> None:  # noqa: ANN001
    any_corpus.add([QUAKE, STORM, UNDATED])
    rescuers, rubble, quake, zebra = (stemmed_terms(word).pop() for word in ("rescuers", "rubble", "quake", "zebra"))
    counts, total = any_corpus.term_windows([rescuers, rubble, quake, zebra])
    # 8 windows: each sentence with its neighbours; a word counts in the window of its sentence and of each neighbour.
    assert total == 8
    assert {term: counts.get(term, 0) for term in (rescuers, rubble, quake, zebra)} == {
        rescuers: 7, rubble: 5, quake: 3, zebra: 0}
    sentences = any_corpus.article_sentences(STORM.id)
    held = any_corpus.window_terms([s.id for s in sentences], {rescuers, rubble, quake})
    assert held == {sentences[0].id: {rescuers, rubble}, sentences[1].id: {rescuers, rubble},
                    sentences[2].id: {rescuers, rubble}}
    power = any_corpus.window_terms([sentences[2].id], stemmed_terms("whole town power"))
    assert power == {sentences[2].id: stemmed_terms("whole town power")}


def test_long_articles_are_stored_in_parts(lite: MilvusCorpus) -> None:
    text = " ".join(f"Sentence number {n} of the long report says {n * 7} boats came back." for n in range(700))
    assert len(text) > 2 * TEXT_PART
    long = article("Long report", text, "2024-01-02", "long.txt")
    lite.add([long])
    assert lite.article_text(long.id) == text
    assert lite.article(long.id).text == text
    sentences = lite.article_sentences(long.id)
    assert len(sentences) == 700 and [s.position for s in sentences] == list(range(700))
    window = lite.neighbours(sentences[0], 1)
    assert [s.position for s in window] == [0, 1]


def test_near_duplicates_and_feeds_are_kept_in_milvus(lite: MilvusCorpus) -> None:
    copy = article("Quake in Lerida (wire)", QUAKE.text + " More to follow.", "2024-03-04", "https://wire.example/quake")
    lite.add([QUAKE, copy, STORM])
    assert lite.first_copies([QUAKE.id, copy.id, STORM.id]) == {QUAKE.id: QUAKE.id, copy.id: QUAKE.id, STORM.id: STORM.id}
    assert [c.id for c in lite.copies(copy.id)] == [QUAKE.id, copy.id]
    assert lite.first_copy(copy.id).id == QUAKE.id and lite.stats()["near_duplicates"] == 1
    lite.remove(QUAKE.id)  # the remaining copy becomes the first
    assert lite.first_copy(copy.id) is None and lite.stats()["near_duplicates"] == 0
    lite.record_feed("https://news.example/rss", ["https://news.example/a", "https://news.example/b"])
    lite.record_feed("https://news.example/rss", ["https://news.example/b", "https://news.example/c"])
    assert lite.feeds() == ["https://news.example/rss"]
    assert lite.feed_links("https://news.example/rss") == {f"https://news.example/{x}" for x in "abc"}


def test_the_chat_pastes_lists_answers_and_removes_on_milvus(lite: MilvusCorpus) -> None:
    from html import unescape

    from ui.app import ChatApp

    chat = ChatApp(Pipeline(lite, FakeReader()))
    report, table, stats = (chat.paste("Storm <b>", STORM.text, "2024-05-10")[i] for i in (3, 4, 6))
    assert "Added “Storm &#60;b&#62;”" in report and "1 articles, 3 sentences" in unescape(stats)
    assert table["data"][0][:3] == ["Storm <b>", "2024-05-10", 3]
    history, asked = chat.add_user_message("How many homes did the storm destroy?", [], [])[1:]
    assert "<strong>57</strong>" in chat.add_bot_message(history, asked)[-1]["content"]
    article_id = lite.list_articles()[0].id
    assert unescape(chat.remove(article_id)[0]) == "Removed “Storm <b>” (3 sentences)."
    assert lite.stats()["articles"] == 0


def test_rebuild_swaps_in_a_new_sentence_collection(lite: MilvusCorpus) -> None:
    lite.add([QUAKE, STORM])
    before = lite._client.describe_alias(lite.sentences)["collection_name"]
    stats = lite.rebuild()
    after = lite._client.describe_alias(lite.sentences)["collection_name"]
    assert after != before and before not in lite._client.list_collections()
    assert (stats["articles"], stats["sentences"]) == (2, 6) and lite.check() == []
    assert Pipeline(lite, FakeReader()).answer("How many homes did the storm in Brindle destroy?").text == "57"


def test_a_rebuild_takes_in_what_another_writer_changes_while_it_embeds(
    lite: MilvusCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite.add([QUAKE, STORM])
    other = MilvusCorpus(lite.uri, embedder=FakeEmbedder())  # another writer of the same index
    embed = lite.embedder.embed
    calls = []

    def embed_while_others_write(texts: list[str], progress: bool = False):  # noqa: ANN202
        if not calls:
            other.add([UNDATED])
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
    MilvusCorpus(uri, embedder=FakeEmbedder()).close()
    other = type("OtherEmbedder", (FakeEmbedder,), {"name": "test/other", "dimension": 32})()
    with pytest.raises(IndexMismatchError, match="built with test/hashed-words"):
        MilvusCorpus(uri, embedder=other)
    with closing(MilvusCorpus(uri, embedder=FakeEmbedder(), read_only=True)) as corpus:
        with pytest.raises(IndexReadOnlyError):
            corpus.add([QUAKE])
    with pytest.raises(CorpusError, match="no index in Milvus"):
        MilvusCorpus(str(tmp_path / "empty.db"), embedder=FakeEmbedder(), read_only=True)
    busy = str(tmp_path / "busy.db")  # the embedded engine keeps a file this process opened until it exits
    holder = subprocess.Popen([sys.executable, "-c", f"from pymilvus import MilvusClient; MilvusClient({busy!r}); "
                               "import time; print('open', flush=True); time.sleep(60)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(CorpusError, match="open in another process"):
            MilvusCorpus(busy, embedder=FakeEmbedder())
    finally:
        holder.kill()
        holder.wait()


# A writer that SIGKILLs itself at one step of its write (the name of the collection written, and which call).
KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from index.milvus import MilvusCorpus
    from tests.fakes import FakeEmbedder
    from tests.test_milvus import QUAKE, STORM
    corpus = MilvusCorpus({uri!r}, embedder=FakeEmbedder())
    corpus.add([QUAKE])
    collection, call = corpus.prefix + "_" + {collection!r}, {call!r}
    client = corpus._client
    original = getattr(client, call)
    def dying(name, *args, **kwargs):
        if name == collection:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(name, *args, **kwargs)
    setattr(client, call, dying)
    corpus.{operation}
""")


def _killed(uri: str, operation: str, collection: str, call: str) -> None:
    script = KILLED_WRITER.format(root=str(ROOT), uri=uri, operation=operation, collection=collection, call=call)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr


@pytest.mark.parametrize("operation, collection, call", [
    ("add([STORM])", "sentences", "insert"),  # texts stored, killed before the sentences
    ("add([STORM])", "articles", "upsert"),  # texts and sentences stored, killed before the commit
    ("remove(QUAKE.id)", "texts", "delete"),  # article row deleted (committed), its rows not yet
])
def test_a_killed_writer_leaves_nothing_seen_and_the_next_open_clears_it(
    tmp_path: Path, operation: str, collection: str, call: str
) -> None:
    uri = str(tmp_path / "milvus.db")  # only the killed writer has opened it (Lite: one process at a time)
    _killed(uri, operation, collection, call)
    with closing(MilvusCorpus(uri, embedder=FakeEmbedder())) as corpus:  # Lite: the journal is replayed at open
        assert corpus.check() == []
        stats = corpus.stats()
        expected = {"add([STORM])": (1, 3), "remove(QUAKE.id)": (0, 0)}[operation]
        assert (stats["articles"], stats["sentences"]) == expected and "warning" not in stats
        assert corpus.add([STORM, QUAKE])[0][1] == "added"
        assert corpus.check() == [] and corpus.stats()["sentences"] == 6
        answer = Pipeline(corpus, FakeReader()).answer("How many homes did the storm in Brindle destroy?")
        assert answer.text == "57"


def test_opening_a_lite_file_again_in_the_same_process_leaves_its_writes_alone(
    lite: MilvusCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = lite._client.upsert

    def open_another(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name == lite.articles:  # as the chat opens the index while `qa serve --watch` writes
            MilvusCorpus(lite.uri, embedder=FakeEmbedder()).close()
        return original(name, *args, **kwargs)

    monkeypatch.setattr(lite._client, "upsert", open_another)
    assert lite.add([STORM])[0][1] == "added"
    assert lite.check() == [] and lite.stats()["sentences"] == 3


@pytest.fixture
def lite_server(tmp_path: Path) -> Iterator[str]:
    """A Milvus Lite server on a free local port, as a Milvus server is reached: over gRPC."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "server"),
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    _killed(lite_server, "add([STORM])", "articles", "upsert")  # after QUAKE, killed before the storm's commit
    writer = MilvusCorpus(lite_server, embedder=FakeEmbedder())
    reader = MilvusCorpus(lite_server, embedder=FakeEmbedder(), read_only=True)
    with closing(writer), closing(reader):
        stats = reader.stats()
        assert (stats["articles"], stats["sentences"]) == (1, 6)  # the storm's sentences are left, not seen
        hits = [i for i, _ in reader.keyword_search("storm Brindle homes", 10)]
        assert len(hits) > 3 and {row.article_id for row in reader.sentence_rows(hits).values()} == {QUAKE.id}
        assert "warning" not in stats  # on a server a recent journal entry may be a write still under way
        monkeypatch.setattr("index.milvus.STALE_WRITE_S", 0.0)
        assert "stopped before they finished" in reader.stats()["warning"]
        assert reader.check() == ["1 writes stopped before they finished (the next write clears them)",
                                  "3 sentences belong to no article (left by a stopped write)"]
        writer.add([UNDATED])  # the next write clears what the killed one left
        assert reader.check() == [] and reader.stats()["sentences"] == 3 + 2
        assert {a.id for a in reader.list_articles()} == {QUAKE.id, UNDATED.id}  # another client sees it at once
        assert writer.add([STORM])[0][1] == "added" and reader.stats()["articles"] == 3
        writer.drop()
        assert not [name for name in writer._client.list_collections() if name.startswith("qa_")]


@pytest.mark.slow
def test_the_cli_indexes_and_answers_in_milvus(tmp_path: Path) -> None:
    env = {**os.environ, "QA_BACKEND": "milvus", "QA_MILVUS_URI": str(tmp_path / "news.db")}
    qa = [sys.executable, "-m", "qa.cli"]
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
