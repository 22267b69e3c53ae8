"""Indexing on a Dask cluster against indexing here: sentences/s of a local add and of a cluster add with 1 and
2 worker processes on this machine (scheduler and workers on 127.0.0.1), the overhead a batch pays, and from
those a paper estimate of the hours 50 million sentences take on N workers.

On 2 cores the cluster cannot be faster than a local add (the workers share the cores the local add uses);
the point is what the cluster costs, and the estimate for machines that each bring their own cores.

Run: .venv/bin/python bench/cluster_ingest.py [--sentences 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from index import indexer  # noqa: E402
from index.cluster import BATCH_SENTENCES, ClusterPreparer  # noqa: E402
from index.sentences import split_sentences  # noqa: E402
from index.store.faiss_sqlite import FaissSqliteStore  # noqa: E402
from qa.training.squad import load_squad, shared_data, squad_articles  # noqa: E402
from tests.local_cluster import LocalCluster  # noqa: E402

ARCHIVE = 50_000_000  # sentences: ten years of a large outlet


def articles_of(sentences: int) -> list:
    """SQuAD dev paragraphs as articles, about ``sentences`` sentences in all."""
    chosen, held = [], 0
    for article in squad_articles(load_squad(shared_data("squad", "dev-v1.1.json.gz"))):
        chosen.append(article)
        held += len(split_sentences(article.text))
        if held >= sentences:
            break
    return chosen


def timed_add(articles: list, work: Path, prepared_by=indexer.prepare) -> dict:  # noqa: ANN001
    """Seconds to add ``articles`` to a new index, and how many of them went to writing."""
    writing = []
    with closing(FaissSqliteStore(work)) as store:
        write = store.write

        def timed_write(prepared):  # noqa: ANN001, ANN202
            start = time.perf_counter()
            try:
                return write(prepared)
            finally:
                writing.append(time.perf_counter() - start)

        store.write = timed_write
        start = time.perf_counter()
        indexer.add_articles(store, articles, prepared_by=prepared_by)
        total = time.perf_counter() - start
        sentences = store.stats()["sentences"]
    return {"seconds": round(total, 2), "write_seconds": round(sum(writing), 2), "sentences": sentences,
            "sentences_per_s": round(sentences / total, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=3000)
    args = parser.parse_args()
    articles = articles_of(args.sentences)
    warm = articles[:3]
    report: dict = {"articles": len(articles), "batch_sentences": BATCH_SENTENCES}
    with tempfile.TemporaryDirectory() as tmp:
        timed_add(warm, Path(tmp) / "warm")  # loads the embedder (and exports its graph on a new install)
        report["local"] = timed_add(articles, Path(tmp) / "local")
        for workers in (1, 2):
            cluster = LocalCluster(workers)
            try:
                preparer = ClusterPreparer(cluster.address)
                timed_add(warm, Path(tmp) / f"warm{workers}", preparer)  # each worker loads its embedder once
                report[f"cluster, {workers} workers"] = timed_add(articles, Path(tmp) / f"cluster{workers}", preparer)
                rounds = []
                for _ in range(20):  # what a batch pays beyond its work: a round trip of an empty task
                    start = time.perf_counter()
                    preparer.client.submit(len, [], pure=False).result()
                    rounds.append(time.perf_counter() - start)
                report[f"cluster, {workers} workers"]["empty_task_ms"] = round(1000 * statistics.median(rounds), 1)
                preparer.close()
            finally:
                cluster.stop()
    local = report["local"]
    one = report["cluster, 1 workers"]
    batches = max(1, round(one["sentences"] / BATCH_SENTENCES))
    report["overhead_per_batch_s"] = round((one["seconds"] - local["seconds"]) / batches, 2)
    # Paper estimate: each worker machine embeds as this machine's one worker does (2 cores each); the one
    # writer stores at most sentences / write_seconds.
    per_worker = (one["sentences"]) / max(1e-9, one["seconds"] - one["write_seconds"])
    writer = local["sentences"] / max(1e-9, local["write_seconds"])
    report["estimate_hours_for_50M"] = {
        n: round(ARCHIVE / min(n * per_worker, writer) / 3600, 1) for n in (1, 2, 8, 32, 128)}
    report["estimate_basis"] = {"sentences_per_s_per_worker": round(per_worker, 1),
                                "writer_sentences_per_s": round(writer, 1)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
