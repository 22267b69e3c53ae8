"""Questions a reader of the seed article would ask, and some it does not answer.

Run: .venv/bin/python bench/seed_questions.py [--index DIR] [--reader DIR]
Prints each answer and the share right (answerable: the gold text, after SQuAD
normalisation, equals or is contained in the answer; unanswerable: no answer).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from index.articles import read_file
from index.indexer import add_articles
from index.store.faiss_sqlite import FaissSqliteStore
from index.text import normalize_answer
from qa.pipeline import Pipeline
from qa.reader import Reader

SEED = Path(__file__).resolve().parents[1] / "data" / "articles" / "000_057363c6d6ccf170.txt"
ANSWERABLE = {
    "How many raids?": "128",
    "How many security personnel has France mobilised?": "115,000",
    "How many people died in the attacks?": "129",
    "Who is the French interior minister?": "Bernard Cazeneuve",
    "Where is Salah Abdeslam believed to have fled?": "Belgium",
    "How many people were arrested on Monday?": "23",
    "How many member states offered support?": "28",
    "Who is the EU foreign policy chief?": "Federica Mogherini",
    "Which US official visited Paris?": "John Kerry",
    "How many people were wounded in the attacks?": "400",
    "How many individuals do intelligence services have files on?": "10,500",
    "When will parliament vote on the measure?": "Wednesday",
    "Where is the GCHQ listening station?": "Cheltenham",
    "Who is the French prime minister?": "Manuel Valls",
    "What did Kerry call IS?": "psychopathic monsters",
    "Where did police find a safe house used by the attackers?": "Bobigny",
    "By how much had funding for police equipment fallen?": "17%",
    "How many people were detained in Belgium over the weekend?": "Seven",
    "Which match was cancelled?": "Tuesday's football match between the national team and Spain",
    "Who is the brother of Salah Abdeslam that was released?": "Mohammed Abdeslam",
}
UNANSWERABLE = [
    "What is the capital of Peru?",
    "What was the final score of the football match?",
    "How much does a barrel of oil cost?",
    "Who won the 2015 Rugby World Cup?",
    "How many raids were carried out in Germany?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", help="an index holding the seed article (default: a fresh one)")
    parser.add_argument("--reader", help="a reader folder, as qa train-reader export writes (default: the shipped one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(FaissSqliteStore(Path(args.index or tmp)), Reader(Path(args.reader)) if args.reader else None)
        add_articles(pipeline.corpus, read_file(SEED))
        right = 0
        for question, gold in ANSWERABLE.items():
            result = pipeline.answer(question)
            ok = bool(result.text) and normalize_answer(gold) in normalize_answer(result.text)
            right += ok
            print(f"{'ok ' if ok else 'BAD'} {question} -> {result.text!r} ({result.score:.2f}) [gold {gold!r}]")
        empty = plain = 0
        for question in UNANSWERABLE:
            result = pipeline.answer(question)
            empty += not result.text
            plain += not result.text and result.candidate is None
            unsure = f" possibly {result.candidate.text!r}" if result.candidate else ""
            print(f"{'ok ' if not result.text else 'BAD'} {question} -> {result.text!r}{unsure} ({result.score:.2f})")
    print(json.dumps({"answerable_right": f"{right}/{len(ANSWERABLE)}", "unanswerable_empty": f"{empty}/{len(UNANSWERABLE)}",
                      "unanswerable_without_an_unsure_candidate": f"{plain}/{len(UNANSWERABLE)}"}))


if __name__ == "__main__":
    main()
