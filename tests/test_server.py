"""Who may call the web app: Host and Origin checks, body limits, login, read-only mode, uploads."""

from __future__ import annotations

import shutil
from pathlib import Path

import gradio_client
import httpx
import pytest

from index.store.faiss_sqlite import FaissSqliteStore
from qa.pipeline import Pipeline, default_reader
from tests.conftest import QUAKE, running_app
from tests.fakes import fake_pipeline_over
from ui.app import MAX_UPLOAD_FILES, READ_ONLY, ChatApp  # noqa: E402
from ui.cli import main
from ui.server import BODY_OVERHEAD, allowed_hosts, is_loopback


@pytest.fixture(scope="module")
def served(fake_seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    target = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(fake_seeded_dir, target)
    with fake_pipeline_over(target) as pipeline, running_app(pipeline) as url:
        yield url


def test_unknown_host_header_is_refused(served: str) -> None:
    assert httpx.get(served).status_code == 200
    response = httpx.get(served, headers={"Host": "attacker.example"})  # a DNS-rebound name
    assert response.status_code == 400 and response.json() == {"detail": "Invalid Host header"}


def test_cross_site_writes_are_refused(served: str) -> None:
    url = served + "gradio_api/queue/join"
    response = httpx.post(url, json={"data": [], "fn_index": 0}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    same_site = httpx.post(url, json={"data": [], "fn_index": 0}, headers={"Origin": served.rstrip("/")})
    assert same_site.status_code != 403


def test_request_bodies_are_bounded(served: str) -> None:
    from index.articles import max_bytes

    too_big = b"x" * (max_bytes() + BODY_OVERHEAD + 1)
    assert httpx.post(served + "gradio_api/upload", content=too_big).status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(too_big.__len__() // 65536 + 1):
            yield b"x" * 65536

    response = httpx.post(served + "gradio_api/queue/join", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.slow
def test_login_and_read_only(seeded_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "index"
    shutil.copytree(seeded_dir, target)
    with (Pipeline(FaissSqliteStore(target), default_reader()) as pipeline,
          running_app(pipeline, auth=("reader", "s3cret"), read_only=True) as url):
        assert httpx.post(url + "gradio_api/queue/join", json={"data": [], "fn_index": 0}).status_code in (401, 403)
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises its own error type for a refused login
            gradio_client.Client(url, verbose=False)
        client = gradio_client.Client(url, auth=("reader", "s3cret"), verbose=False)
        assert "/add_article" not in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert client.predict("How many raids?", api_name="/answer")["answer"] == "128"


def test_read_only_chat_refuses_every_write(fake_pipeline: Pipeline, tmp_path: Path) -> None:
    corpus = fake_pipeline.corpus
    chat = ChatApp(fake_pipeline, read_only=True)
    path = tmp_path / "quake.md"
    path.write_text(QUAKE)
    assert chat.upload([str(path)])[1] == READ_ONLY.replace(".", "&#46;").replace("-", "&#45;").replace(":", "&#58;")
    assert "read&#45;only" in chat.paste("T", "Some text here.", "")[3]
    assert "read&#45;only" in chat.remove(corpus.list_articles()[0].id)[0]
    assert corpus.stats()["articles"] == 1


@pytest.mark.slow
def test_uploads_are_bounded_in_number_and_removed_once_indexed(index_dir: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(temp))
    (temp / "abc").mkdir(parents=True)
    upload = temp / "abc" / "quake.md"
    upload.write_text(QUAKE)
    chat = ChatApp(Pipeline(FaissSqliteStore(index_dir), default_reader()))
    too_many = [str(upload)] * (MAX_UPLOAD_FILES + 1)
    assert "at most" in chat.upload(too_many)[1] and not upload.exists()
    upload.parent.mkdir()
    upload.write_text(QUAKE)
    assert chat.add_article_api(str(upload)).startswith("added: quake.md")
    assert not upload.exists() and not upload.parent.exists()
    outside = tmp_path / "mine.md"  # a file outside Gradio's folder is the user's own: never deleted
    outside.write_text(QUAKE.replace("7.8", "7.9"))
    chat.add_article_api(str(outside))
    assert outside.exists()


def test_serving_beyond_loopback_needs_a_login(capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    assert "--auth" in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--auth", "nopassword"]) == 1
    assert "USER:PASSWORD" in capsys.readouterr().err


def test_allowed_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert {"news.example", "192.0.2.7"} <= allowed_hosts("192.0.2.7", ["News.example"])
