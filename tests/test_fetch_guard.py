"""The fetch guard: a server never reads its own network. Names resolve through a stub and requests go to a
stub transport (``httpx.MockTransport``), so nothing leaves the process."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from html import unescape
from urllib.parse import parse_qs

import httpx
import pytest

from index.ingest import add_sources
from index.web import FetchError, fetch
from qa.pipeline import Pipeline
from tests.test_api import client_for
from tests.test_feeds import page
from ui.app import ChatApp
from ui.cli import main

PUBLIC = "93.184.216.34"  # what public.test resolves to: an address on the public internet
NAMES = {"public.test": PUBLIC, "evil.test": "127.0.0.1", "metadata.test": "169.254.169.254"}
REFUSED = {  # what a server must not read: address -> why
    "http://127.0.0.1/": "loopback",
    "http://10.0.0.1/": "private 10.x",
    "http://172.16.0.1/": "private 172.16.x",
    "http://192.168.1.1/": "private 192.168.x",
    "http://169.254.169.254/latest/meta-data/": "link-local (cloud metadata)",
    "http://[::1]/": "IPv6 loopback",
    "http://evil.test/": "a name that resolves to loopback",
    "http://metadata.test/latest/": "a name that resolves to link-local",
}


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Stub DNS and a stub web: every address serves a news page, ``/to?url=U`` redirects to U. Yields the
    hosts requests were sent to."""
    sent: list[str] = []

    def getaddrinfo(host: str, port: int, *args, **kwargs) -> list:  # noqa: ANN002, ANN003
        if host not in NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (NAMES[host], port))]

    def serve(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.host)
        if request.url.path == "/to":
            return httpx.Response(302, headers={"Location": parse_qs(request.url.query.decode())["url"][0]})
        return httpx.Response(200, text=page(len(sent)), headers={"Content-Type": "text/html"})

    monkeypatch.setattr("index.web.socket.getaddrinfo", getaddrinfo)
    monkeypatch.setattr("index.web.TRANSPORT", httpx.MockTransport(serve))
    yield sent


@pytest.mark.parametrize("address", REFUSED)
def test_a_server_refuses_private_addresses_and_redirects_to_them(web: list[str], address: str) -> None:
    for url in (address, f"http://public.test/to?url={address}"):
        with pytest.raises(FetchError, match="refused: .* is not a public address"):
            fetch(url, private=False)
    assert web == [PUBLIC]  # only the public hop was ever sent; never a refused address
    assert fetch(address).content  # the command line's own user may read them


def test_a_public_address_is_read_at_the_address_that_was_checked(web: list[str]) -> None:
    fetched = fetch("http://public.test/story.html", private=False)
    assert web == [PUBLIC] and fetched.url == "http://public.test/story.html" and b"library" in fetched.content


def test_the_chat_and_the_api_refuse_and_the_command_line_reads(web: list[str], fake_pipeline: Pipeline) -> None:
    report = unescape(ChatApp(fake_pipeline).add_address("http://169.254.169.254/latest/meta-data/")[1])
    assert "refused: 169.254.169.254 is not a public address" in report
    with client_for(fake_pipeline) as client:
        refused = client.post("/api/v1/articles", json={"url": "http://public.test/to?url=http://10.0.0.1/"})
        assert refused.status_code == 400 and "refused: 10.0.0.1" in refused.json()["detail"]
        added = client.post("/api/v1/articles", json={"url": "http://public.test/library.html"})
        assert added.status_code == 201 and added.json()["outcomes"][0]["status"] == "added"
        assert client.post("/api/v1/articles", json={"url": "file:///etc/passwd"}).status_code == 400
        assert client.post("/api/v1/articles", json={"url": "http://a.test/", "text": "Both."}).status_code == 422
    assert set(web) == {PUBLIC}  # the redirect's first hop and the public page, nothing else
    allowed = ChatApp(fake_pipeline, private_urls=True).add_address("http://evil.test/library.html")[1]  # serve --allow-private-urls
    assert "1 added" in unescape(allowed)
    [outcome] = add_sources(fake_pipeline.corpus, ["http://10.0.0.1/library.html"])  # the command line's default
    assert outcome.status == "added"


def test_the_command_line_refuses_with_no_private_urls(web: list[str], tmp_path, capsys: pytest.CaptureFixture) -> None:  # noqa: ANN001
    code = main(["index", "add", "--index", str(tmp_path / "index"), "--no-private-urls", "http://evil.test/a.html"])
    err = capsys.readouterr().err
    assert code == 1 and "error: http://evil.test/a.html: refused: evil.test (127.0.0.1) is not a public address" in err
    assert web == []
