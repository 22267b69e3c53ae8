"""What a running server reports at ``/metrics``, in the Prometheus text format (``prometheus-client``): questions
by outcome and their latency, failures by kind, articles given to the index by outcome, readers' judgements, and
the index's size."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from index.ingest import Outcome
from index.store.base import Feedback, Store
from qa.answer import Answer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # seconds


class IndexSize(Collector):
    """The index's articles, sentences and vectors, read when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self.store.stats()
        for name in ("articles", "sentences", "vectors"):
            yield GaugeMetricFamily(f"qa_index_{name}", f"{name.capitalize()} in the index", value=stats[name])


class ServiceMetrics:
    """The counters of one server, in their own registry."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.answers = Counter("qa_answers", "Questions answered, by outcome: answered, unsure (an answer below the "
                               "confidence asked for) or abstained (the articles don't say)", ["outcome"],
                               registry=self.registry)
        self.latency = Histogram("qa_answer_seconds", "Time to answer a question", buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.errors = Counter("qa_errors", "Questions that failed, by kind", ["kind"], registry=self.registry)
        self.writes = Counter("qa_articles_written", "Articles and files given to the index, by outcome: added, "
                              "unchanged (already indexed), error, feed", ["outcome"], registry=self.registry)
        self.limited = Counter("qa_rate_limited", "Requests refused for coming too often from one client, by kind: "
                               "answers or writes", ["kind"], registry=self.registry)
        self.judged = Counter("qa_feedback", "Readers' judgements of answers kept, by helpful (true or false)",
                              ["helpful"], registry=self.registry)
        self.registry.register(IndexSize(store))

    def observe_answer(self, answer: Answer | None, seconds: float, error: BaseException | None) -> None:
        """Count one question (``qa.pipeline.Pipeline.on_answer``)."""
        if error is not None:
            self.errors.labels(type(error).__name__).inc()
            return
        outcome = "answered" if answer.found else "unsure" if answer.candidate is not None else "abstained"
        self.answers.labels(outcome).inc()
        self.latency.observe(seconds)

    def observe_outcome(self, outcome: Outcome) -> None:
        """Count what became of one article or file (``index.ingest``'s ``on_outcome``)."""
        self.writes.labels(outcome.status).inc()

    def observe_feedback(self, feedback: Feedback) -> None:
        """Count a judgement kept (``qa.readers.ReaderLog``'s ``on_judged``)."""
        self.judged.labels(str(feedback.helpful).lower()).inc()

    def observe_limited(self, kind: str) -> None:
        """Count a request refused by ``ui.rate_limits``."""
        self.limited.labels(kind).inc()

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)
