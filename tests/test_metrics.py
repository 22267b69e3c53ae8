"""``/metrics``: scraped with prometheus-client's own parser before and after questions and writes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from qa.pipeline import Pipeline
from qa.readers import ReaderLog
from ui.api import api_router, metrics_router
from ui.metrics import ServiceMetrics


def scrape(client: TestClient) -> dict[tuple[str, tuple], float]:
    """Every sample of ``/metrics`` by (name, labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_metrics_move_with_questions_and_writes(fake_pipeline: Pipeline) -> None:
    metrics = ServiceMetrics(fake_pipeline.corpus)
    fake_pipeline.on_answer = metrics.observe_answer
    app = FastAPI()
    app.include_router(metrics_router(metrics))
    readers = ReaderLog(fake_pipeline.corpus, on_judged=metrics.observe_feedback)
    app.include_router(api_router(fake_pipeline, on_outcome=metrics.observe_outcome, readers=readers))
    with TestClient(app) as client:
        before = scrape(client)
        assert before[("qa_index_articles", ())] == 1 and before[("qa_answer_seconds_count", ())] == 0
        for _ in range(8):
            assert client.post("/api/v1/answer", json={"question": "How many raids?"}).json()["answer"] == "128"
        client.post("/api/v1/answer", json={"question": "What colour was the mayor's bicycle?", "min_confidence": 1})
        assert client.post("/api/v1/answer", json={"question": "   "}).status_code == 400
        client.post("/api/v1/articles", json={"title": "Ferry", "text": "The ferry carried 312 passengers on Sunday."})
        for helpful in (True, False, False):
            client.post("/api/v1/feedback", json={"question": "How many raids?", "answer": "128", "helpful": helpful})
        after = scrape(client)
    assert after[("qa_feedback_total", (("helpful", "false"),))] == 2
    assert after[("qa_feedback_total", (("helpful", "true"),))] == 1
    assert after[("qa_answers_total", (("outcome", "answered"),))] == 8
    assert sum(v for (name, labels), v in after.items() if name == "qa_answers_total") == 9
    assert after[("qa_answer_seconds_count", ())] == 9 and after[("qa_answer_seconds_sum", ())] > 0
    assert after[("qa_answer_seconds_bucket", (("le", "+Inf"),))] == 9
    assert after[("qa_errors_total", (("kind", "QuestionError"),))] == 1
    assert after[("qa_articles_written_total", (("outcome", "added"),))] == 1
    assert after[("qa_index_articles", ())] == 2 and after[("qa_index_sentences", ())] > before[("qa_index_sentences", ())]


def test_metrics_ask_for_the_login(fake_pipeline: Pipeline) -> None:
    app = FastAPI()
    app.include_router(metrics_router(ServiceMetrics(fake_pipeline.corpus), auth=("editor", "s3cret")))
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", auth=("editor", "s3cret")).status_code == 200
