"""The JSON API (``/api/v1``) with FastAPI's test client, and fuzzed from its own OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from index.articles import read_file
from index.store.faiss_sqlite import FaissSqliteStore
from qa import answer
from qa.pipeline import Pipeline, default_reader
from tests.conftest import QUAKE, SEED, running_app
from ui.api import MAX_PAGE, api_router


def client_for(pipeline: Pipeline, **options) -> TestClient:  # noqa: ANN003
    app = FastAPI()
    app.include_router(api_router(pipeline, **options))
    return TestClient(app)


@pytest.fixture
def client(real_pipeline: Pipeline) -> Iterator[TestClient]:
    with client_for(real_pipeline) as client:
        yield client


@pytest.fixture
def fake_client(fake_pipeline: Pipeline) -> Iterator[TestClient]:
    with client_for(fake_pipeline) as client:
        yield client


@pytest.mark.slow
def test_answer_is_the_ask_json_object(client: TestClient, real_pipeline: Pipeline) -> None:
    response = client.post("/api/v1/answer", json={"question": "How many raids?", "top_k": 3})
    assert response.status_code == 200
    data = response.json()
    assert data["answer"] == "128" and data["article"]["date"] == "2015-11-17"
    expected = json.loads(json.dumps(answer("How many raids?", top_k=3, corpus=real_pipeline.corpus).to_dict()))
    assert len(data["id"]) == 32 and data.pop("id") != expected.pop("id")  # each answer has an id of its own
    assert data == expected
    unsure = client.post("/api/v1/answer", json={"question": "How many raids?", "min_confidence": 1.0}).json()
    assert unsure["answer"] == "" and unsure["candidate"]["answer"] == "128"


@pytest.mark.parametrize(("body", "status"), [
    ({"question": ""}, 400),
    ({"question": "   \t"}, 400),
    ({"question": 12}, 422),
    ({}, 422),
    ({"question": "How many raids?", "top_k": 0}, 422),
    ({"question": "How many raids?", "min_confidence": 2}, 422),
])
def test_bad_questions_get_json_errors(fake_client: TestClient, body: dict, status: int) -> None:
    response = fake_client.post("/api/v1/answer", json=body)
    assert response.status_code == status and "detail" in response.json()


@pytest.mark.slow
def test_articles_are_listed_added_answered_and_removed(client: TestClient, tmp_path: Path) -> None:
    page = client.get("/api/v1/articles").json()
    assert page["total"] == 1 and page["articles"][0]["title"].startswith("France has mobilised")
    added = client.post("/api/v1/articles", json={"title": "Ferry news", "text": "The ferry carried 312 passengers on Sunday.",
                                                  "date": "2026-11-29", "source": "desk"})
    assert added.status_code == 201
    [outcome] = added.json()["outcomes"]
    assert outcome["status"] == "added" and added.json()["articles"] == 2
    assert client.post("/api/v1/answer", json={"question": "How many passengers did the ferry carry?"}).json()["answer"] == "312"
    again = client.post("/api/v1/articles", json={"text": "The ferry carried 312 passengers on Sunday."})
    assert again.status_code == 200 and again.json()["outcomes"][0]["status"] == "already indexed"
    quake = tmp_path / "quake.md"
    quake.write_text(QUAKE)
    uploaded = client.post("/api/v1/articles/file", files={"file": ("quake.md", quake.read_bytes(), "text/markdown")})
    assert uploaded.status_code == 201 and uploaded.json()["outcomes"][0]["detail"] == "Earthquake strikes southern Turkey"
    assert client.get("/api/v1/articles", params={"offset": 1, "limit": 1}).json()["articles"][0]["title"] == "Ferry news"
    removed = client.delete(f"/api/v1/articles/{outcome['article_id']}")
    assert removed.status_code == 200 and removed.json()["title"] == "Ferry news"
    assert client.delete(f"/api/v1/articles/{outcome['article_id']}").status_code == 404
    health = client.get("/api/v1/health").json()
    assert health == {"status": "ok", "read_only": False, "articles": 2, "sentences": health["vectors"],
                      "vectors": health["vectors"], "near_duplicates": 0, "warning": None}


def test_bad_articles_get_json_errors_and_lose_nothing(fake_pipeline: Pipeline) -> None:
    with client_for(fake_pipeline, limit=1000) as client:
        assert client.post("/api/v1/articles", json={"text": "   "}).status_code == 400
        assert client.post("/api/v1/articles", json={"text": "Some text.", "date": "2026-02-30"}).status_code == 400
        assert client.post("/api/v1/articles", json={"text": "word " * 300}).status_code == 413
        too_big = client.post("/api/v1/articles/file", files={"file": ("big.txt", b"word " * 300, "text/plain")})
        assert too_big.status_code == 413
        binary = client.post("/api/v1/articles/file", files={"file": ("x.exe", b"MZ\x90\x00", "application/octet-stream")})
        assert binary.status_code == 400 and "unsupported file type" in binary.json()["detail"]
        assert client.get("/api/v1/articles", params={"limit": MAX_PAGE + 1}).status_code == 422
        assert client.get("/api/v1/health").json()["articles"] == 1


def test_read_only_and_login(fake_pipeline: Pipeline) -> None:
    with client_for(fake_pipeline, read_only=True) as client:
        assert client.post("/api/v1/articles", json={"text": "New text."}).status_code == 403
        assert client.delete(f"/api/v1/articles/{read_file(SEED)[0].id}").status_code == 403
        assert client.get("/api/v1/health").json()["read_only"] is True
    with client_for(fake_pipeline, auth=("desk", "s3cret")) as client:
        assert client.get("/api/v1/health").status_code == 401
        assert client.get("/api/v1/health", auth=("desk", "wrong")).status_code == 401
        assert client.get("/api/v1/health", auth=("desk", "s3cret")).status_code == 200


def test_a_damaged_index_answers_503(fake_pipeline: Pipeline) -> None:
    corpus = fake_pipeline.corpus
    for path in corpus.directory.glob("vectors.*.faiss"):
        path.write_bytes(b"not faiss")
    corpus.refresh()
    corpus._load_vectors()  # noqa: SLF001 - as a process that opens the damaged index would
    with client_for(fake_pipeline) as client:
        response = client.post("/api/v1/answer", json={"question": "How many raids?"})
        assert response.status_code == 503 and "qa index rebuild" in response.json()["detail"]
        assert client.get("/api/v1/health").json()["status"] == "degraded"


def test_served_api_is_behind_the_same_guards(fake_pipeline: Pipeline) -> None:
    with running_app(fake_pipeline, auth=("desk", "s3cret")) as url:
        assert httpx.get(url + "api/v1/health").status_code == 401
        assert httpx.get(url + "api/v1/health", auth=("desk", "s3cret")).json()["articles"] == 1
        assert httpx.get(url + "metrics").status_code == 401
        answered = httpx.post(url + "api/v1/answer", json={"question": "How many raids?"}, auth=("desk", "s3cret"))
        metrics = httpx.get(url + "metrics", auth=("desk", "s3cret")).text
        assert answered.status_code == 200 and 'qa_answers_total{outcome="answered"} 1.0' in metrics
        wrong_host = httpx.get(url + "api/v1/health", headers={"Host": "evil.example"}, auth=("desk", "s3cret"))
        assert wrong_host.status_code == 400 and wrong_host.json() == {"detail": "Invalid Host header"}
        cross_site = httpx.post(url + "api/v1/articles", json={"text": "x"}, auth=("desk", "s3cret"),
                                headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        schema = httpx.get(url + "openapi.json").json()
        assert {"/api/v1/answer", "/api/v1/articles", "/api/v1/articles/{article_id}", "/api/v1/health"} <= set(schema["paths"])
        docs = httpx.get(url + "api/docs").text
        assert "/api/docs/assets/swagger-ui-bundle.js" in docs and "cdn" not in docs
        assert httpx.get(url + "api/docs/assets/swagger-ui-bundle.js").status_code == 200


@pytest.mark.slow
def test_fuzzed_from_its_openapi_document(index_dir: Path) -> None:
    """Every operation with generated requests: no server error, every status and body as the schema says."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

    app = FastAPI()
    app.include_router(api_router(Pipeline(FaissSqliteStore(index_dir), default_reader()), limit=20_000))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
        @given(case=operation.as_strategy())
        def call(case) -> None:  # noqa: ANN001
            nonlocal calls
            calls += 1
            case.validate_response(case.call(), checks=[not_a_server_error, status_code_conformance,
                                                        response_schema_conformance])

        call()  # hypothesis raises the failures it found, each with a curl command to reproduce it
    print(f"schemathesis: {calls} generated requests, none failed")
    assert calls >= 6 * 10


def test_answers_keep_to_the_dates_and_source_asked(fake_client: TestClient) -> None:
    asked = {"question": "How many raids?"}
    assert fake_client.post("/api/v1/answer", json=asked).json()["answer"] == "128"
    for bounds in ({"since": "2015-11-01", "until": "2015-11-30"}, {"source": str(SEED.parent)}):
        assert fake_client.post("/api/v1/answer", json=asked | bounds).json()["answer"] == "128"
    for bounds in ({"since": "2016-01-01"}, {"until": "2015-11-16"}, {"source": "https://"}):
        body = fake_client.post("/api/v1/answer", json=asked | bounds).json()
        assert body["answer"] == "" and body["candidate"] is None, bounds
    assert fake_client.post("/api/v1/answer", json=asked | {"since": "15 Nov"}).status_code == 422
