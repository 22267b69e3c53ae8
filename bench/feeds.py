"""A feed of 50 items served on 127.0.0.1: `qa index add URL`, then `qa index sync` after 5 new items;
then misbehaving addresses (404, redirect loop, redirect to file://, 20 s silence, 6 MB page, an image,
a page without article text, a truncated feed with a broken item, a closed port), one `qa index add` each.

Each item links to a page holding a SQuAD v1.1 dev paragraph (``../shared/data/squad``)
as a news article. Prints (and writes as JSON) how many articles each command
added, its wall time (the CLI loads its models first) and the time per item.

    python bench/feeds.py --out runs/feeds.json
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from qa.training.squad import shared_data

ROOT = Path(__file__).resolve().parents[1]
SQUAD = shared_data("squad", "dev-v1.1.json.gz")
QA = [sys.executable, "-m", "ui.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def serve(paragraphs: list[tuple[str, str]], shown: list[int]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

        def reply(self, status: int, body: bytes, kind: str = "text/html", headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            base = f"http://127.0.0.1:{self.server.server_port}"
            bad = {
                "/missing.html": (404, b"not here", {}),
                "/loop": (302, b"", {"Location": "/loop"}),
                "/to-file": (302, b"", {"Location": "file:///etc/passwd"}),
                "/huge.html": (200, b"<p>" + b"x" * (6 * 2**20) + b"</p>", {}),
                "/image.png": (200, b"\x89PNG....", {}),
                "/empty.html": (200, b"<html><body><nav>Home</nav></body></html>", {}),
                "/broken-feed.xml": (200, f'<?xml version="1.0"?><rss version="2.0"><channel><item><link>{base}/item/0'
                                          f'</link></item><item><link>{base}/missing.html</link></item><item><title>'
                                          .encode(), {}),
            }
            if self.path in bad:
                status, body, headers = bad[self.path]
                self.reply(status, body, "image/png" if self.path.endswith(".png") else "text/html", headers)
                return
            if self.path == "/slow":
                time.sleep(20)
            if self.path == "/feed.xml":
                items = "".join(
                    f"<item><title>{html.escape(paragraphs[n][0])}</title><link>{base}/item/{n}</link>"
                    f"<pubDate>Mon, 16 Nov 2026 08:00:00 GMT</pubDate></item>" for n in range(shown[0]))
                body, kind = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench</title>{items}</channel></rss>', \
                    "application/rss+xml"
            else:
                title, text = paragraphs[int(self.path.rsplit("/", 1)[1])]
                body = (f"<html><head><title>{html.escape(title)}</title></head><body><article><h1>{html.escape(title)}</h1>"
                        f"<p>{html.escape(text)}</p></article></body></html>")
                kind = "text/html"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    proc = subprocess.run([*QA, *args], cwd=ROOT, env=ENV, capture_output=True, text=True)
    return proc, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--new", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/feeds.json"))
    args = parser.parse_args()
    data = json.load(gzip.open(SQUAD))
    paragraphs = [(f"{a['title'].replace('_', ' ')} {n}", p["context"])
                  for n, (a, p) in enumerate((a, p) for a in data["data"] for p in a["paragraphs"])]
    shown = [args.items]
    server = serve(paragraphs, shown)
    url = f"http://127.0.0.1:{server.server_port}/feed.xml"
    scratch = Path(tempfile.mkdtemp(prefix="qa-feeds-"))
    try:
        index = str(scratch / "index")
        added, add_s = timed("index", "add", "--index", index, url)
        shown[0] += args.new
        synced, sync_s = timed("index", "sync", "--index", index)
        again, again_s = timed("index", "sync", "--index", index)
        count = lambda proc: sum(line.startswith("added: ") for line in proc.stdout.splitlines())  # noqa: E731
        base = url.rsplit("/", 1)[0]
        before = json.loads(timed("index", "stats", "--json", "--index", index)[0].stdout)["articles"]
        bad_rows = []
        for path in ("/missing.html", "/loop", "/to-file", "/slow", "/huge.html", "/image.png", "/empty.html",
                     "/broken-feed.xml"):
            proc, seconds = timed("index", "add", "--index", index, base + path)
            bad_rows.append({"address": path, "exit": proc.returncode, "seconds": round(seconds, 1),
                             "says": [line.replace(base, "") for line in (proc.stdout + proc.stderr).splitlines()
                                      if line.startswith(("error", "feed", "added"))]})
        proc, _ = timed("index", "add", "--index", index, "http://127.0.0.1:9/closed.html")
        bad_rows.append({"address": "http://127.0.0.1:9/closed.html (nothing listening)", "exit": proc.returncode,
                         "says": [line for line in proc.stderr.splitlines() if line.startswith("error")]})
        after = json.loads(timed("index", "stats", "--json", "--index", index)[0].stdout)["articles"]
        report = {
            "feed_items": args.items, "added_by_add": count(added), "add_s": round(add_s, 1),
            "add_s_per_item": round(add_s / args.items, 2),  # wall time, model loading included
            "new_items": args.new, "added_by_sync": count(synced), "sync_s": round(sync_s, 1),
            "added_by_second_sync": count(again), "second_sync_s": round(again_s, 1),
            "exit_codes": [added.returncode, synced.returncode, again.returncode],
            "bad_addresses": bad_rows, "articles_before_bad": before, "articles_after_bad": after,
            "ok": count(added) == args.items and count(synced) == args.new and count(again) == 0 and after >= before,
        }
    finally:
        server.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
