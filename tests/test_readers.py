"""Learning from readers: judgements of answers and the questions asked, kept in the index (``qa.readers``), and
the report made of them (``qa.report``), through ``answer()``'s id, the JSON API, the chat's handlers and
``qa report``."""

from __future__ import annotations

import json
import multiprocessing
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from index.articles import make_article
from index.indexer import add_articles
from index.store.base import Feedback, IndexReadOnlyError
from index.store.faiss_sqlite import FaissSqliteStore
from qa.pipeline import Pipeline
from qa.readers import ReaderLog, UnknownAnswerError, UnknownArticleError
from qa.report import build_report, latest_judgements, question_key, report_html, report_text
from tests.fakes import FakeEmbedder, fake_pipeline_over
from ui.api import api_router
from ui.cli import main
from ui.feedback import ChatFeedback


def served(pipeline: Pipeline, log_questions: bool = False, **options) -> tuple[TestClient, ReaderLog]:  # noqa: ANN003
    """The API over ``pipeline`` with a reader log told of every answer, as ``ui.server.server_app`` wires it."""
    readers = ReaderLog(pipeline.corpus, keep_questions=log_questions)
    pipeline.on_answer = lambda result, seconds, error: result and readers.observe(result)
    app = FastAPI()
    app.include_router(api_router(pipeline, readers=readers, **options))
    return TestClient(app), readers


def test_every_answer_has_an_id_and_its_features(fake_pipeline: Pipeline) -> None:
    first, again = fake_pipeline.answer("How many raids?"), fake_pipeline.answer("How many raids?")
    assert first.text == "128" and len(first.id) == 32 and first.id != again.id
    assert first.features["margin"] == 3.0 and first.to_dict()["id"] == first.id
    assert fake_pipeline.answer("How many raids?", min_confidence=1.0).features["margin"] == 3.0  # the candidate's


def test_questions_are_kept_only_when_asked_to_and_all_of_them(fake_pipeline: Pipeline) -> None:
    quiet = ReaderLog(fake_pipeline.corpus)
    quiet.observe(fake_pipeline.answer("How many raids?"))
    quiet.close()
    assert fake_pipeline.corpus.asked_questions() == []
    readers = ReaderLog(fake_pipeline.corpus, keep_questions=True)
    given = [fake_pipeline.answer(q) for q in ["How many raids?", "How many people were arrested?"] * 300]
    for result in given:
        readers.observe(result)
    readers.close()  # writes what waits
    kept = fake_pipeline.corpus.asked_questions()
    assert [(q.answer_id, q.answer, q.score) for q in kept] == [(r.id, r.text, r.score) for r in given]
    assert kept[0].article_id == given[0].article.id and kept[0].features == dict(given[0].features)


def test_a_judgement_keeps_the_answer_s_score_while_the_server_remembers_it(fake_pipeline: Pipeline) -> None:
    readers = ReaderLog(fake_pipeline.corpus, remembered=2)
    result = fake_pipeline.answer("How many raids?")
    readers.observe(result)
    kept = readers.judge(False, result.id, comment="  it was 129  ")
    assert (kept.question, kept.answer, kept.article_id, kept.score, kept.comment) == (
        "How many raids?", "128", result.article.id, result.score, "it was 129")
    assert kept.features == dict(result.features) and fake_pipeline.corpus.feedback() == [kept]
    # Named by what was asked and answered, a judgement is kept without a score; an id forgotten needs them.
    for _ in range(2):
        readers.observe(fake_pipeline.answer("How many people were arrested?"))
    with pytest.raises(UnknownAnswerError):
        readers.judge(True, result.id)
    later = readers.judge(True, result.id, "How many raids?", "128", result.article.id)
    assert later.score is None and later.helpful
    assert latest_judgements(fake_pipeline.corpus.feedback()) == [later]  # the latest judgement of an answer stands
    with pytest.raises(UnknownArticleError):
        readers.judge(True, None, "How many raids?", "128", "0" * 16)


def test_the_api_takes_feedback_and_reports_it(fake_pipeline: Pipeline) -> None:
    client, readers = served(fake_pipeline, log_questions=True)
    answered = client.post("/api/v1/answer", json={"question": "How many raids?"}).json()
    client.post("/api/v1/answer", json={"question": "how many raids"})
    abstained = client.post("/api/v1/answer", json={"question": "How many zebras?", "min_confidence": 1.0}).json()
    assert answered["answer"] == "128" and abstained["answer"] == ""
    response = client.post("/api/v1/feedback", json={
        "question": "How many raids?", "answer": "128", "article_id": answered["article"]["id"], "helpful": False,
        "comment": "129, said the minister later", "answer_id": answered["id"]})
    assert response.status_code == 201 and response.json()["score"] == answered["score"]
    assert client.post("/api/v1/feedback", json={"question": "How many zebras?", "helpful": False,
                                                 "answer_id": abstained["id"]}).status_code == 201
    unknown = client.post("/api/v1/feedback", json={"question": "q", "answer": "a", "article_id": "f" * 16, "helpful": True})
    assert unknown.status_code == 404 and "no article" in unknown.json()["detail"]
    assert client.post("/api/v1/feedback", json={"question": "  ", "helpful": True}).status_code == 400
    assert client.post("/api/v1/feedback", json={"question": "q"}).status_code == 422
    readers.close()
    report = client.get("/api/v1/report").json()
    assert report["questions"] == 3 and report["answered"] == 2
    assert report["most_asked"][0] == {"question": "how many raids", "asked": 2}  # the same words count as one
    assert [t["questions"] for t in report["unanswered_topics"]] == [["How many zebras?"]]
    assert [(w["question"], w["answer"], w["comment"]) for w in report["judged_wrong"]] == [
        ("How many zebras?", "", ""), ("How many raids?", "128", "129, said the minister later")]
    assert report["reliability"] == [{"band": "0.9-1.0", "answers": 1, "helpful": 0.0}]
    assert report["unused_article_count"] == 0
    assert client.get("/api/v1/report", params={"since": "2999-01-01"}).json()["questions"] == 0


def test_a_read_only_server_takes_no_feedback(fake_pipeline: Pipeline) -> None:
    client, _ = served(fake_pipeline, read_only=True)
    response = client.post("/api/v1/feedback", json={"question": "How many raids?", "answer": "128", "helpful": True})
    assert response.status_code == 403 and "keeps no feedback" in response.json()["detail"]
    assert fake_pipeline.corpus.feedback() == []


def test_the_chat_s_thumbs_and_comment_are_kept(fake_pipeline: Pipeline) -> None:
    readers = ReaderLog(fake_pipeline.corpus)
    chat = ChatFeedback(readers)
    result = fake_pipeline.answer("How many raids?")
    readers.observe(result)
    note, judged = chat.judge({1: result}, SimpleNamespace(index=1, liked=False))
    assert judged is result and "not helpful" in note
    assert chat.judge({1: result}, SimpleNamespace(index=0, liked=True)) == ("Only answers can be judged.", None)
    assert chat.judge({1: result}, SimpleNamespace(index=1, liked="")) == ("", None)  # a thumbs taken back
    assert chat.comment(judged, "  ") == ("Type what the right answer was.", "  ")
    assert chat.comment(judged, "129 raids")[1] == ""
    kept = fake_pipeline.corpus.feedback()
    assert [(f.helpful, f.comment, f.score) for f in kept] == [(False, "", result.score), (False, "129 raids", result.score)]
    assert "129 raids" in chat.report("") and "<script>" not in chat.report("")
    assert chat.report("yesterday").startswith("<p>Give the first day")
    note, _ = ChatFeedback(readers, read_only=True).judge({1: result}, SimpleNamespace(index=1, liked=True))
    assert "read-only" in note and len(fake_pipeline.corpus.feedback()) == 2


def test_the_report_escapes_what_readers_wrote(fake_pipeline: Pipeline) -> None:
    ReaderLog(fake_pipeline.corpus).judge(False, None, "<script>alert(1)</script>?", "", None, "<b>bold</b>")
    report = build_report(fake_pipeline.corpus)
    assert "<script>" not in report_html(report) and "&lt;script&gt;" in report_html(report)
    assert "<script>alert(1)</script>?" in report_text(report)


def test_unanswered_questions_are_grouped_by_topic() -> None:
    from qa.report import unanswered_topics

    asked = ["When will the Lerida bridge reopen?", "When does the Lerida bridge open again?", "Who won the cup final?",
             "When will the Lerida bridge reopen?"]
    topics = unanswered_topics(asked, FakeEmbedder())
    assert topics[0]["asked"] == 3 and "lerida" in topics[0]["topic"] and topics[1]["questions"] == ["Who won the cup final?"]
    assert question_key(" When will  the Lerida bridge REOPEN? ") == question_key(asked[0])


def _judge_many(directory: str, start: int, count: int) -> None:
    with closing(FaissSqliteStore(directory, embedder=FakeEmbedder())) as store:
        readers = ReaderLog(store)
        for n in range(start, start + count):
            readers.judge(n % 2 == 0, None, f"Question {n}?", f"answer {n}", None)


def _add_many(directory: str, start: int, count: int) -> None:
    with closing(FaissSqliteStore(directory, embedder=FakeEmbedder())) as store:
        for n in range(start, start + count):
            add_articles(store, [make_article(f"Story {n}", f"Item {n} happened in Brindle on day {n}. It was new.",
                                              f"wire/{n}.txt")])


def test_two_processes_judging_and_adding_at_once_lose_nothing(fake_index_dir: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_judge_many, args=(str(fake_index_dir), 0, 40)),
               context.Process(target=_add_many, args=(str(fake_index_dir), 0, 10)),
               context.Process(target=_judge_many, args=(str(fake_index_dir), 40, 40))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    with closing(FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())) as store:
        assert sorted(f.question for f in store.feedback()) == sorted(f"Question {n}?" for n in range(80))
        assert len(store.list_articles()) == 11 and store.check() == []


def test_qa_report_prints_text_and_json(fake_index_dir: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with closing(fake_pipeline_over(fake_index_dir)) as pipeline:
        readers = ReaderLog(pipeline.corpus, keep_questions=True)
        readers.observe(pipeline.answer("How many raids?"))
        readers.close()
        readers.judge(False, None, "How many raids?", "128", None, "129")
    monkeypatch.setattr("index.store.faiss_sqlite.store.Embedder", FakeEmbedder)
    assert main(["report", "--index", str(fake_index_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 1 and report["judged_wrong"][0]["comment"] == "129"
    assert main(["report", "--index", str(fake_index_dir)]) == 0
    text = capsys.readouterr().out
    assert "How many raids?" in text and "[129]" in text
    with pytest.raises(SystemExit, match="2"):  # argparse's one line
        main(["report", "--index", str(fake_index_dir), "--since", "2020-13-01"])
    assert "not a day as YYYY-MM-DD" in capsys.readouterr().err


def test_a_read_only_store_keeps_nothing(fake_index_dir: Path) -> None:
    with closing(FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder(), read_only=True)) as store:
        with pytest.raises(IndexReadOnlyError):
            ReaderLog(store).judge(True, None, "q", "a", None)
        with pytest.raises(IndexReadOnlyError):
            store.add_feedback(Feedback(None, "q", "a", None, True, "", "2024-01-01"))


def test_questions_are_not_kept_by_a_read_only_server(fake_index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--read-only", "--log-questions", "--index", str(fake_index_dir)]) == 1
    assert "cannot be used with --read-only" in capsys.readouterr().err


def test_a_read_only_chat_offers_no_thumbs(fake_pipeline: Pipeline) -> None:
    import gradio as gr

    from ui.app import build_app

    def chatbot(app: gr.Blocks) -> gr.Chatbot:
        return next(block for block in app.blocks.values() if isinstance(block, gr.Chatbot))

    assert chatbot(build_app(fake_pipeline)).feedback_options == ("Like", "Dislike")
    assert chatbot(build_app(fake_pipeline, read_only=True)).feedback_options is None
