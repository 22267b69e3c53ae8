"""Soak: the web chat answering 16 users while other processes add and remove articles.

Starts ``qa serve`` over a scratch index (the seed article plus SQuAD v1.1 dev
paragraphs as articles), then for --minutes runs at once:

* a writer process adding a few new articles every few seconds (``index.indexer.add_articles``, as ``qa index add`` does);
* a remover process removing one of the writer's articles every few seconds;
* 16 users asking the seed questions over ``/answer``, one after the other;

while it samples the server's resident memory. At the end it runs
``qa index check`` and writes counts, errors, answers/s, latency and memory to
a JSON file (and prints it).

    python bench/soak.py --minutes 10 --out runs/soak.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ui_concurrency import QUESTIONS, ask_timed, free_port, gradio_asker, percentile, start_app  # noqa: E402
from qa.training.squad import shared_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SQUAD = shared_data("squad", "dev-v1.1.json.gz")
SEED_DIR = ROOT / "data" / "articles"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def paragraphs() -> list[tuple[str, str]]:
    data = json.load(gzip.open(SQUAD))
    return [(a["title"].replace("_", " "), p["context"]) for a in data["data"] for p in a["paragraphs"]]


def writer(index: str, stop_file: str, every: float, per_batch: int, report: str) -> None:
    """Add ``per_batch`` new articles every ``every`` seconds until ``stop_file`` exists."""
    from index.articles import make_article
    from index.indexer import ADDED, add_articles
    from index.store.faiss_sqlite import FaissSqliteStore

    corpus, texts = FaissSqliteStore(index), paragraphs()[100:]
    added, errors, n = 0, [], 0
    while not Path(stop_file).exists():
        batch = []
        for _ in range(per_batch):
            title, text = texts[n % len(texts)]
            batch.append(make_article(f"{title} {n}", text, f"soak/{n}.txt"))
            n += 1
        try:
            added += sum(status == ADDED for _, status in add_articles(corpus, batch))
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        time.sleep(every)
    Path(report).write_text(json.dumps({"added": added, "errors": errors}))


def remover(index: str, stop_file: str, every: float, report: str) -> None:
    """Remove one of the writer's articles every ``every`` seconds until ``stop_file`` exists."""
    from index.store.faiss_sqlite import FaissSqliteStore

    corpus, rng = FaissSqliteStore(index), random.Random(3)
    removed, errors = 0, []
    while not Path(stop_file).exists():
        try:
            candidates = [a.id for a in corpus.list_articles() if a.source.startswith("soak/")]
            if candidates and corpus.remove(rng.choice(candidates)) is not None:
                removed += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        time.sleep(every)
    Path(report).write_text(json.dumps({"removed": removed, "errors": errors}))


def ask(url: str, users: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    clients = [gradio_asker(url) for _ in range(users)]
    deadline = time.monotonic() + seconds

    def user(n: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            ask_timed(clients[n], QUESTIONS[(n + i) % len(QUESTIONS)], latencies, errors, lock)
            i += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        list(pool.map(user, range(users)))
    wall = time.perf_counter() - started
    return {"answered": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "p95_s": round(percentile(latencies, 0.95), 3), "answers_per_s": round(len(latencies) / wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--articles", type=int, default=100, help="SQuAD paragraphs indexed before the start")
    parser.add_argument("--out", type=Path, default=Path("runs/soak.json"))
    parser.add_argument("--role", choices=["writer", "remover"], help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    parser.add_argument("--stop", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "writer":
        writer(args.index, args.stop, every=5.0, per_batch=3, report=args.report)
        return
    if args.role == "remover":
        remover(args.index, args.stop, every=7.0, report=args.report)
        return

    from index.articles import make_article, read_file
    from index.indexer import add_articles
    from index.store.faiss_sqlite import FaissSqliteStore

    scratch = Path(tempfile.mkdtemp(prefix="qa-soak-"))
    index = scratch / "index"
    corpus = FaissSqliteStore(index)
    add_articles(corpus, [a for p in sorted(SEED_DIR.glob("*.txt")) for a in read_file(p)])
    add_articles(corpus, [make_article(t, text, f"squad/{n}.txt") for n, (t, text) in enumerate(paragraphs()[: args.articles])])
    corpus.close()
    port = free_port()
    server = start_app(index, port, scratch / "serve.log")
    url = f"http://127.0.0.1:{port}/"
    stop = scratch / "stop"
    memory: list[tuple[float, float]] = []
    try:
        gradio_asker(url)("How many raids?")  # warm up
        memory.append((0.0, rss_mb(server.pid)))
        helpers = [
            subprocess.Popen([sys.executable, __file__, "--role", role, "--index", str(index), "--stop", str(stop),
                              "--report", str(scratch / f"{role}.json")], cwd=ROOT, env=ENV)
            for role in ("writer", "remover")
        ]
        started = time.monotonic()
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(15):
                memory.append((round(time.monotonic() - started, 1), rss_mb(server.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        asked = ask(url, args.users, args.minutes * 60)
        sampling.set()
        memory.append((round(time.monotonic() - started, 1), rss_mb(server.pid)))
        stop.touch()
        for helper in helpers:
            helper.wait(120)
        roles = {role: json.loads((scratch / f"{role}.json").read_text()) for role in ("writer", "remover")}
        check = subprocess.run([sys.executable, "-m", "ui.cli", "index", "check", "--index", str(index)], cwd=ROOT,
                               env=ENV, capture_output=True, text=True)
        errors = asked["errors"] + len(roles["writer"]["errors"]) + len(roles["remover"]["errors"])
        report = {
            "minutes": args.minutes, "users": args.users, **asked,
            "articles_added": roles["writer"]["added"], "articles_removed": roles["remover"]["removed"],
            "writer_errors": roles["writer"]["errors"][:3], "remover_errors": roles["remover"]["errors"][:3],
            "errors_total": errors, "index_check": (check.stdout + check.stderr).strip(),
            "index_check_clean": check.returncode == 0,
            "server_rss_mb": {"start": round(memory[0][1]), "end": round(memory[-1][1]),
                              "max": round(max(m for _, m in memory))},
            "memory_samples": memory,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        print(json.dumps({k: v for k, v in report.items() if k != "memory_samples"}, indent=1))
    finally:
        stop.touch()
        server.terminate()
        server.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
