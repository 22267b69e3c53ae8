from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from index.articles import make_article, read_file
from index.indexer import add_articles
from index.store.base import SearchFilter
from index.store.faiss_sqlite import FaissSqliteStore
from qa.retriever import REPORTED_WEIGHT, keyword_coverage, retrieve, within
from tests.fakes import FakeEmbedder

# One story told in two weeks, and another story that shares its common words.
OLD = make_article("Flooding in Marlow", "Heavy rain flooded Marlow on Tuesday. The river rose 3 metres in the town.",
                   "https://news.example/marlow", "2024-03-05")
NEW = make_article("Flooding in Tessby", "Heavy rain flooded Tessby on Tuesday. The river rose 2 metres in the town.",
                   "https://news.example/tessby", "2024-06-11")
OTHER = make_article("Council meets", "The town council met on Tuesday. The town council said the town budget grew.",
                     "https://news.example/council", "2024-06-12")


@pytest.fixture
def dated_corpus(tmp_path: Path) -> FaissSqliteStore:
    with closing(FaissSqliteStore(tmp_path / "index", embedder=FakeEmbedder())) as corpus:
        add_articles(corpus, [OLD, NEW, OTHER])
        yield corpus


def test_keyword_coverage_weighs_a_rare_word_over_a_common_one(dated_corpus: FaissSqliteStore) -> None:
    rows = {dated_corpus.article_text(r.article_id)[r.start : r.end]: r.id
            for a in (OLD, NEW, OTHER) for r in dated_corpus.article_sentences(a.id)}
    marlow, council = rows["Heavy rain flooded Marlow on Tuesday."], rows["The town council met on Tuesday."]
    coverage = keyword_coverage(dated_corpus, "Which river flooded Marlow in the town?", [marlow, council])
    # Marlow's window holds every word; the council's only "town", which four of the six windows hold.
    assert coverage[marlow] == pytest.approx(1.0)
    assert 0 < coverage[council] < 0.2
    assert keyword_coverage(dated_corpus, "Which of them?", [marlow]) == {marlow: 0.0}


def test_a_question_about_the_present_prefers_the_week_it_is_asked_in(dated_corpus: FaissSqliteStore) -> None:
    question = "How high did the river rise after the heavy rain flooded the town?"
    first = {day: retrieve(dated_corpus, question, k=2, as_of=day)[0].article_id
             for day in (date(2024, 3, 8), date(2024, 6, 14))}
    assert first == {date(2024, 3, 8): OLD.id, date(2024, 6, 14): NEW.id}
    # The boost is the week's only: asked months later, or about another time, the two score alike.
    later = retrieve(dated_corpus, question, k=2, as_of=date(2025, 1, 1))
    past = retrieve(dated_corpus, question + " in 2023", k=2, as_of=date(2024, 6, 14))
    for passages in (later, past):
        assert abs(passages[0].score - passages[1].score) < REPORTED_WEIGHT
    asked_in_june = retrieve(dated_corpus, question, k=2, as_of=date(2024, 6, 14))
    assert asked_in_june[0].score - asked_in_june[1].score > REPORTED_WEIGHT / 2


def test_a_much_closer_older_story_still_comes_first(dated_corpus: FaissSqliteStore) -> None:
    passages = retrieve(dated_corpus, "How many metres did the river rise in Marlow?", k=2, as_of=date(2024, 6, 14))
    assert passages[0].article_id == OLD.id


def test_a_question_naming_a_day_prefers_the_articles_of_the_week_after_it(dated_corpus: FaissSqliteStore) -> None:
    question = "How high did the river rise after the heavy rain flooded the town on 5 March?"
    assert retrieve(dated_corpus, question, k=1, as_of=date(2024, 6, 14))[0].article_id == OLD.id


def test_articles_dated_after_the_day_asked_are_left_out(dated_corpus: FaissSqliteStore) -> None:
    undated = make_article("Rivers", "The river rose in the town after the rain.", "https://news.example/rivers", None)
    add_articles(dated_corpus, [undated])
    question = "How many metres did the river rise in the town?"
    asked_in_march = {p.article_id for p in retrieve(dated_corpus, question, k=5, as_of=date(2024, 3, 6))}
    assert asked_in_march == {OLD.id, undated.id}  # Tessby's flood and the council were reported in June
    # A day's grace (time zones): an article dated the day after the question is asked still counts.
    assert NEW.id in {p.article_id for p in retrieve(dated_corpus, question, k=5, as_of=date(2024, 6, 10))}
    assert OTHER.id not in {p.article_id for p in retrieve(dated_corpus, question, k=5, as_of=date(2024, 6, 10))}


def test_the_reporting_period_stays_within_the_filter_asked_for() -> None:
    june = (date(2024, 6, 8), date(2024, 6, 14))
    assert within(None, *june) == SearchFilter(since=june[0], until=june[1])
    where = SearchFilter(since=date(2024, 6, 10), source="https://news.example/")
    assert within(where, *june) == SearchFilter(since=date(2024, 6, 10), until=june[1], source="https://news.example/")
    assert within(SearchFilter(until=date(2024, 1, 1)), *june) is None



@pytest.mark.slow
def test_windows_are_the_sentence_and_its_neighbours(index_dir: Path, quake_file: Path) -> None:
    corpus = FaissSqliteStore(index_dir)
    add_articles(corpus, read_file(quake_file))
    passages = retrieve(corpus, "How many countries sent rescue teams?", k=3)
    best = passages[0]
    text = corpus.article_text(best.article_id)
    assert "24 countries" in text[best.sentence_start : best.sentence_end]
    assert best.text == text[best.start : best.end]
    assert 1 <= len(best.sentences) <= 3
    assert best.sentences[0][0] == best.start and best.sentences[-1][1] == best.end
    assert (best.sentence_start, best.sentence_end) in best.sentences
    assert "Earthquake" in corpus.article(best.article_id).title


@pytest.mark.slow
def test_windows_do_not_repeat_a_retrieved_sentence(seeded_dir: Path) -> None:
    passages = retrieve(FaissSqliteStore(seeded_dir), "How many raids were carried out by police?", k=8)
    assert len(passages) == 8
    for i, later in enumerate(passages):
        for earlier in passages[:i]:
            assert (later.sentence_start, later.sentence_end) not in earlier.sentences
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_keyword_search_matches_words_of_neighbouring_sentences(seeded_dir: Path) -> None:
    corpus = FaissSqliteStore(seeded_dir)
    # "Abdeslam" and "Belgium" stand in neighbouring sentences, not in one.
    [(sid, _)] = corpus.keyword_search("Abdeslam native Belgium pictures", 1)
    row = corpus.sentence_rows([sid])[sid]
    window = corpus.neighbours(row, 1)
    text = corpus.article_text(row.article_id)[window[0].start : window[-1].end]
    assert all(w in text for w in ("Abdeslam", "Belgium", "pictures"))


def test_keyword_search_ignores_query_syntax(seeded_dir: Path) -> None:
    corpus = FaissSqliteStore(seeded_dir)
    assert corpus.keyword_search('raids" OR NEAR(x AND -', 5)
    assert corpus.keyword_search("?!", 5) == []


@pytest.mark.slow
def test_empty_index_retrieves_nothing(tmp_path: Path) -> None:
    assert retrieve(FaissSqliteStore(tmp_path), "How many raids?") == []
