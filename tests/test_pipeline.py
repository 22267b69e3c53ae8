"""The pipeline's parts, handed in: a corpus with its embedder and a reader (fakes here, so no model loads)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from index.articles import make_article
from index.indexer import add_articles
from index.store.base import IndexMismatchError, StoreError
from index.store.faiss_sqlite import FaissSqliteStore
from qa.answer import EMPTY_INDEX, UNSURE
from qa.pipeline import Pipeline
from tests.fakes import FakeEmbedder, FakeReader, fake_pipeline_over
from ui.app import ChatApp


def test_an_answer_is_copied_from_its_sentence_and_article(fake_pipeline: Pipeline) -> None:
    result = fake_pipeline.answer("How many raids were carried out overnight?")
    assert result.found and result.text[0].isdigit()
    assert fake_pipeline.corpus.article_text(result.article.id)[result.start : result.end] == result.text
    assert result.sentence[result.sentence_offset :].startswith(result.text)
    assert result.window[result.context_start : result.context_end] == result.text
    assert result.sentence in result.window


def test_the_reader_handed_in_reads_and_stops_at_a_confident_first_window(fake_pipeline: Pipeline) -> None:
    reader = fake_pipeline.reader
    fake_pipeline.answer("How many raids?")
    assert reader.reads == [("How many raids?", 1)]  # the first window alone was sure enough
    fake_pipeline.answer("How many raids?", top_k=3)
    assert reader.reads[1:] == [("How many raids?", 5)]  # alternatives need every window


def test_strictness_turns_an_answer_into_an_unsure_candidate(fake_pipeline: Pipeline) -> None:
    sure = fake_pipeline.answer("How many raids?")
    unsure = fake_pipeline.answer("How many raids?", min_confidence=1.0)
    assert unsure.text == "" and unsure.candidate is not None and unsure.candidate.text == sure.text
    assert unsure.message == UNSURE and unsure.closest
    with pytest.raises(ValueError, match="between 0 and 1"):
        fake_pipeline.answer("How many raids?", min_confidence=1.5)


def test_an_empty_index_says_so(tmp_path: Path) -> None:
    with fake_pipeline_over(tmp_path / "index") as pipeline:
        result = pipeline.answer("How many raids?")
    assert not result.found and result.message == EMPTY_INDEX


def test_warm_up_and_close(fake_pipeline: Pipeline) -> None:
    fake_pipeline.warm_up()
    assert fake_pipeline.threshold == FakeReader.threshold
    with fake_pipeline as same:
        assert same is fake_pipeline
    with pytest.raises(StoreError, match="is closed"):  # closed with the pipeline
        fake_pipeline.corpus.stats()


def test_an_index_is_searched_only_with_the_embedder_that_built_it(fake_seeded_dir: Path) -> None:
    with pytest.raises(IndexMismatchError, match="test/hashed-words"):
        FaissSqliteStore(fake_seeded_dir)  # the default embedder is another model


def test_the_chat_answers_through_its_pipeline_and_makes_examples_after_a_write(fake_pipeline: Pipeline) -> None:
    chat = ChatApp(fake_pipeline)
    _, history, asked = chat.add_user_message("How many raids?", [], [])
    reply = chat.add_bot_message(history, asked, {})[0][-1]["content"]
    assert f"<strong>{fake_pipeline.answer('How many raids?').text}</strong>" in reply
    add_articles(fake_pipeline.corpus, [make_article("Storm", "The storm destroyed 300 homes.", "storm.txt")])
    assert ["How many homes?"] in chat.example_questions().raw_samples


def test_one_limit_on_the_answers_a_pipeline_computes_at_once(fake_index_dir: Path) -> None:
    running, most, lock = [0], [0], threading.Lock()

    class SlowReader(FakeReader):
        def read(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1
            return super().read(*args, **kwargs)

    corpus = FaissSqliteStore(fake_index_dir, embedder=FakeEmbedder())
    pipeline = Pipeline(corpus, SlowReader(), concurrency=2)
    with ThreadPoolExecutor(6) as pool:  # the chat's and the API's callers share the pipeline
        answers = list(pool.map(lambda _: pipeline.answer("How many raids?").text, range(6)))
    assert answers == ["128"] * 6 and most[0] == 2


def test_the_chat_answers_from_the_articles_its_filters_allow(fake_pipeline: Pipeline) -> None:
    from html import unescape

    chat = ChatApp(fake_pipeline)
    assert "<strong>128</strong>" in chat.ask("How many raids?", [], since="2015-11-01", until="2015-11-30")
    assert "<strong>128</strong>" in chat.ask("How many raids?", [], source=fake_pipeline.corpus.list_articles()[0].source)
    assert "128" not in chat.ask("How many raids?", [], since="2016-01-01")
    assert "128" not in chat.ask("How many raids?", [], source="https://elsewhere.example/")
    assert "is not a day as YYYY-MM-DD" in unescape(chat.ask("How many raids?", [], since="17 Nov"))
    assert "after the To date" in unescape(chat.ask("How many raids?", [], since="2015-12-01", until="2015-11-01"))
