"""Per-client limits: a client over its limit gets 429 with Retry-After (API) or a readable line (chat) while
another client is still answered; both count against one limit."""

from __future__ import annotations

from html import unescape
from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from qa.pipeline import Pipeline
from ui.api import api_router, metrics_router
from ui.app import ChatApp
from ui.metrics import ServiceMetrics
from ui.rate_limits import RateLimits


def test_a_client_over_its_limit_waits_while_another_is_answered(fake_pipeline: Pipeline) -> None:
    metrics = ServiceMetrics(fake_pipeline.corpus)
    limits = RateLimits(answers_per_minute=3, writes_per_minute=1, on_limited=metrics.observe_limited)
    app = FastAPI()
    app.include_router(api_router(fake_pipeline, rate_limits=limits))
    app.include_router(metrics_router(metrics))
    question = {"question": "How many raids?"}
    with TestClient(app, client=("10.1.1.1", 4000)) as first, TestClient(app, client=("10.2.2.2", 4000)) as second:
        assert [first.post("/api/v1/answer", json=question).status_code for _ in range(3)] == [200] * 3
        refused = first.post("/api/v1/answer", json=question)
        assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["detail"].startswith("too many questions from this client: at most 3 a minute")
        assert second.post("/api/v1/answer", json=question).json()["answer"] == "128"
        article = {"title": "Ferry", "text": "The ferry carried 312 passengers on Sunday."}
        assert first.post("/api/v1/articles", json=article).status_code == 201
        assert first.post("/api/v1/articles", json={"text": "Another story."}).status_code == 429  # writes: 1 a minute
        scraped = {(s.name, tuple(s.labels.items())): s.value
                   for f in text_string_to_metric_families(first.get("/metrics").text) for s in f.samples}
    assert scraped[("qa_rate_limited_total", (("kind", "answers"),))] == 1
    assert scraped[("qa_rate_limited_total", (("kind", "writes"),))] == 1
    chat = ChatApp(fake_pipeline, rate_limits=limits)  # the chat counts against the same limit
    from_first = SimpleNamespace(username=None, client=SimpleNamespace(host="10.1.1.1"))
    reply = chat.add_bot_message([{"role": "user", "content": "How many raids?"}], ["How many raids?"], {}, request=from_first)[0]
    assert unescape(reply[-1]["content"]).startswith("Too many questions from this client")
    from_third = SimpleNamespace(username=None, client=SimpleNamespace(host="10.3.3.3"))
    reply = chat.add_bot_message([{"role": "user", "content": "How many raids?"}], ["How many raids?"], {}, request=from_third)[0]
    assert "<strong>128</strong>" in reply[-1]["content"]
    assert "Too many changes" in unescape(chat.paste("T", "Some text.", "", request=from_first)[3])


def test_no_limits_by_default(fake_pipeline: Pipeline) -> None:
    with TestClient(FastAPI(routes=api_router(fake_pipeline).routes)) as client:
        assert all(client.post("/api/v1/answer", json={"question": "How many raids?"}).status_code == 200
                   for _ in range(10))
