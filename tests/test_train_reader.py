import random

import numpy as np

from index.sentences import split_sentences
from qa.reader import Reader
from qa.train_reader import (
    article_examples,
    article_terms,
    heldout_open_reads,
    open_f1,
    reliability,
    resolve_answer_start,
    swapped_question,
    unanswerable_context,
)

CONTEXT = (
    "Police carried out 128 raids overnight. The minister said 23 people were arrested. "
    "Officers seized weapons in Lyon. Seven people were held in Belgium. "
    "The raids were the largest since 1995."
)
ARTICLE = {
    "title": "Raids",
    "paragraphs": [
        {"context": CONTEXT, "qas": [
            {"id": "1", "question": "How many people were arrested?", "answers": [{"text": "23", "answer_start": 58}]},
            {"id": "2", "question": "Where were weapons seized?", "answers": [{"text": "Lyon", "answer_start": 115}]},
        ]},
        {"context": "A storm hit the coast. Trains stopped for a day.", "qas": []},
    ],
}


def test_ambiguous_offset_goes_to_the_sentence_the_question_is_about() -> None:
    context = "The raids began at 5am. The minister said the raids numbered 128 by 5am."
    sentences = split_sentences(context)
    start = resolve_answer_start(context, sentences, "How many raids did the minister report by 5am?", "5am", 19)
    assert start == context.rindex("5am")
    assert resolve_answer_start(context, sentences, "q", "absent", 7) == 7


def test_examples_hold_their_answer_and_negatives_do_not() -> None:
    examples = article_examples(ARTICLE, random.Random(0), negative_rate=1.0)
    positives = [e for e in examples if e.start >= 0]
    negatives = [e for e in examples if e.start < 0]
    assert {e.window[e.start : e.end] for e in positives} == {"23", "Lyon"}
    answer_of = {"How many people were arrested?": "23", "Where were weapons seized?": "Lyon"}
    assert negatives and all(answer_of[e.question] not in e.window for e in negatives)
    # The answer sentence sits at different places of its window across seeds.
    offsets = {e.start for seed in range(12) for e in article_examples(ARTICLE, random.Random(seed), 0.0)
               if e.window[e.start : e.end] == "23"}
    assert len(offsets) > 1


def test_unanswerable_context_never_holds_the_answer() -> None:
    para = ARTICLE["paragraphs"][0]
    texts = {unanswerable_context(ARTICLE, para, ["23"], random.Random(seed)) for seed in range(20)}
    assert all("23" not in t and t for t in texts)
    assert any("128 raids" in t for t in texts) and any("storm" in t for t in texts)


def test_article_terms_are_names_and_numbers_not_words_also_written_lower_case() -> None:
    assert {"Lyon", "Belgium", "128", "23", "1995"} <= set(article_terms(ARTICLE))
    article = {"paragraphs": [{"context": "The raids ended. Raids in Paris went on in the spring of 2015."}]}
    assert article_terms(article) == ["Paris", "2015"]  # "The" and "Raids" are also written lower case


def test_swapped_question_asks_about_a_term_the_window_does_not_mention() -> None:
    window = "Officers seized weapons in Lyon. Seven people were held in Belgium."
    terms = ["Lyon", "Belgium", "Marseille", "Germany", "128", "1995"]
    swaps = {swapped_question("Where in Lyon were weapons seized?", window, terms, random.Random(s)) for s in range(20)}
    assert swaps == {"Where in Marseille were weapons seized?", "Where in Germany were weapons seized?"}
    # Numbers are swapped for numbers only; a question without a term the window holds has no swap.
    swapped = {swapped_question("Why did 7 officers go?", "7 officers went.", terms, random.Random(s)) for s in range(20)}
    assert swapped == {"Why did 128 officers go?", "Why did 1995 officers go?"}
    assert swapped_question("Where were weapons seized?", window, terms, random.Random(0)) is None
    assert swapped_question("Where in Paris were weapons seized?", window, terms, random.Random(0)) is None


def test_swapped_questions_become_no_answer_examples_on_the_answering_window() -> None:
    question = "What did police raid in Lyon?"
    article = {"paragraphs": [
        {"context": "Police raided a flat in Lyon.", "qas": [
            {"id": "1", "question": question, "answers": [{"text": "a flat", "answer_start": 14}]}]},
        {"context": "Police found guns in Marseille.", "qas": []},
    ]}
    examples = article_examples(article, random.Random(0), negative_rate=0.0, swap_rate=1.0)
    assert [(e.question, e.start >= 0) for e in examples] == [(question, True), ("What did police raid in Marseille?", False)]
    assert examples[0].window == examples[1].window


def test_open_f1_ranks_heldout_reads_as_answer_does() -> None:
    articles = [ARTICLE, {"title": "Quake", "paragraphs": [{"context": "A magnitude 7.8 earthquake struck Turkey. "
        "Rescue teams from 24 countries came to Gaziantep.", "qas": [
            {"id": "3", "question": "How many countries sent rescue teams?", "answers": [{"text": "24", "answer_start": 60}]}]}]}]
    reader = Reader()
    reads = heldout_open_reads(reader, articles, random.Random(0), limit=10)
    assert len(reads) == 3 and all(len(passages) == len(found) for _, passages, found in reads)
    assert open_f1(reads, reader, windows=5, penalty=0.0) == 100.0  # the three questions are answered right
    # Stopping at probability 0 always stops after the first window: the same as reading one window.
    assert open_f1(reads, reader, windows=5, penalty=1.0, stop_at=0.0) == open_f1(reads, reader, windows=1, penalty=0.0)


def test_reliability_reports_the_share_right_in_each_score_band() -> None:
    scores = np.array([0.1, 0.15, 0.5, 0.9, 0.95, 1.0])
    right = np.array([False, True, True, True, True, False])
    bands = reliability(scores, right)
    assert [b["scores"] for b in bands] == ["0.0-0.2", "0.4-0.6", "0.8-1.0"]  # empty bands are left out
    assert [b["answers"] for b in bands] == [2, 1, 3]  # a score of 1.0 falls in the top band
    assert bands[0]["right"] == 0.5 and bands[2]["right"] == round(2 / 3, 3)
    assert bands[2]["mean_score"] == round((0.9 + 0.95 + 1.0) / 3, 3)
