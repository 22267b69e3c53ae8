import random

from index.sentences import split_sentences
from qa.train_reader import article_examples, resolve_answer_start, unanswerable_context

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
