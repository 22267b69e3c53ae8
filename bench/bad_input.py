"""The bad-input table: each bad file, damaged index or broken disk, what the CLI says, its exit code,
and whether the good file given with it was indexed (or the index kept).

Every case runs ``qa`` as a user would, in a scratch folder, next to a good
article file. The full-disk and read-only cases mount a small tmpfs, so they
need root; without it they are reported as skipped.

    python bench/bad_input.py --out runs/bad_input.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QA = [sys.executable, "-m", "ui.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
GOOD = "Harbour news\n\nThe new harbour wall is 640 metres long and cost 12 million euros.\n"


def qa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*QA, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)


def articles(index: Path) -> int:
    out = qa("index", "stats", "--json", "--index", str(index)).stdout
    return json.loads(out)["articles"] if out.strip() else -1


def shown(proc: subprocess.CompletedProcess) -> str:
    """The error lines a user sees (stderr), joined; a traceback is flagged."""
    if "Traceback" in proc.stderr:
        return "TRACEBACK: " + proc.stderr.strip().splitlines()[-1]
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith(("error", "warning", "problem"))]
    return " / ".join(lines) or proc.stdout.strip().splitlines()[-1]


def file_cases(scratch: Path) -> list[dict]:
    """Each bad file added together with a good one."""
    cases = {
        "JSON of 200,000 nested brackets": ("nested.json", ("[" * 200_000 + "]" * 200_000).encode()),
        "JSON with a 5,000-digit number": ("digits.json", ('{"text": "x", "n": ' + "9" * 5000 + "}").encode()),
        "file name not valid UTF-8": (os.fsdecode(b"bad\xff\xfename.txt"), b"Odd\n\nThe bridge reopened after 40 days.\n"),
        "UTF-16 file with a byte-order mark": ("wide.txt", "Wide\n\nThe ferry carried 312 passengers.\n".encode("utf-16")),
        "JSONL with a broken line 2 of 3": ("records.jsonl", b'{"text": "The dam holds 9 billion litres."}\n{broken\n'
                                            b'{"text": "The mill employs 80 people."}\n'),
        "JSON title given as an object": ("title.json", b'{"title": {"x": [1, 2]}, "text": "Typed wrong."}'),
        "date 9999-99-99": ("date.json", b'{"text": "Bad date here.", "date": "9999-99-99"}'),
        "terminal escape codes in file name and title": ("\x1b[31mred.txt", b"Red \x1b[31mtitle\n\nThe lighthouse is 52 m tall.\n"),
        "50 MB text file": ("big.txt", b"word " * (10 * 2**20)),
        "binary file": ("image.txt", bytes(range(256)) * 10),
        "FIFO named on the command line": ("pipe.txt", None),
        "missing folder": ("missing-folder", "missing"),
        "empty folder": ("empty-folder", "dir"),
    }
    rows = []
    for what, (name, content) in cases.items():
        case = scratch / f"case{len(rows)}"
        case.mkdir()
        (case / "good.txt").write_text(GOOD)
        path = case / name
        if content is None:
            os.mkfifo(path)
        elif content == "dir":
            path.mkdir()
        elif content != "missing":
            path.write_bytes(content)
        index = case / "index"
        proc = qa("index", "add", "--index", str(index), str(path), str(case / "good.txt"))
        rows.append({"case": what, "message": shown(proc), "exit": proc.returncode, "indexed": articles(index),
                     "ok": "Traceback" not in proc.stderr and articles(index) >= 1})
    return rows


def index_cases(scratch: Path) -> list[dict]:
    """Damaged index files and odd --index paths."""
    rows = []
    good = scratch / "good.txt"
    good.write_text(GOOD)

    def fresh(name: str) -> Path:
        index = scratch / name
        qa("index", "add", "--index", str(index), str(good), str(ROOT / "data" / "articles"))
        return index

    def vectors(index: Path) -> Path:
        return max(index.glob("vectors.*.faiss"), key=lambda p: int(p.name.split(".")[1]))

    for damage in ("truncated", "deleted", "overwritten"):
        index = fresh(f"vectors-{damage}")
        path = vectors(index)
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:1000])
        elif damage == "deleted":
            path.unlink()
        else:
            path.write_bytes(b"garbage" * 100)
        asked = qa("ask", "How many raids?", "--index", str(index))
        stats = qa("index", "stats", "--index", str(index))
        rebuilt = qa("index", "rebuild", "--index", str(index))
        check = qa("index", "check", "--index", str(index))
        rows.append({"case": f"vectors file {damage}", "message": f"ask: {shown(asked)} | stats: {shown(stats)}",
                     "exit": asked.returncode, "indexed": articles(index),
                     "after": f"`qa index rebuild` exit {rebuilt.returncode}; check: {check.stdout.strip()}",
                     "ok": check.returncode == 0 and "Traceback" not in asked.stderr + stats.stderr})
    index = fresh("sqlite-damaged")
    db = index / "index.sqlite"
    db.write_bytes(db.read_bytes()[:100] + os.urandom(4096) + db.read_bytes()[4196:])
    for extra in ("index.sqlite-wal", "index.sqlite-shm"):
        (index / extra).unlink(missing_ok=True)
    asked = qa("ask", "How many raids?", "--index", str(index))
    rebuilt = qa("index", "rebuild", "--index", str(index), "--from", str(good), str(ROOT / "data" / "articles"))
    check = qa("index", "check", "--index", str(index))
    rows.append({"case": "SQLite file damaged", "message": shown(asked), "exit": asked.returncode,
                 "indexed": articles(index),
                 "after": f"`qa index rebuild --from FILES` exit {rebuilt.returncode}; check: {check.stdout.strip()}",
                 "ok": check.returncode == 0 and "Traceback" not in asked.stderr})
    a_file = scratch / "a-file"
    a_file.write_text("x")
    proc = qa("index", "stats", "--index", str(a_file))
    rows.append({"case": "--index names a file", "message": shown(proc), "exit": proc.returncode, "indexed": "-",
                 "ok": "Traceback" not in proc.stderr})
    index = fresh("question")
    proc = subprocess.run([*QA, "ask", "--index", str(index), "How many\udcff raids?"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, errors="surrogateescape")
    rows.append({"case": "lone surrogate in a question", "message": proc.stdout.strip().splitlines()[0] if proc.stdout else
                 shown(proc), "exit": proc.returncode, "indexed": "-", "ok": proc.returncode == 0})
    return rows


def disk_cases(scratch: Path) -> list[dict]:
    """A full disk and a read-only file system (tmpfs; root only)."""
    mount = scratch / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode:
        return [{"case": "full disk / read-only file system", "message": "skipped: cannot mount a tmpfs here",
                 "exit": "-", "indexed": "-", "ok": True}]
    rows = []
    try:
        index = mount / "index"
        qa("index", "add", "--index", str(index), str(ROOT / "data" / "articles"))
        before = articles(index)
        files = sorted(p.name for p in index.iterdir())
        big = scratch / "big"
        big.mkdir()
        for n in range(60):
            (big / f"{n}.txt").write_text(f"Story {n}\n\n" + " ".join(f"Line {n}.{k} of a long article." for k in range(300)))
        proc = qa("index", "add", "--index", str(index), str(big))
        check = qa("index", "check", "--index", str(index))
        stray = sorted(set(p.name for p in index.iterdir()) - set(files) - {"index.sqlite-wal", "index.sqlite-shm"})
        rows.append({"case": "disk full during `index add` (2 MB tmpfs)", "message": shown(proc).split(" / ")[-1],
                     "exit": proc.returncode, "indexed": f"{before} before, {articles(index)} after",
                     "after": f"check: {check.stdout.strip() or check.stderr.strip()}; new files: {stray or 'none'}",
                     "ok": check.returncode == 0 and "Traceback" not in proc.stderr})
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        outcomes = {cmd[0] + (" " + cmd[1] if cmd[0] == "index" else ""): qa(*cmd, "--index", str(index))
                    for cmd in (["index", "stats"], ["index", "list"], ["ask", "How many raids?"],
                                ["index", "add", str(big / "0.txt")])}
        rows.append({"case": "read-only file system",
                     "message": "; ".join(f"{k}: exit {p.returncode}" for k, p in outcomes.items())
                     + f" ({shown(outcomes['index add'])})",
                     "exit": outcomes["index add"].returncode, "indexed": articles(index),
                     "after": "answer: " + (outcomes["ask"].stdout.splitlines() or ["-"])[0],
                     "ok": all(p.returncode == 0 for k, p in outcomes.items() if k != "index add")
                     and "Traceback" not in "".join(p.stderr for p in outcomes.values())})
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bad_input.md"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="qa-bad-input-"))
    try:
        rows = file_cases(scratch) + index_cases(scratch) + disk_cases(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = ["| case | what `qa` says | exit | articles indexed | after | no traceback, rest kept |", "|---|---|---|---|---|---|"]
    for row in rows:
        message = row["message"].replace("|", "\\|").replace(str(scratch), "…")
        lines.append(f"| {row['case']} | {message[:300]} | {row['exit']} | {row['indexed']} | "
                     f"{row.get('after', '').replace('|', '/')} | {'yes' if row['ok'] else 'NO'} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
