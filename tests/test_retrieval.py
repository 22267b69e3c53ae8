from pathlib import Path

import pytest

from index.articles import read_file
from index.corpus import Corpus
from qa.retriever import reciprocal_rank_fusion, retrieve


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert [i for i, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == 1 / 61 + 1 / 62


@pytest.mark.slow
def test_windows_are_the_sentence_and_its_neighbours(index_dir: Path, quake_file: Path) -> None:
    corpus = Corpus(index_dir)
    corpus.add(read_file(quake_file))
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
    passages = retrieve(Corpus(seeded_dir), "How many raids were carried out by police?", k=8)
    assert len(passages) == 8
    for i, later in enumerate(passages):
        for earlier in passages[:i]:
            assert (later.sentence_start, later.sentence_end) not in earlier.sentences
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_keyword_search_matches_words_of_neighbouring_sentences(seeded_dir: Path) -> None:
    corpus = Corpus(seeded_dir)
    # "Abdeslam" and "Belgium" stand in neighbouring sentences, not in one.
    [(sid, _)] = corpus.keyword_search("Abdeslam native Belgium pictures", 1)
    row = corpus.sentence_rows([sid])[sid]
    window = corpus.neighbours(row, 1)
    text = corpus.article_text(row.article_id)[window[0].start : window[-1].end]
    assert all(w in text for w in ("Abdeslam", "Belgium", "pictures"))


def test_keyword_search_ignores_query_syntax(seeded_dir: Path) -> None:
    corpus = Corpus(seeded_dir)
    assert corpus.keyword_search('raids" OR NEAR(x AND -', 5)
    assert corpus.keyword_search("?!", 5) == []


@pytest.mark.slow
def test_empty_index_retrieves_nothing(tmp_path: Path) -> None:
    assert retrieve(Corpus(tmp_path), "How many raids?") == []
