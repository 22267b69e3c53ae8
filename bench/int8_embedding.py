"""The embedder in fp32 against int8 (ONNX Runtime dynamic quantization of the same graph), side by side: embedding
throughput, bulk indexing throughput and the shipped retrieval's recall, with questions embedded the same way.

Run: .venv/bin/python bench/int8_embedding.py [--file SQUAD] [--questions N] [--part PART] --dir runs/int8

For each precision it indexes the file's articles into DIR/PRECISION (reused when there), times embedding a fixed
sample of 5,000 of their sentences, and retrieves each question as ``answer()`` does (asked on the question's date):
recall@1/5/20 of a window holding a gold answer. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import index.embedder as embedder_module
from index.embedder import CORES, query_graph_key
from index.onnx_session import cache_dir, onnx_session
from index.sentences import split_sentences
from qa.retriever import retrieve
from qa.training.evaluate import open_eval_corpus
from qa.training.squad import load_squad, questions_of, sample, shared_data

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")
RECALL_AT = (1, 5, 20)
SAMPLE_SENTENCES = 5000


def int8_graph(fp32: Path) -> bytes:
    """The fp32 graph with its weights quantized to int8 (activations quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "int8.onnx"
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
        return out.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(SQUAD_DEV))
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--part", choices=["train", "calibration", "test"])
    parser.add_argument("--dir", required=True, help="a folder for the two indexes")
    args = parser.parse_args()
    data = load_squad(args.file)
    questions = [q for q in sample(questions_of(data, args.part), args.questions) if q.golds]
    embedder_module.load_session(1)  # the fp32 graph, exported into the cache when it is not there
    fp32_load = embedder_module.load_session
    graphs = {"fp32": None, "int8": int8_graph(cache_dir() / f"{query_graph_key()}.onnx")}
    texts = [p["context"][s.start : s.end] for article in data for p in article["paragraphs"]
             for s in split_sentences(p["context"])][:SAMPLE_SENTENCES]
    report: dict = {"file": args.file, "questions": len(questions)}
    for precision, graph in graphs.items():
        sessions = {}
        embedder_module.load_session = (fp32_load if graph is None else  # every embedder of the process uses it
                                        lambda threads, g=graph: sessions.setdefault(threads, onnx_session(g, threads)))
        started = time.perf_counter()
        corpus = open_eval_corpus(data, Path(args.dir) / precision)
        built_s = time.perf_counter() - started
        corpus.embedder.embed(texts[:64])  # warm
        started = time.perf_counter()
        corpus.embedder.embed(texts)
        embed_s = time.perf_counter() - started
        hits = dict.fromkeys(RECALL_AT, 0)
        for q in questions:
            found = [p.text for p in retrieve(corpus, q.text, max(RECALL_AT), as_of=q.asked_on)]
            for k in RECALL_AT:
                hits[k] += any(g in w for w in found[:k] for g in q.golds)
        sentences = corpus.stats()["sentences"]
        corpus.close()
        report[precision] = {"embedding_sentences_per_s": round(len(texts) / embed_s, 1),
                             "index_build_s": round(built_s, 1), "sentences": sentences, "threads": CORES,
                             **{f"recall_at_{k}": round(hits[k] / len(questions), 4) for k in RECALL_AT}}
    report["recall_at_5_drop"] = round(report["fp32"]["recall_at_5"] - report["int8"]["recall_at_5"], 4)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
