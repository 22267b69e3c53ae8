"""The tests every store backend passes (as Haystack's ``haystack/testing/document_store.py``): a backend's test
module subclasses ``StoreConformance`` and gives the ``open_store`` fixture and ``fail_next_write``.

They run on ``FakeEmbedder``, in the fast tier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from index.articles import make_article, read_file
from index.indexer import ADDED, NO_SENTENCES, UNCHANGED, add_articles
from index.store.base import AskedQuestion, Feedback, IndexReadOnlyError, SearchFilter, Store, StoreError
from index.text import stemmed_terms
from qa.pipeline import Pipeline
from tests.conftest import SEED
from tests.fakes import FakeReader

QUAKE = make_article("Quake in Lerida", "Rescuers in Lerida pulled 14 survivors from the rubble on Monday. The quake "
                     "struck at dawn. Officials said 212 homes were destroyed.", "https://news.example/quake", "2024-03-04")
STORM = make_article("Storm hits Brindle", "The storm in Brindle destroyed 57 homes on Friday. Rescuers pulled 9 "
                     "survivors from the rubble. Power was cut to the whole town.", "https://wire.example/storm",
                     "2024-05-10")
UNDATED = make_article("Fire at Caldmoor", "Rescuers pulled 3 survivors from the burning mill in Caldmoor. The fire "
                       "destroyed 8 homes.", "notes/fire.txt")
OpenStore = Callable[..., Store]  # open_store(read_only=False) -> a store of this test's index


def answer(store: Store, question: str, where: SearchFilter | None = None) -> tuple[str, str | None]:
    """The fake pipeline's answer over ``store`` and the title of its article."""
    result = Pipeline(store, FakeReader()).answer(question, where=where)
    return result.text, result.article.title if result.article else None


class StoreConformance:
    """The ``index.store.base.Store`` contract, as tests."""

    @pytest.fixture
    def open_store(self, tmp_path: Path) -> OpenStore:
        """Opens this test's index (always the same one) on the backend under test, with ``FakeEmbedder``."""
        raise NotImplementedError

    def fail_next_write(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make the store's next write fail part way, after some of it reached the backend."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, open_store: OpenStore) -> Iterator[Store]:
        with closing(open_store()) as store:
            yield store

    def test_articles_are_added_once_and_answered(self, store: Store) -> None:
        added = add_articles(store, read_file(SEED) + [QUAKE, STORM])
        assert [status for _, status in added] == [ADDED] * 3
        assert add_articles(store, [QUAKE, QUAKE]) == [(QUAKE, UNCHANGED)] * 2
        assert add_articles(store, [UNDATED, UNDATED]) == [(UNDATED, ADDED), (UNDATED, UNCHANGED)]
        stats = store.stats()
        assert (stats["articles"], stats["sentences"], stats["vectors"]) == (4, 28 + 3 + 3 + 2, 28 + 3 + 3 + 2)
        assert "warning" not in stats and store.check() == []
        assert store.known([QUAKE.id, "nope"]) == {QUAKE.id}
        assert answer(store, "How many raids?")[0] == "128"
        assert [a.title for a in store.list_articles()][1:] == [QUAKE.title, STORM.title, UNDATED.title]

    def test_an_article_without_sentences_is_skipped(self, store: Store) -> None:
        assert add_articles(store, [make_article("Dots", "... !!! ???", "x")])[0][1] == NO_SENTENCES
        assert store.stats()["articles"] == 0 and store.check() == []

    def test_an_article_is_read_back_as_stored(self, store: Store) -> None:
        add_articles(store, [STORM])
        assert store.article(STORM.id) == STORM and store.article_text(STORM.id) == STORM.text
        assert store.article("nope") is None
        rows = store.article_sentences(STORM.id)
        assert [STORM.text[r.start : r.end] for r in rows] == [
            "The storm in Brindle destroyed 57 homes on Friday.", "Rescuers pulled 9 survivors from the rubble.",
            "Power was cut to the whole town."]
        assert store.sentence_rows([rows[1].id]) == {rows[1].id: rows[1]}
        assert store.neighbours(rows[0], 1) == rows[:2] and store.neighbours(rows[1], 1) == rows

    def test_a_long_article_is_stored_whole(self, store: Store) -> None:
        text = " ".join(f"Sentence number {n} of the long report says {n * 7} boats came back." for n in range(700))
        long = make_article("Long report", text, "long.txt", "2024-01-02")
        add_articles(store, [long])
        assert store.article_text(long.id) == text and store.article(long.id).text == text
        sentences = store.article_sentences(long.id)
        assert len(sentences) == 700 and [s.position for s in sentences] == list(range(700))

    def test_removing_an_article_removes_what_finds_it(self, store: Store) -> None:
        add_articles(store, [QUAKE, STORM])
        removed = store.remove(QUAKE.id)
        assert removed is not None and (removed.id, removed.sentences) == (QUAKE.id, 3)
        assert store.remove(QUAKE.id) is None
        assert store.stats()["articles"] == 1 and store.check() == []
        question = "How many survivors did rescuers pull from the rubble in Lerida?"
        found = store.keyword_search(question, 20) + store.dense_search(store.embedder.embed_query(question), 20)
        assert {store.sentence_rows([i])[i].article_id for i, _ in found} == {STORM.id}

    def test_a_near_duplicate_is_linked_and_promoted_when_its_first_copy_goes(self, store: Store) -> None:
        copy = make_article("Quake in Lerida (wire)", QUAKE.text + " More to follow.", "https://wire.example/quake",
                            "2024-03-04")
        add_articles(store, [QUAKE, copy, STORM])
        assert store.first_copies([QUAKE.id, copy.id, STORM.id]) == {QUAKE.id: QUAKE.id, copy.id: QUAKE.id,
                                                                     STORM.id: STORM.id}
        assert [c.id for c in store.copies(copy.id)] == [QUAKE.id, copy.id]
        assert store.first_copy(copy.id).id == QUAKE.id and store.first_copy(QUAKE.id) is None
        assert store.stats()["near_duplicates"] == 1
        store.remove(QUAKE.id)
        assert store.first_copy(copy.id) is None and store.stats()["near_duplicates"] == 0
        assert [c.id for c in store.copies(copy.id)] == [copy.id]

    def test_searches_are_filtered_by_date_and_source(self, store: Store) -> None:
        add_articles(store, [QUAKE, STORM, UNDATED])
        question = "How many survivors did rescuers pull from the rubble?"
        vector = store.embedder.embed_query(question)
        cases = {
            SearchFilter(): {QUAKE.id, STORM.id, UNDATED.id},
            SearchFilter(since=date(2024, 4, 1)): {STORM.id},
            SearchFilter(until=date(2024, 4, 1)): {QUAKE.id},  # the undated article has no date to compare
            SearchFilter(since=date(2024, 3, 4), until=date(2024, 3, 4)): {QUAKE.id},
            SearchFilter(source="https://wire.example/"): {STORM.id},
            SearchFilter(source="notes/"): {UNDATED.id},
            SearchFilter(source="https://news.example/", since=date(2024, 4, 1)): set(),
            SearchFilter(source="https://news_example/"): set(),  # "_" is a wildcard in SQL's like, not here
        }
        for where, expected in cases.items():
            for hits in (store.dense_search(vector, 20, where), store.keyword_search(question, 20, where)):
                assert {store.sentence_rows([i])[i].article_id for i, _ in hits} == expected, where
        assert answer(store, "How many homes were destroyed?", SearchFilter(since=date(2024, 4, 1))) == (
            "57", STORM.title)

    def test_a_question_s_words_are_counted_in_windows(self, store: Store) -> None:
        add_articles(store, [QUAKE, STORM, UNDATED])
        rescuers, rubble, quake, zebra = (stemmed_terms(word).pop() for word in ("rescuers", "rubble", "quake", "zebra"))
        counts, total = store.term_windows([rescuers, rubble, quake, zebra])
        # 8 windows: a word counts in the window of its sentence and of each neighbour
        assert total == 8
        assert {term: counts.get(term, 0) for term in (rescuers, rubble, quake, zebra)} == {
            rescuers: 7, rubble: 5, quake: 3, zebra: 0}
        sentences = store.article_sentences(STORM.id)
        held = store.window_terms([s.id for s in sentences], {rescuers, rubble, quake})
        assert held == {s.id: {rescuers, rubble} for s in sentences}

    def test_feeds_remember_the_items_read(self, store: Store) -> None:
        store.record_feed("https://news.example/rss", ["https://news.example/a", "https://news.example/b"])
        store.record_feed("https://news.example/rss", ["https://news.example/b", "https://news.example/c"])
        store.record_feed("feeds/local.xml", [])
        assert store.feeds() == ["https://news.example/rss", "feeds/local.xml"]
        assert store.feed_links("https://news.example/rss") == {f"https://news.example/{x}" for x in "abc"}
        assert store.feed_links("feeds/local.xml") == set()

    def test_questions_and_feedback_are_kept_and_outlive_their_article(self, store: Store, open_store: OpenStore) -> None:
        add_articles(store, [QUAKE, STORM])
        asked = [AskedQuestion("a1", "How many homes were destroyed in Lerida?", "212", QUAKE.id, 0.8,
                               "2024-03-05T10:00:00+00:00", {"margin": 3.5, "coverage": 1.0}),
                 AskedQuestion("a2", "Who won the cup?", "", None, 0.05, "2024-03-06T09:30:00+00:00", {})]
        store.log_questions(asked)
        judged = [Feedback("a1", asked[0].question, "212", QUAKE.id, False, "it was 214 homes", "2024-03-05T10:01:00+00:00",
                           0.8, {"margin": 3.5, "coverage": 1.0}),
                  Feedback(None, "How many survivors in Brindle?", "9", STORM.id, True, "", "2024-05-11T08:00:00+00:00")]
        for feedback in judged:
            store.add_feedback(feedback)
        store.remove(QUAKE.id)  # judgements name their article by id: they stay
        store.close()
        with closing(open_store()) as again:
            assert again.asked_questions() == asked and again.feedback() == judged
            assert again.asked_questions(since="2024-03-06") == asked[1:]
            assert again.feedback(since="2024-05-01") == judged[1:] and again.check() == []

    def test_a_rebuild_keeps_every_article_and_answer(self, store: Store) -> None:
        add_articles(store, [QUAKE, STORM, UNDATED])
        store.remove(UNDATED.id)
        stats = store.rebuild()
        assert (stats["articles"], stats["sentences"], stats["vectors"]) == (2, 6, 6) and store.check() == []
        assert answer(store, "How many homes did the storm in Brindle destroy?") == ("57", STORM.title)

    def test_another_instance_sees_what_one_wrote(self, store: Store, open_store: OpenStore) -> None:
        add_articles(store, [QUAKE])
        store.close()
        with closing(open_store()) as again:
            assert again.known([QUAKE.id]) == {QUAKE.id} and again.check() == []
            assert answer(again, "How many homes were destroyed in Lerida?") == ("212", QUAKE.title)

    def test_a_write_that_fails_part_way_leaves_the_index_as_it_was(
        self, store: Store, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        add_articles(store, [QUAKE])
        self.fail_next_write(store, monkeypatch)
        with pytest.raises(StoreError):
            add_articles(store, [STORM, UNDATED])
        monkeypatch.undo()
        for index in (store, open_store()):
            assert [a.id for a in index.list_articles()] == [QUAKE.id]
            assert index.stats()["sentences"] == 3 and index.check() == []
            assert answer(index, "How many homes did the storm destroy?")[1] != STORM.title
            if index is not store:
                index.close()
        assert [s for _, s in add_articles(store, [STORM])] == [ADDED]

    def test_a_read_only_index_is_searched_not_changed(self, store: Store, open_store: OpenStore) -> None:
        add_articles(store, [QUAKE])
        store.close()
        with closing(open_store(read_only=True)) as reader:
            assert reader.read_only and answer(reader, "How many homes were destroyed in Lerida?")[0] == "212"
            for change in (lambda: add_articles(reader, [STORM]), lambda: reader.remove(QUAKE.id),
                           lambda: reader.record_feed("f.xml", []),
                           lambda: reader.add_feedback(Feedback(None, "q", "a", QUAKE.id, True, "", "2024-01-01")),
                           lambda: reader.log_questions([AskedQuestion("a", "q", "", None, 0.0, "2024-01-01", {})])):
                with pytest.raises(IndexReadOnlyError, match="read-only"):
                    change()
            assert reader.known([QUAKE.id, STORM.id]) == {QUAKE.id}
            assert reader.feedback() == [] and reader.asked_questions() == []

