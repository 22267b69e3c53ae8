"""Peak memory and time of indexing the SQuAD v1.1 dev corpus (10,254 sentences) into a new index, in this process.

Run: .venv/bin/python bench/indexing_memory.py [--batch-tokens N]
Run it once per setting (peak memory is the process's): ``--batch-tokens`` overrides
``index.embedder.BATCH_TOKENS``, the padded tokens one embedding batch may hold. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import index.embedder
from qa.training.evaluate import open_eval_corpus
from qa.training.squad import load_squad, shared_data

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-tokens", type=int, default=index.embedder.BATCH_TOKENS)
    args = parser.parse_args()
    index.embedder.BATCH_TOKENS = args.batch_tokens
    data = load_squad(SQUAD_DEV)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = open_eval_corpus(data, Path(tmp) / "index")
        sentences = corpus.stats()["sentences"]
        corpus.close()
    print(json.dumps({"batch_tokens": args.batch_tokens, "sentences": sentences,
                      "seconds": round(time.perf_counter() - started, 1),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
