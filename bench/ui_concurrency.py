"""Many users at once: latency of the web app's answers under concurrent load, through Gradio's /answer
(``gradio_client``) and through the JSON API (``POST /api/v1/answer``, plain HTTP), one after the other in
one run against one app.

Starts the app (``qa serve``) in a subprocess over a temporary index built from
data/articles/, unless --url names a running one, then runs --users clients at
once, each asking --questions questions one after the other, and prints p50/p95
latency and the error count of each endpoint as JSON. Both ask for three answers
(the best and two alternatives), as the chat does.

Run: .venv/bin/python bench/ui_concurrency.py [--url http://127.0.0.1:7860/] [--users 16] [--questions 10]
                                              [--endpoints gradio json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How many raids?",
    "How many security personnel did France mobilise?",
    "How many people died in the attacks?",
    "How many member states offered support?",
    "How many people were arrested?",
    "Who is the interior minister?",
    "Where did Salah Abdeslam flee?",
    "When will parliament vote on the measure?",
    "How many people were wounded?",
    "Who visited Paris?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(index_dir: Path, port: int, log: Path, timeout: float = 300) -> subprocess.Popen:
    """``qa serve`` on a local port, its output in ``log``; returns once it answers HTTP."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "serve", "--index", str(index_dir), "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with status {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"the app did not start within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def gradio_asker(url: str) -> Callable[[str], object]:
    """Ask through Gradio's ``/answer`` with a ``gradio_client`` of one's own."""
    from gradio_client import Client

    # Over plain HTTP there is no certificate to verify, and without this gradio_client loads the CA bundle
    # on every request: about 110 ms of CPU each, taken from the app on the machine it shares.
    client = Client(url, verbose=False, ssl_verify=urlparse(url).scheme == "https")
    return lambda question: client.predict(question, api_name="/answer")


def json_asker(url: str) -> Callable[[str], object]:
    """Ask through ``POST /api/v1/answer`` with an HTTP connection of one's own."""
    import httpx

    client = httpx.Client(base_url=url, timeout=120)

    def ask(question: str) -> object:
        response = client.post("api/v1/answer", json={"question": question, "top_k": 3})
        response.raise_for_status()
        return response.json()

    return ask


ASKERS = {"gradio": gradio_asker, "json": json_asker}


def ask_timed(ask: Callable[[str], object], question: str, latencies: list[float], errors: list[str],
              lock: threading.Lock) -> None:
    """Ask once; its latency or its error goes to the shared lists."""
    started = time.perf_counter()
    try:
        result = ask(question)
        if not isinstance(result, dict) or "answer" not in result:
            raise ValueError(f"unexpected result {result!r:.100}")
    except Exception as exc:  # noqa: BLE001 - counted and reported
        with lock:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        return
    with lock:
        latencies.append(time.perf_counter() - started)


def run(url: str, users: int, questions: int, endpoint: str = "gradio") -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    clients = [ASKERS[endpoint](url) for _ in range(users)]
    start_together = threading.Barrier(users)

    def user(n: int) -> None:
        start_together.wait()
        for i in range(questions):
            ask_timed(clients[n], QUESTIONS[(n + i) % len(QUESTIONS)], latencies, errors, lock)

    started = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        list(pool.map(user, range(users)))
    wall = time.perf_counter() - started
    return {
        "endpoint": endpoint,
        "users": users,
        "questions_per_user": questions,
        "requests": users * questions,
        "answered": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3) if latencies else None,
        "wall_s": round(wall, 2),
        "answers_per_s": round(len(latencies) / wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app (default: start one over data/articles/)")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--questions", type=int, default=10, help="questions per user")
    parser.add_argument("--endpoints", nargs="+", choices=sorted(ASKERS), default=["gradio", "json"])
    args = parser.parse_args(argv)

    proc, tmp = None, None
    url = args.url
    try:
        if not url:
            tmp = Path(tempfile.mkdtemp(prefix="ui-bench-"))
            port = free_port()
            proc = start_app(tmp / "index", port, tmp / "app.log")  # an empty index: the app indexes data/articles/ first
            url = f"http://127.0.0.1:{port}/"
        gradio_asker(url)("How many raids?")  # warm up the models
        reports = [run(url, args.users, args.questions, endpoint) for endpoint in args.endpoints]
        print(json.dumps({"url": url if args.url else "started over data/articles/", "cpus": os.cpu_count(),
                          "runs": reports}, indent=2))
        return 1 if any(r["errors"] for r in reports) else 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
