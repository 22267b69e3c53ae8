"""Training examples (qa.reader_examples), calibration (qa.calibrate) and the training step's setup, on small hand-made data: no training here."""

import argparse
import json
import math
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from index.embedder import load_tokenizer
from index.sentences import split_sentences
from index.store.base import Feedback
from qa.ranking import ANSWER_FEATURES, Reading
from qa.reader import CONFIG_FILE, Calibration
from qa.retriever import Passage
from qa.span_model import build_model
from qa.training.calibrate import (
    CalibrationRead,
    best_answers,
    calibrate_with_feedback,
    domain_weights,
    fit_calibration,
    lowest_safe_stop,
    mixed_f1,
)
from qa.training.evaluate import expected_calibration_error, reliability
from qa.training.examples import (
    Example,
    article_examples,
    article_terms,
    foreign_examples,
    resolve_answer_start,
    swapped_question,
    tokenize,
)
from qa.training.train_reader import WARMUP_STEPS, learning_rate, main, run_batches, speed_up

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


def test_negatives_can_be_kept_to_windows_mentioning_the_questions_names() -> None:
    seven = CONTEXT.index("Seven")
    article = {"title": "Raids", "paragraphs": [
        {"context": CONTEXT, "qas": [{"id": "3", "question": "How many people were held in Belgium?",
                                      "answers": [{"text": "Seven", "answer_start": seven}]}]},
        {"context": "Belgium closed its border. Trains stopped for a day.", "qas": []},
        {"context": "A storm hit the coast. Ferries stayed in port.", "qas": []},
    ]}

    def negatives(names_held: bool) -> set[str]:
        return {e.window for seed in range(20)
                for e in article_examples(article, random.Random(seed), 1.0, names_held=names_held) if e.start < 0}

    assert any("Belgium" not in w for w in negatives(False))
    assert negatives(True) == {"Belgium closed its border. Trains stopped for a day."}


def test_examples_carry_their_articles_header() -> None:
    news = {"title": "CNN news quiz 2020/01/24", "date": "2020/01/24", "paragraphs": ARTICLE["paragraphs"]}
    assert {e.header for e in article_examples(ARTICLE, random.Random(0), 1.0)} == {"Raids"}
    assert {e.header for e in article_examples(news, random.Random(0), 1.0)} == {"CNN news quiz 2020/01/24 (2020-01-24)"}


def test_foreign_examples_ask_over_another_articles_window() -> None:
    examples = [Example("How many raids?", "Police carried out 128 raids.", 19, 22, "Raids"),
                Example("Where was the quake?", "A quake struck Turkey.", 16, 22, "Quake"),
                Example("How many raids?", "Nothing here.", -1, -1, "Raids")]
    foreign = foreign_examples(examples, random.Random(0), rate=1.0)
    assert foreign and all(e.start == e.end == -1 for e in foreign)
    asked = {e.question: e for e in foreign}
    assert all((e.header == "Quake") == (q == "How many raids?") for q, e in asked.items())  # never its own article


def test_tokenized_answer_positions_point_past_the_header() -> None:
    window = "Mayor Ana Reyes cut the ribbon."
    [(ids, types, start, end)] = tokenize([Example("Who is the mayor of Port Ellis?", window, 6, 15,
                                                              "Harbour bridge reopens in Port Ellis")])
    assert load_tokenizer().decode(ids[start : end + 1]) == "ana reyes"
    assert "port ellis |" in load_tokenizer().decode(ids) and types[start] == 1


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
    article = {"title": "Lyon", "paragraphs": [
        {"context": "Police raided a flat in Lyon.", "qas": [
            {"id": "1", "question": question, "answers": [{"text": "a flat", "answer_start": 14}]}]},
        {"context": "Police found guns in Marseille.", "qas": []},
    ]}
    examples = article_examples(article, random.Random(0), negative_rate=0.0, swap_rate=1.0)
    assert [(e.question, e.start >= 0) for e in examples] == [(question, True), ("What did police raid in Marseille?", False)]
    assert examples[0].window == examples[1].window


def _read(question: str, golds: list[str], domain: str, spans: list[tuple[str, float]]) -> CalibrationRead:
    """A calibration read whose windows (ranks 1, 2, ...) each hold one span with its margin."""
    found = []
    for rank, (text, margin) in enumerate(spans, 1):
        window = f"w{rank} {text}."
        passage = Passage(f"{domain}{rank}", rank, 0, len(window), 0, len(window), ((0, len(window)),), 1.0, window)
        found.append(Reading(passage, 3, 3 + len(text), margin, rank))
    return CalibrationRead(question, golds, domain, found)


def test_calibration_fit_scores_higher_margins_higher_and_sets_stop_and_threshold() -> None:
    rng = random.Random(0)
    reads = []
    for i in range(300):
        margin = rng.uniform(-6, 6)
        right = rng.random() < 1 / (1 + math.exp(-margin))  # right as often as the margin's logistic says
        domain = "news" if i % 3 == 0 else "squad"
        reads.append(_read(f"What is {i}?", ["gold"], domain, [("gold" if right else "other", margin), ("third", -8.0)]))
    fit = fit_calibration(reads)
    assert fit["weights"]["margin"] > 0.5 and fit["answers"] == 300  # the best answer of each read

    scorer = Calibration(fit["weights"], fit["intercept"])
    best = best_answers(reads, scorer)
    assert all(text in ("gold", "other") for text, _ in best)  # the margin-8 third window never wins
    # Answering everything gets the right ones; answering nothing gets none of these answerable questions.
    assert mixed_f1(reads, best, 0.0) > 30 and mixed_f1(reads, best, 1.01) == 0.0
    # Stopping at probability 0 always stops after the first window.
    assert best_answers(reads, scorer, stop_at=1e-9) == best


def test_the_stop_probability_costs_no_domain_more_than_the_tolerance() -> None:
    whole = {"squad": 70.0, "news": 76.0}
    by_stop = {0.5: {"squad": 70.0, "news": 72.0}, 0.7: {"squad": 69.8, "news": 75.8}, 0.9: {"squad": 70.0, "news": 76.0}}
    assert lowest_safe_stop(by_stop, whole) == 0.7  # 0.5 costs news 4 points, however little the pooled mix loses
    assert lowest_safe_stop({0.9: {"squad": 60.0, "news": 76.0}}, whole) == 1.0


def test_domains_weigh_the_same() -> None:
    reads = [_read("q", ["a"], "squad", [("a", 1.0)])] * 3 + [_read("q", ["a"], "news", [("a", 1.0)])]
    weights = domain_weights(reads)
    assert weights[:3].sum() == weights[3:].sum() and weights.sum() == len(reads)


def test_expected_calibration_error() -> None:
    assert expected_calibration_error(np.array([0.75] * 4), np.array([1, 1, 1, 0.0])) == 0.0
    assert math.isclose(expected_calibration_error(np.array([0.9, 0.9, 0.15, 0.15]), np.array([0, 1, 0, 0.0])),
                        0.5 * 0.4 + 0.5 * 0.15)


def test_reliability_reports_the_share_right_in_each_score_band() -> None:
    scores = np.array([0.1, 0.15, 0.5, 0.9, 0.95, 1.0])
    right = np.array([False, True, True, True, True, False])
    bands = reliability(scores, right, bins=5)
    assert [b["scores"] for b in bands] == ["0.0-0.2", "0.4-0.6", "0.8-1.0"]  # empty bands are left out
    assert [b["answers"] for b in bands] == [2, 1, 3]  # a score of 1.0 falls in the top band
    assert bands[0]["right"] == 0.5 and bands[2]["right"] == round(2 / 3, 3)
    assert bands[2]["mean_score"] == round((0.9 + 0.95 + 1.0) / 3, 3)


@pytest.mark.slow
def test_the_faster_step_turns_dropout_off_and_freezes_the_lowest_layers() -> None:
    import torch

    model = build_model()
    speed_up(model, dropout=0.0, frozen_layers=2)
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    trained = {name.split(".")[3] for name, p in model.named_parameters()
               if p.requires_grad and name.startswith("encoder.encoder.layer.")}
    assert trained == {"2", "3", "4", "5"}
    assert not any(p.requires_grad for p in model.encoder.embeddings.parameters())
    assert model.span.weight.requires_grad


def test_learning_rate_warms_up_then_reaches_zero_at_the_budget_or_the_last_batch_whichever_is_first() -> None:
    assert learning_rate(1e-4, 0, 10_000, 0.0, 600.0) == pytest.approx(1e-4 / WARMUP_STEPS)
    # Warmed up, half the budget spent, 3% of the data read: the budget sets the decay.
    assert learning_rate(1e-4, WARMUP_STEPS, 10_000, 300.0, 600.0) == pytest.approx(0.5e-4)
    # The time budget runs out first.
    assert learning_rate(1e-4, 1_000, 10_000, 600.0, 600.0) == 0.0
    # The data runs out first: an epoch shorter than the budget still ends at zero, not part-way down.
    assert learning_rate(1e-4, 5_000, 10_000, 100.0, 600.0) == pytest.approx(0.5e-4)
    assert learning_rate(1e-4, 10_000, 10_000, 200.0, 600.0) == 0.0


def test_each_epoch_draws_new_windows_and_the_same_seed_the_same_batches() -> None:
    settings = argparse.Namespace(epochs=2, batch_size=4, negative_rate=1.0, swap_rate=0.0, foreign_rate=0.0,
                                  names_held=False)
    batches = run_batches([ARTICLE] * 6, settings, random.Random(3))
    one_epoch = run_batches([ARTICLE] * 6, argparse.Namespace(**{**vars(settings), "epochs": 1}), random.Random(3))
    assert sum(map(len, batches)) == 2 * sum(map(len, one_epoch))
    assert batches == run_batches([ARTICLE] * 6, settings, random.Random(3))  # what resuming relies on
    second = batches[len(one_epoch) :]
    assert sorted(map(str, second)) != sorted(map(str, batches[: len(one_epoch)]))  # not the first epoch again


@pytest.mark.slow
def test_a_run_resumes_only_with_the_settings_it_was_started_with(tmp_path: Path) -> None:
    data = tmp_path / "train.json"
    data.write_text(json.dumps({"data": [ARTICLE] * 21}))  # the last 20 are held out for calibration
    run = ["train", "--data", str(data), "--news-repeat", "0", "--out", str(tmp_path / "run"), "--minutes", "0"]
    main(run)
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    main(run)
    assert "resumed at step 0" in (tmp_path / "run" / "train.log").read_text()
    with pytest.raises(SystemExit, match="continues a run made with --epochs 1; give the same settings"):
        main([*run, "--epochs", "2"])


def _synthetic_reads(n: int = 300) -> list[CalibrationRead]:
    rng = random.Random(0)
    reads = []
    for i in range(n):
        margin = rng.uniform(-6, 6)
        right = rng.random() < 1 / (1 + math.exp(-margin))
        reads.append(_read(f"What is {i}?", ["gold"], "news" if i % 3 == 0 else "squad",
                           [("gold" if right else "other", margin), ("third", -8.0)]))
    return reads


def _judgement(n: int, margin: float, reported: float, helpful: bool) -> Feedback:
    features = dict.fromkeys(ANSWER_FEATURES, 0.0) | {"margin": margin, "reported": reported}
    return Feedback(f"a{n}", f"What is {n}?", "gold", None, helpful, "", f"2024-01-01T00:00:{n % 60:02d}", 0.5, features)


def test_a_refit_with_feedback_is_kept_only_when_it_scores_held_out_judgements_better(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "reads.pkl"
    cache.write_bytes(pickle.dumps(_synthetic_reads()))
    config = tmp_path / CONFIG_FILE
    config.write_text(json.dumps({"calibration": {"weights": {"margin": 1.0}, "intercept": 0.0}, "threshold": 0.5}))
    # The readers' answers are right when they come from the week asked about, whatever the margin says.
    rng = random.Random(1)
    feedback = [_judgement(n, rng.uniform(-6, 6), float(n % 2), n % 2 == 1) for n in range(400)]
    with pytest.raises(ValueError, match="at least 300"):
        calibrate_with_feedback(tmp_path, tmp_path, tmp_path, 10, 0, cache, feedback[:200])
    outcome = calibrate_with_feedback(tmp_path, tmp_path, tmp_path, 10, 0, cache, feedback)
    assert outcome["kept"] == "new" and (outcome["fitted"], outcome["checked"]) == (266, 134)
    assert outcome["after"]["ece"] < outcome["before"]["ece"] / 2
    written = json.loads(config.read_text())
    assert written["calibration"]["weights"]["reported"] > 1 and written["heldout"]["judged"]["after"] == outcome["after"]
    # A refit that scores them worse leaves the calibration in use as it is.
    worse = {"calibration": {"weights": {"margin": -1.0}, "intercept": 0.0, "answers": 1, "judged": 1},
             "threshold": 0.9, "stop_probability": 1.0, "heldout": {}}
    monkeypatch.setattr("qa.training.calibrate.calibrate", lambda *args, **kwargs: worse)
    assert calibrate_with_feedback(tmp_path, tmp_path, tmp_path, 10, 0, cache, feedback)["kept"] == "old"
    assert json.loads(config.read_text()) == written
