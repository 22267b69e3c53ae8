"""Where partial answers come from: answers that share some words with their best gold answer, but not all.

Run: .venv/bin/python bench/partial_answers.py PREDICTIONS [--file DATA] [--part PART] [--show N]
PREDICTIONS is the ``*-predictions.json`` that ``qa eval --out DIR`` writes. Each answer scored
0 < F1 < 1 against its best gold (SQuAD normalisation) is sorted by how its words sit against the
gold's: too long (extra words before, after or both), too short (words missing before, after or
both) or overlapping. Reports the answers and the F1 points (over all questions) of each kind, and
the same F1 with each answer's edge words that the question already says trimmed off (a decoding
fix one could make without training: "Which airline ...?" -> "Southwest Airlines" -> "Southwest").
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from index.text import content_words, normalize_answer, word_key
from qa.training.squad import best_score, f1_score, load_squad, questions_of, shared_data

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")


def kind_of(prediction: str, gold: str) -> str:
    """How a partial answer's normalised words sit against the gold's."""
    answer, reference = normalize_answer(prediction), normalize_answer(gold)
    if reference in answer:
        before, _, after = answer.partition(reference)
        return "too long: " + ("both ends" if before.strip() and after.strip() else "before" if before.strip() else "after")
    if answer in reference:
        before, _, after = reference.partition(answer)
        return "too short: " + ("both ends" if before.strip() and after.strip() else "before" if before.strip() else "after")
    return "overlapping"


def trim_question_words(prediction: str, question: str) -> str:
    """``prediction`` without the words at either end that the question already says (one word always stays)."""
    said = {word_key(w) for w in content_words(question)}
    words = prediction.split()
    while len(words) > 1 and word_key(words[0].strip(".,;:!?\"'“”‘’()")) in said:
        words = words[1:]
    while len(words) > 1 and word_key(words[-1].strip(".,;:!?\"'“”‘’()")) in said:
        words = words[:-1]
    return " ".join(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, help="a *-predictions.json written by qa eval --out")
    parser.add_argument("--file", default=str(SQUAD_DEV), help="the data set the predictions answer")
    parser.add_argument("--part", help="the news set's part that was asked (train, calibration, test)")
    parser.add_argument("--show", type=int, default=0, help="examples to print of each kind")
    args = parser.parse_args()
    questions = {q.id: q for q in questions_of(load_squad(args.file), args.part)}
    predictions = json.loads(args.predictions.read_text())
    answers, lost, examples = Counter(), Counter(), defaultdict(list)
    f1 = trimmed = 0.0
    for qid, prediction in predictions.items():
        question = questions[qid]
        score = best_score(f1_score, prediction, question.golds) if prediction else 0.0
        f1 += score
        trimmed += best_score(f1_score, trim_question_words(prediction, question.text), question.golds) if prediction else 0.0
        if 0 < score < 1:
            gold = max(question.golds, key=lambda g: f1_score(prediction, g))
            kind = kind_of(prediction, gold)
            answers[kind] += 1
            lost[kind] += 1 - score
            examples[kind].append({"question": question.text, "answer": prediction, "gold": gold, "f1": round(score, 2)})
    n = len(predictions)
    print(json.dumps({
        "questions": n,
        "f1": round(100 * f1 / n, 2),
        "partial_answers": sum(answers.values()),
        "f1_lost_to_partial_answers": round(100 * sum(lost.values()) / n, 2),
        "by_kind": {k: {"answers": c, "f1_lost": round(100 * lost[k] / n, 2)} for k, c in answers.most_common()},
        "f1_with_question_words_trimmed": round(100 * trimmed / n, 2),
        "examples": {k: v[: args.show] for k, v in examples.items()} if args.show else {},
    }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
