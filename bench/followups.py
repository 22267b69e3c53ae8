"""Follow-up resolution on questions asked one after another, as in a chat.

Run: .venv/bin/python bench/followups.py [--file NEWS] [--part test] [--index DIR]
Each quiz of the news set is one chat: its questions are asked in order, each after the
earlier ones. Reports the share of questions ``resolve_followup`` rewrites, with examples,
and F1 with and without the follow-up step (every quiz question stands on its own, so a
rewrite can only cost).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from qa.followup import resolve_followup
from qa.pipeline import Pipeline
from qa.training.evaluate import open_eval_corpus
from qa.training.squad import best_score, f1_score, load_squad, questions_of, shared_data

NEWS = shared_data("news", "realtimeqa-dev-v1.1.json.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(NEWS))
    parser.add_argument("--part", default="test", choices=["train", "calibration", "test"])
    parser.add_argument("--index", help="reuse (or build once into) this index folder")
    args = parser.parse_args()
    data = load_squad(args.file)
    rewritten, f1_alone, f1_resolved = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(open_eval_corpus(data, Path(args.index or tmp)))
        chats: dict[str, list] = {}
        for q in questions_of(data, args.part):
            chats.setdefault(q.title, []).append(q)
        for questions in chats.values():
            for i, q in enumerate(questions):
                resolved = resolve_followup(q.text, [p.text for p in questions[:i]], pipeline.corpus)
                alone = best_score(f1_score, pipeline.answer(q.text, as_of=q.asked_on).text, q.golds)
                f1_alone.append(alone)
                if resolved != q.text:
                    rewritten.append((q.text, resolved))
                    f1_resolved.append(best_score(f1_score, pipeline.answer(resolved, as_of=q.asked_on).text, q.golds))
                else:
                    f1_resolved.append(alone)
        pipeline.close()
    print(json.dumps({
        "file": args.file,
        "part": args.part,
        "questions": len(f1_alone),
        "rewritten_share": round(len(rewritten) / len(f1_alone), 4),
        "f1_without_followups": round(100 * statistics.fmean(f1_alone), 2),
        "f1_with_followups": round(100 * statistics.fmean(f1_resolved), 2),
        "rewritten_examples": rewritten[:10],
    }, indent=2))


if __name__ == "__main__":
    main()
