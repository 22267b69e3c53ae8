"""A simulated week of readers: every question of the news set asked through the JSON API of a server that keeps
questions (``qa serve --log-questions``), each on its quiz's day; each answer judged from the gold answers
(helpful when its F1 is at least 0.5, an abstention not helpful) through ``POST /api/v1/feedback``; then
``GET /api/v1/report``; then ``calibrate --feedback`` on the first half of the judgements (in the order given),
scored on the second half before and after.

    python bench/readers_week.py --index runs/idx-news --reads-cache runs/calib-reads.pkl --out runs/readers-week.json

The index (built there from the news set when empty) is copied first, so it is left as it was; the reader
is copied too, so the shipped calibration is never rewritten.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402

from index.store.faiss_sqlite import FaissSqliteStore  # noqa: E402
from qa.pipeline import Pipeline  # noqa: E402
from qa.reader import CONFIG_FILE, READER_DIR, Calibration, Reader  # noqa: E402
from qa.training.calibrate import calibrate_with_feedback, judged_figures, judged_rows  # noqa: E402
from qa.training.evaluate import open_eval_corpus  # noqa: E402
from qa.training.squad import best_score, f1_score, load_squad, questions_of, shared_data  # noqa: E402
from ui.server import server_app  # noqa: E402

NEWS = shared_data("news", "realtimeqa-dev-v1.1.json.gz")
SQUAD_TRAIN = shared_data("squad", "train-v1.1.json.gz")
HELPFUL_F1 = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, help="the news set's index (built here once when empty)")
    parser.add_argument("--reads-cache", help="calibration reads, kept and reused (computing them takes minutes)")
    parser.add_argument("--out", default="runs/readers-week.json")
    parser.add_argument("--limit", type=int, help="ask only the first N questions")
    args = parser.parse_args()
    data = load_squad(NEWS)
    open_eval_corpus(data, Path(args.index)).close()
    questions = questions_of(data)[: args.limit]
    with tempfile.TemporaryDirectory(prefix="qa-week-") as tmp:
        index, reader_dir = Path(tmp) / "index", Path(tmp) / "reader"
        shutil.copytree(args.index, index)
        shutil.copytree(READER_DIR, reader_dir)
        pipeline = Pipeline(FaissSqliteStore(index), Reader(reader_dir))
        pipeline.warm_up()
        app = server_app(pipeline, log_questions=True)
        started, judged = time.perf_counter(), []
        with TestClient(app, base_url="http://127.0.0.1") as client:
            for q in questions:
                given = client.post("/api/v1/answer", json={"question": q.text, "as_of": q.asked_on.isoformat()}).json()
                helpful = bool(given["answer"]) and best_score(f1_score, given["answer"], q.golds) >= HELPFUL_F1
                response = client.post("/api/v1/feedback", json={
                    "question": q.text, "answer": given["answer"], "helpful": helpful, "answer_id": given["id"],
                    "article_id": given["article"]["id"] if given["answer"] else None})
                assert response.status_code == 201, response.text
                judged.append(helpful)
            asked_s = time.perf_counter() - started
            app.state.readers.close()
            report = client.get("/api/v1/report").json()
        feedback = pipeline.corpus.feedback()
        pipeline.close()
        half = len(feedback) // 2
        config = json.loads((reader_dir / CONFIG_FILE).read_text())
        shipped = Calibration.of(config["calibration"])
        second = judged_rows(feedback[half:])
        refit = calibrate_with_feedback(SQUAD_TRAIN, NEWS, reader_dir, 800, 13,
                                        Path(args.reads_cache) if args.reads_cache else None, feedback[:half])
        config = json.loads((reader_dir / CONFIG_FILE).read_text())
        refitted = Calibration.of(config["calibration"])
        result = {
            "questions": len(questions), "asked_seconds": round(asked_s, 1), "judged_helpful": sum(judged),
            "report": {key: report[key] for key in ("questions", "answered", "judged", "helpful", "reliability",
                                                    "unanswered_topics", "unused_article_count")},
            "refit_on_first_half": refit,
            "second_half": {"before": judged_figures(shipped, second), "after": judged_figures(refitted, second)},
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "report"}, indent=2))


if __name__ == "__main__":
    main()
