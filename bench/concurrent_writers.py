"""Concurrent writers into one index: no lost vectors, no damaged index.

Each round starts several ``qa index add`` processes together on one index
folder and then runs ``qa index check``, which compares the sentences in
SQLite, the full-text index and the FAISS vectors. Rounds:

* ``writers``: 2, 4 and 8 processes, each adding its own folder of articles, into a fresh index;
* ``same``: 2 processes adding the same folder (one adds it, the other says "already indexed");
* ``serve``: ``qa serve`` running on the index while a CLI add and a web upload (``/add_article``) go on;
* ``kill-single`` (not by default): one add, remove or rebuild alone, killed at a random moment;
* ``kill``: 3 adds and a fourth writer (another add, a remove or a rebuild) at once, one of the
  four killed with SIGKILL at a random moment; the index must be consistent, the survivors' work
  all there, and running the killed command again must complete it.

Articles are SQuAD v1.1 dev paragraphs (``../shared/data/squad``), written as
.txt files to a scratch folder. Results go to a JSON file. With ``--base N`` every
round starts from a copy of an index of N articles, so that the writers' small
additions are saved as change files (``changes.G.npz``) rather than whole indexes.
With ``--from-index DIR`` every round starts from a copy of that index instead: the kill -9 rounds at a
million sentences (``bench/scale.py``'s index) are
``--from-index DIR --parts kill-single --operations add remove --articles 5 --kill-window 1 15``.

    python bench/concurrent_writers.py --runs 20 --out runs/concurrent.json
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa.training.squad import shared_data

ROOT = Path(__file__).resolve().parents[1]
SQUAD = shared_data("squad", "dev-v1.1.json.gz")
QA = [sys.executable, "-m", "ui.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


class Articles:
    """Folders of distinct article files, handed out in order."""

    def __init__(self, scratch: Path, per_folder: int) -> None:
        data = json.load(gzip.open(SQUAD))
        self.paragraphs = [(a["title"].replace("_", " "), p["context"]) for a in data["data"] for p in a["paragraphs"]]
        self.scratch, self.per_folder, self.used = scratch, per_folder, 0

    def folder(self, count: int | None = None) -> Path:
        folder = self.scratch / f"articles{self.used:06d}"
        folder.mkdir(parents=True)
        for _ in range(count or self.per_folder):
            title, text = self.paragraphs[self.used % len(self.paragraphs)]
            # the running number in the text makes every article distinct (its id is a hash of the text, not
            # the title) even once the paragraphs repeat
            (folder / f"{self.used:05d}.txt").write_text(f"{title} {self.used}\n\n{text}\n\nItem {self.used}.\n")
            self.used += 1
        return folder


def check(index: Path) -> dict:
    """``qa index check`` and the index's counts."""
    proc = subprocess.run([*QA, "index", "check", "--index", str(index)], cwd=ROOT, env=ENV, capture_output=True, text=True)
    stats = json.loads(subprocess.run([*QA, "index", "stats", "--json", "--index", str(index)], cwd=ROOT, env=ENV,
                                      capture_output=True, text=True).stdout or "{}")
    return {"clean": proc.returncode == 0, "report": (proc.stdout + proc.stderr).strip(),
            "articles": stats.get("articles"), "sentences": stats.get("sentences"), "vectors": stats.get("vectors")}


def add(index: Path, folder: Path) -> subprocess.Popen:
    return subprocess.Popen([*QA, "index", "add", "--index", str(index), str(folder)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def start_index(scratch: Path, base: Path | None) -> Path:
    """A new index folder: empty, or a copy of the base index."""
    index = scratch / f"index-{time.monotonic_ns()}"
    if base is not None:
        shutil.copytree(base, index)
    return index


@functools.lru_cache(maxsize=None)
def base_articles(base: Path | None) -> int:
    """How many articles the base index holds (0 without one)."""
    return check(base)["articles"] if base is not None else 0


def writers_round(articles: Articles, scratch: Path, count: int, base: Path | None = None) -> dict:
    index = start_index(scratch, base)
    procs = [add(index, articles.folder()) for _ in range(count)]
    outputs = [p.communicate()[0] for p in procs]
    codes = [p.returncode for p in procs]
    result = check(index)
    expected = count * articles.per_folder + base_articles(base)
    result.update(writers=count, exit_codes=codes, expected_articles=expected,
                  changes_files=len(list(index.glob("changes.*.npz"))),
                  failures=[out.strip().splitlines()[-3:] for out, code in zip(outputs, codes) if code],
                  ok=result["clean"] and result["articles"] == expected and set(codes) == {0})
    shutil.rmtree(index)
    return result


def same_round(articles: Articles, scratch: Path) -> dict:
    index = scratch / f"index-{time.monotonic_ns()}"
    folder = articles.folder()
    procs = [add(index, folder) for _ in range(2)]
    outputs = [p.communicate()[0] for p in procs]
    codes = [p.returncode for p in procs]
    added = sum(line.startswith("added:") for out in outputs for line in out.splitlines())
    again = sum(line.startswith("already indexed:") for out in outputs for line in out.splitlines())
    result = check(index)
    result.update(exit_codes=codes, added_lines=added, already_indexed_lines=again,
                  ok=result["clean"] and result["articles"] == articles.per_folder and added == articles.per_folder
                  and again == articles.per_folder and set(codes) == {0})
    shutil.rmtree(index)
    return result


def kill_round(articles: Articles, scratch: Path, rng: random.Random, base: Path | None = None) -> dict:
    """Three adds and one more writer (an add, a remove or a rebuild) at once; one of the four is killed."""
    index = start_index(scratch, base)
    subprocess.run([*QA, "index", "add", "--index", str(index), str(articles.folder())], cwd=ROOT, env=ENV,
                   capture_output=True, check=True)
    listed = subprocess.run([*QA, "index", "list", "--json", "--index", str(index)], cwd=ROOT, env=ENV,
                            capture_output=True, text=True).stdout
    removed_id = json.loads(listed)[0]["id"]
    kind = rng.choice(["add", "remove", "rebuild"])
    folders = [articles.folder() for _ in range(3 if kind != "add" else 4)]
    commands = [["index", "add", "--index", str(index), str(f)] for f in folders]
    if kind == "remove":
        commands.append(["index", "remove", "--index", str(index), removed_id])
    elif kind == "rebuild":
        commands.append(["index", "rebuild", "--index", str(index)])
    procs = [subprocess.Popen([*QA, *c], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for c in commands]
    delay = rng.uniform(2.0, 20.0)
    time.sleep(delay)
    victim = rng.randrange(4)
    killed = procs[victim].poll() is None
    if killed:
        procs[victim].send_signal(signal.SIGKILL)
    outputs = [p.communicate()[0] for p in procs]
    codes = [p.returncode for p in procs]
    failures = [out.strip().splitlines()[-3:] for out, code in zip(outputs, codes) if code not in (0, -9)]
    after_kill = check(index)
    listed = json.loads(subprocess.run([*QA, "index", "list", "--json", "--index", str(index)], cwd=ROOT, env=ENV,
                                       capture_output=True, text=True).stdout or "[]")
    sources, ids = {a["source"] for a in listed}, {a["id"] for a in listed}
    # every survivor's work is there; the killed writer's is all there or none of it
    complete = all(str(p) in sources for i, f in enumerate(folders) if i != victim for p in f.glob("*.txt"))
    if kind == "remove" and victim != 3:
        complete = complete and removed_id not in ids
    redo = subprocess.run([*QA, *commands[victim]], cwd=ROOT, env=ENV, capture_output=True, text=True)
    # a remove killed after its commit has nothing left to remove
    redone = redo.returncode == 0 or (commands[victim][1] == "remove" and "no article with id" in redo.stderr)
    final = check(index)
    expected = articles.per_folder * (1 + len(folders)) - (kind == "remove") + base_articles(base)
    ok = (after_kill["clean"] and complete and not failures and final["clean"] and redone
          and final["articles"] == expected)
    shutil.rmtree(index)
    return {"fourth_writer": kind, "victim": commands[victim][1], "killed_after_s": round(delay, 1), "was_running": killed,
            "exit_codes": codes, "failures": failures, "after_kill": after_kill, "survivors_complete": complete,
            "final": final, "ok": ok}


def kill_single_round(articles: Articles, scratch: Path, rng: random.Random, operation: str,
                      base: Path | None = None, window: tuple[float, float] = (3.0, 9.0)) -> dict:
    """One add, remove or rebuild killed with SIGKILL at a random moment while it runs alone."""
    index = start_index(scratch, base)
    subprocess.run([*QA, "index", "add", "--index", str(index), str(articles.folder())], cwd=ROOT, env=ENV,
                   capture_output=True, check=True)
    before = check(index)
    listed = json.loads(subprocess.run([*QA, "index", "list", "--json", "--index", str(index)], cwd=ROOT, env=ENV,
                                       capture_output=True, text=True).stdout)
    command = {"add": ["index", "add", "--index", str(index), str(articles.folder())],
               "remove": ["index", "remove", "--index", str(index), listed[0]["id"]],
               "rebuild": ["index", "rebuild", "--index", str(index)]}[operation]
    proc = subprocess.Popen([*QA, *command], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # an add or rebuild opens the index, embeds and then writes (``window``); a small index's remove takes 0.3 s
    delay = rng.uniform(0.05, 0.3) if operation == "remove" and window == (3.0, 9.0) else rng.uniform(*window)
    time.sleep(delay)
    running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = check(index)
    # all of the operation or none of it
    expected = {before["articles"], before["articles"] + articles.per_folder if operation == "add"
                else before["articles"] - (operation == "remove")}
    ok = after["clean"] and after["articles"] in expected and (operation != "rebuild" or after["articles"] == before["articles"])
    shutil.rmtree(index)
    return {"operation": operation, "killed_after_s": round(delay, 1), "was_running": running, "after": after,
            "articles_before": before["articles"], "ok": ok}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_rounds(articles: Articles, scratch: Path, runs: int) -> list[dict]:
    from gradio_client import Client, handle_file

    index = scratch / "index-serve"
    subprocess.run([*QA, "index", "add", "--index", str(index), str(articles.folder())], cwd=ROOT, env=ENV,
                   capture_output=True, check=True)
    port = free_port()
    log = open(scratch / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen([*QA, "serve", "--index", str(index), "--port", str(port)], cwd=ROOT, env=ENV,
                              stdout=log, stderr=subprocess.STDOUT)
    results = []
    try:
        client = None
        for _ in range(600):
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        assert client is not None, "the server did not start"
        for _ in range(runs):
            cli_folder, web_folder = articles.folder(), articles.folder()
            before = check(index)["articles"]
            proc = add(index, cli_folder)
            reports = [client.predict(handle_file(str(f)), api_name="/add_article") for f in sorted(web_folder.glob("*.txt"))]
            code = proc.wait()
            result = check(index)
            expected = before + 2 * articles.per_folder
            web_added = sum(r.startswith("added:") for r in reports)
            result.update(cli_exit=code, web_added=web_added, expected_articles=expected,
                          ok=result["clean"] and result["articles"] == expected and code == 0
                          and web_added == articles.per_folder)
            results.append(result)
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--articles", type=int, default=20, help="articles per writer")
    parser.add_argument("--writers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--parts", nargs="+", default=["writers", "same", "serve", "kill"])
    parser.add_argument("--operations", nargs="+", default=["add", "remove", "rebuild"], help="for kill-single")
    parser.add_argument("--base", type=int, default=0, metavar="N", help="start every round from an index of N articles")
    parser.add_argument("--from-index", type=Path, metavar="DIR",
                        help="start every round from a copy of this index instead (e.g. bench/scale.py's million sentences)")
    parser.add_argument("--kill-window", type=float, nargs=2, default=(3.0, 9.0), metavar=("FROM", "TO"),
                        help="kill-single kills after a random number of seconds in this range")
    parser.add_argument("--out", type=Path, default=Path("runs/concurrent_writers.json"))
    args = parser.parse_args()
    rng = random.Random(7)
    scratch = Path(tempfile.mkdtemp(prefix="qa-concurrent-"))
    articles = Articles(scratch, args.articles)
    report: dict = {"runs": args.runs, "articles_per_writer": args.articles, "base_articles": args.base,
                    "from_index": str(args.from_index) if args.from_index else None}
    base = args.from_index
    if args.base:
        base = scratch / "base-index"
        subprocess.run([*QA, "index", "add", "--index", str(base), str(articles.folder(args.base))], cwd=ROOT, env=ENV,
                       capture_output=True, check=True)

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))

    started = time.monotonic()
    try:
        if "writers" in args.parts:
            for count in args.writers:
                rounds = [writers_round(articles, scratch, count, base) for _ in range(args.runs)]
                report[f"writers_{count}"] = {"ok": sum(r["ok"] for r in rounds), "rounds": rounds}
                print(f"{count} writers: {report[f'writers_{count}']['ok']}/{args.runs} clean", flush=True)
                save()
        if "same" in args.parts:
            rounds = [same_round(articles, scratch) for _ in range(args.runs)]
            report["same_content"] = {"ok": sum(r["ok"] for r in rounds), "rounds": rounds}
            print(f"same content twice: {report['same_content']['ok']}/{args.runs} clean", flush=True)
            save()
        if "serve" in args.parts:
            rounds = serve_rounds(articles, scratch, args.runs)
            report["serve_and_cli"] = {"ok": sum(r["ok"] for r in rounds), "rounds": rounds}
            print(f"qa serve + CLI add: {report['serve_and_cli']['ok']}/{args.runs} clean", flush=True)
            save()
        if "kill-single" in args.parts:
            for operation in args.operations:
                rounds = [kill_single_round(articles, scratch, rng, operation, base, tuple(args.kill_window))
                          for _ in range(args.runs)]
                report[f"kill_during_{operation}"] = {"ok": sum(r["ok"] for r in rounds),
                                                      "killed_while_running": sum(r["was_running"] for r in rounds),
                                                      "rounds": rounds}
                print(f"kill -9 during {operation}: {report[f'kill_during_{operation}']['ok']}/{args.runs} clean "
                      f"({report[f'kill_during_{operation}']['killed_while_running']} killed while running)", flush=True)
                save()
        if "kill" in args.parts:
            rounds = [kill_round(articles, scratch, rng, base) for _ in range(args.runs)]
            report["kill_during_concurrent_writes"] = {"ok": sum(r["ok"] for r in rounds), "rounds": rounds}
            print(f"kill -9 during 4 concurrent writers: {report['kill_during_concurrent_writes']['ok']}/{args.runs} clean",
                  flush=True)
    finally:
        report["minutes"] = round((time.monotonic() - started) / 60, 1)
        save()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
