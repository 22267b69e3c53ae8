"""Feeds and web pages, served by a local HTTP server on 127.0.0.1 (nothing leaves the machine)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from index.feeds import parse_feed
from index.ingest import add_sources
from index.store.faiss_sqlite import FaissSqliteStore
from index.web import FetchError, fetch
from qa.pipeline import Pipeline, default_reader
from ui.cli import main

TOWNS = ["Alder", "Birch", "Cedar", "Dunmore", "Elmstead", "Fenwick", "Glenrock", "Hollow"]


def page(n: int) -> str:
    town = TOWNS[n % len(TOWNS)]
    return f"""<html><head><title>{town} opens a library | Local News</title>
<meta property="article:published_time" content="2026-11-{10 + n:02d}T08:00:00Z"></head><body>
<nav><a href="/">Home</a></nav><article><h1>{town} opens a library</h1>
<p>The town of {town} opened its new library on Saturday with {100 + n} shelves of books.</p>
<p>The mayor of {town} said the building cost {n + 2} million euros and took two years to finish.</p>
<p>Volunteers from {town} helped carry the first books into the reading room in the morning.</p>
</article><footer>Copyright Local News</footer></body></html>"""


class Site:
    """What the local server serves: a feed whose items can grow, pages, and misbehaving addresses."""

    def __init__(self) -> None:
        self.items = [1, 2, 3]
        self.broken = True  # the feed also lists a page that answers 404

    def feed(self, base: str) -> str:
        links = [(f"{base}/a/{n}.html", f"{TOWNS[n % len(TOWNS)]} opens a library") for n in self.items]
        if self.broken:
            links.append((f"{base}/gone.html", "A page that is gone"))
        items = "".join(f"<item><title>{t}</title><link>{link}</link><pubDate>Mon, 16 Nov 2026 08:00:00 GMT</pubDate></item>"
                        for link, t in links)
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Local News</title>{items}</channel></rss>'


@pytest.fixture
def site() -> Iterator[tuple[str, Site]]:
    content = Site()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

        def send(self, status: int, body: str | bytes, kind: str = "text/html", headers: dict | None = None) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            base = f"http://127.0.0.1:{self.server.server_port}"
            if self.path == "/feed.xml":
                self.send(200, content.feed(base), "application/rss+xml")
            elif self.path.startswith("/a/"):
                self.send(200, page(int(self.path[3:].split(".")[0])))
            elif self.path == "/loop":
                self.send(302, "", headers={"Location": "/loop"})
            elif self.path == "/to-file":
                self.send(302, "", headers={"Location": "file:///etc/passwd"})
            elif self.path == "/slow":
                time.sleep(3)
                self.send(200, page(1))
            elif self.path == "/huge.html":
                self.send(200, b"<p>" + b"x" * 300_000 + b"</p>")
            elif self.path == "/menu.html":
                self.send(200, "<html><body><nav><a href='/'>Home</a></nav></body></html>")
            elif self.path == "/image.png":
                self.send(200, b"\x89PNG....", "image/png")
            else:
                self.send(404, "not here")

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - a client that gave up on /slow
            pass

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", content
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_feed_then_sync_adds_only_new_items(site: tuple[str, Site], index_dir: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    base, content = site
    assert main(["index", "add", "--index", str(index_dir), f"{base}/feed.xml"]) == 1  # the 404 item
    out, err = capsys.readouterr()
    assert out.count("added: ") == 3 and f"feed: {base}/feed.xml: 4 items, 4 not read before" in out
    assert err.strip() == f"error: {base}/gone.html: HTTP 404 Not Found"
    corpus = FaissSqliteStore(index_dir)
    assert corpus.feeds() == [f"{base}/feed.xml"]
    library = next(a for a in corpus.list_articles() if a.title == "Birch opens a library")
    assert (library.date, library.source) == ("2026-11-11", f"{base}/a/1.html")

    content.items += [4, 5]
    content.broken = False
    assert main(["index", "sync", "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("added: ") == 2 and "5 items, 2 not read before" in out
    assert FaissSqliteStore(index_dir).stats()["articles"] == 1 + 5
    assert main(["index", "sync", "--index", str(index_dir)]) == 0
    assert "0 added from 1 feeds" in capsys.readouterr().out


@pytest.mark.slow
def test_a_page_and_a_saved_feed_file(site: tuple[str, Site], index_dir: Path, tmp_path: Path) -> None:
    base, content = site
    corpus = FaissSqliteStore(index_dir)
    [outcome] = add_sources(corpus, [f"{base}/a/6.html"])
    assert outcome.line() == f"added: {base}/a/6.html: “Glenrock opens a library”"
    saved = tmp_path / "news.xml"
    content.broken = False
    saved.write_text(content.feed(base))
    outcomes = add_sources(corpus, [str(saved)])
    assert [o.status for o in outcomes] == ["feed", "added", "added", "added"]
    assert corpus.feeds() == [str(saved)]


@pytest.mark.slow
def test_bad_addresses_are_one_line_each_and_the_rest_goes_on(site: tuple[str, Site], index_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = site
    monkeypatch.setattr("index.web.TIMEOUT_S", 1.0)
    corpus = FaissSqliteStore(index_dir)
    sources = [f"{base}/loop", f"{base}/to-file", f"{base}/slow", f"{base}/huge.html", f"{base}/image.png",
               f"{base}/menu.html", "http://127.0.0.1:9/closed", f"{base}/a/7.html"]
    outcomes = add_sources(corpus, sources, limit=100_000)
    reasons = {o.name.removeprefix(base): o.detail for o in outcomes if o.status == "error"}
    assert reasons == {
        "/loop": "more than 5 redirects",
        "/to-file": "only http(s) addresses are read, not file:///etc/passwd",
        "/slow": "too slow: no answer within 1 s",
        "/huge.html": "0.3 MB is over the 0.10 MB limit",
        "/image.png": "not a web page or feed (image/png)",
        "/menu.html": "no article text found on the page",
        "http://127.0.0.1:9/closed": reasons.get("http://127.0.0.1:9/closed", ""),
    }
    assert reasons["http://127.0.0.1:9/closed"].startswith("cannot reach it")
    assert [o.status for o in outcomes if o.status != "error"] == ["added"]
    assert corpus.stats()["articles"] == 2


def test_only_http_is_fetched() -> None:
    with pytest.raises(FetchError, match="only http"):
        fetch("file:///etc/passwd")
    assert parse_feed(b"<html><body>not a feed</body></html>") is None


@pytest.mark.slow
def test_the_chat_adds_a_feed_by_its_address(site: tuple[str, Site], index_dir: Path) -> None:
    from html import unescape

    from ui.app import ChatApp

    base, _ = site
    pipeline = Pipeline(FaissSqliteStore(index_dir), default_reader())
    assert "refused: 127.0.0.1 is not a public address" in unescape(ChatApp(pipeline).add_address(f"{base}/feed.xml")[1])
    chat = ChatApp(pipeline, private_urls=True)  # qa serve --allow-private-urls: this test's site is on loopback
    cleared, report, *_ = chat.add_address(f"  {base}/feed.xml ")
    assert cleared == "" and report.startswith("3 added, 1 failed")
    assert "gone&#46;html" in report and "HTTP 404" in report
    assert "http&#58;//" in chat.add_address("ftp://example.com/feed")[1]


@pytest.mark.slow
def test_a_watched_folder_is_indexed_once_files_stop_changing(index_dir: Path, tmp_path: Path) -> None:
    from index.watch import FolderWatch

    folder = tmp_path / "inbox"
    folder.mkdir()
    watch = FolderWatch(FaissSqliteStore(index_dir), folder)
    story = folder / "story.txt"
    story.write_text("Ferry news\n\nThe ferry carried 312 passengers")
    assert watch.poll() == []  # seen once: it may still be being written
    with story.open("a") as fh:
        fh.write(" on Sunday.\n")
    assert watch.poll() == []  # it changed since: still not read
    [outcome] = watch.poll()
    assert outcome.status == "added" and "on Sunday" in FaissSqliteStore(index_dir).article(outcome.article_id).text
    assert watch.poll() == []  # unchanged files are not read again
    (folder / "photo.png").write_bytes(b"\x89PNG")  # not an article file: never read
    (folder / "bad.json").write_text("{")
    watch.poll()
    assert [o.line().split(":")[0] for o in watch.poll()] == ["error"]


@pytest.mark.slow
def test_serve_watch_indexes_dropped_files_into_the_served_index(index_dir: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    import argparse

    from index.store.faiss_sqlite import FaissSqliteStore
    from qa import answer
    from ui.cli import CliError, _watch_in_background

    folder = tmp_path / "inbox"
    folder.mkdir()
    options = {"index": str(index_dir), "backend": None, "uri": None, "interval": 0.1, "read_only": False}
    with pytest.raises(CliError, match="is not a folder"):
        _watch_in_background(argparse.Namespace(watch=str(tmp_path / "nowhere"), **options))
    with pytest.raises(CliError, match="read-only"):
        _watch_in_background(argparse.Namespace(watch=str(folder), **{**options, "read_only": True}))
    stop = _watch_in_background(argparse.Namespace(watch=str(folder), **options))
    try:
        (folder / "ferry.txt").write_text("Ferry news\n\nThe ferry carried 312 passengers on Sunday.\n")
        deadline = time.monotonic() + 60
        while FaissSqliteStore(index_dir).stats()["articles"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
    assert f"added: {folder / 'ferry.txt'}: “Ferry news”" in capsys.readouterr().out
    assert answer("How many passengers did the ferry carry?", index_dir=index_dir).text == "312"
