"""Near-duplicate detection (``index/duplicates.py``): precision and recall on built pairs, and its cost per
added article on an index of 10,000 articles.

Pairs:
- copies (should be found): a news passage (``../shared/data/news``) or a SQuAD v1.1 dev article of four
  consecutive paragraphs, as another outlet would run it: with a byline and a copyright line, with a
  dateline, with one figure changed, with one sentence reworded, with a sentence added, with the last
  sentence cut, and (SQuAD articles) with one paragraph reworded;
- different stories (should not be): each passage or article with its nearest other one by word overlap
  (the same recurring story of another week, the next paragraphs of the same Wikipedia article).

Detection runs as in the index: band keys find candidates, then the estimated similarity decides. The
cost is the time to sign an article and look it up among 10,000 indexed ones (SQLite as in the index),
beside the time to embed that article's sentences (what an add costs without it).

    python bench/duplicates.py --out runs/duplicates.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path

import numpy as np

from index import duplicates
from index.duplicates import band_keys, find_copy, record, signature, similarity
from index.sentences import split_sentences
from index.text import terms
from qa.training.squad import shared_data

SHIPPED = type("Shipped", (), {k: getattr(duplicates, k) for k in ("SHINGLE", "BANDS", "ROWS", "THRESHOLD")})
NEWS = shared_data("news", "realtimeqa-dev-v1.1.json.gz")
SQUAD = shared_data("squad", "dev-v1.1.json.gz")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")


def news_texts() -> list[str]:
    data = json.load(gzip.open(NEWS))["data"]
    return list(dict.fromkeys(p["context"] for a in data for p in a["paragraphs"]))


def squad_texts(paragraphs: int = 4) -> list[str]:
    data = json.load(gzip.open(SQUAD))["data"]
    texts = []
    for article in data:
        contexts = [p["context"] for p in article["paragraphs"]]
        texts += ["\n\n".join(contexts[i : i + paragraphs]) for i in range(0, len(contexts) - paragraphs + 1, paragraphs)]
    return texts


def reword(sentence: str, rng: random.Random) -> str:
    """A sentence as an editor rewrites it: a few words dropped and two swapped."""
    words = sentence.split()
    kept = [w for i, w in enumerate(words) if i % 4 != 1] or words
    if len(kept) > 3:
        i = rng.randrange(len(kept) - 1)
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return " ".join(kept)


def copies(text: str, other: str, rng: random.Random) -> dict[str, str]:
    """Edited copies of ``text`` (``other`` lends a sentence to add)."""
    spans = split_sentences(text)
    sentences = [text[s.start : s.end] for s in spans]
    middle = len(sentences) // 2
    extra = other[split_sentences(other)[0].start : split_sentences(other)[0].end]
    edits = {
        "byline and copyright": f"By Jane Doe, Associated Press\n\n{text}\n\nCopyright 2026 The Associated Press. All rights reserved.",
        "dateline": f"WASHINGTON (AP) — {text}",
        "reworded sentence": text.replace(sentences[middle], reword(sentences[middle], rng), 1),
        "sentence added": f"{text} {extra}",
    }
    if _NUMBER.search(text):
        edits["figure changed"] = _NUMBER.sub(lambda m: str(int(re.sub(r"\D", "", m.group()) or 0) + 7), text, count=1)
    if len(sentences) > 1:
        edits["last sentence cut"] = text[: spans[-2].end]
    blocks = text.split("\n\n")
    if len(blocks) > 1:
        blocks[1] = " ".join(reword(s, rng) for s in re.split(r"(?<=\.) ", blocks[1]))
        edits["paragraph reworded"] = "\n\n".join(blocks)
    return edits


def nearest_other(texts: list[str]) -> list[int]:
    """For each text, the other text sharing the largest share of its words (a different story, as alike as any)."""
    sets = [set(terms(t)) for t in texts]
    index: dict[str, list[int]] = {}
    for i, words in enumerate(sets):
        for w in words:
            index.setdefault(w, []).append(i)
    common = Counter(w for s in sets for w in s)
    nearest = []
    for i, words in enumerate(sets):
        shared: Counter = Counter()
        for w in words:
            if common[w] < 200:  # frequent words say nothing about the story
                shared.update(index[w])
        shared.pop(i, None)
        best = max(shared, key=lambda j: shared[j] / len(sets[i] | sets[j]), default=(i + 1) % len(texts))
        nearest.append(best)
    return nearest


def detected(a: np.ndarray, b: np.ndarray, threshold: float) -> bool:
    """Whether ``b`` is found as a copy of ``a``: a shared band, then the estimated similarity."""
    return bool(set(band_keys(a)) & set(band_keys(b))) and similarity(a, b) >= threshold


def build_pairs(rng: random.Random, per_set: int) -> list[tuple[str, str, str, str, bool]]:
    pairs = []
    for name, texts in (("news", news_texts()), ("squad", squad_texts())):
        chosen = rng.sample(range(len(texts)), min(per_set, len(texts)))
        nearest = nearest_other(texts)
        for i in chosen:
            for edit, copy in copies(texts[i], texts[nearest[i]], rng).items():
                pairs.append((name, edit, texts[i], copy, True))
            pairs.append((name, "different story", texts[i], texts[nearest[i]], False))
    return pairs


def score(pairs: list, signed: list[tuple[np.ndarray, np.ndarray]], threshold: float) -> dict:
    """Precision and recall of detection over ``pairs`` (with their texts' signatures), and what was found by kind."""
    found = [detected(a, b, threshold) for a, b in signed]
    tp = sum(f and p[4] for f, p in zip(found, pairs))
    fp = sum(f and not p[4] for f, p in zip(found, pairs))
    fn = sum(not f and p[4] for f, p in zip(found, pairs))
    by_kind: dict[str, list[int]] = {}
    for f, p in zip(found, pairs):
        counts = by_kind.setdefault(f"{p[0]}: {p[1]}", [0, 0])
        counts[0] += f
        counts[1] += 1
    return {
        "precision": round(tp / max(1, tp + fp), 4),
        "recall": round(tp / max(1, tp + fn), 4),
        "found_by_kind": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_kind.items())},
        "different_story_similarity_max": round(max((similarity(a, b) for (a, b), p in zip(signed, pairs) if not p[4]),
                                                    default=0.0), 3),
    }


def collection_false_copies(shingle: int) -> dict:
    """How many of the news passages and of the SQuAD articles, all different, are taken for a copy of another."""
    flagged = {}
    for name, texts in (("news", news_texts()), ("squad", squad_texts())):
        db = sqlite3.connect(":memory:")
        db.executescript("CREATE TABLE articles(id TEXT PRIMARY KEY, duplicate_of TEXT);" + duplicates.SCHEMA)
        hits = []
        for n, text in enumerate(texts):
            sig = signature(text, shingle)
            first = find_copy(db, sig)
            if first is not None:
                hits.append((texts[int(first)][:80], text[:80]))
            db.execute("INSERT INTO articles VALUES (?, NULL)", (str(n),))
            record(db, str(n), sig)
        flagged[name] = {"texts": len(texts), "taken_for_copies": len(hits), "examples": hits[:3]}
    return flagged


def cost(articles: int, probes: int) -> dict:
    """Seconds per article to sign and look up among ``articles`` indexed ones, beside embedding it."""
    from index.embedder import Embedder

    embedder = Embedder()
    texts = squad_texts(paragraphs=1)
    rng = random.Random(1)
    db = sqlite3.connect(":memory:")
    db.executescript("CREATE TABLE articles(id TEXT PRIMARY KEY, duplicate_of TEXT);" + duplicates.SCHEMA)
    for n in range(articles):
        text = texts[n % len(texts)] + f" Item {n}."  # as many distinct articles as asked
        db.execute("INSERT INTO articles VALUES (?, NULL)", (str(n),))
        record(db, str(n), signature(text))
    probe_texts = [texts[rng.randrange(len(texts))] + " Copied." for _ in range(probes)]
    started = time.perf_counter()
    for n, text in enumerate(probe_texts):
        sig = signature(text)
        find_copy(db, sig)
        db.execute("INSERT INTO articles VALUES (?, NULL)", (f"p{n}",))
        record(db, f"p{n}", sig)
    detection = (time.perf_counter() - started) / probes
    embedder.embed(["warm up"])
    started = time.perf_counter()
    for text in probe_texts:
        embedder.embed([text[s.start : s.end] for s in split_sentences(text)])
    embedding = (time.perf_counter() - started) / probes
    return {"indexed_articles": articles, "detection_ms_per_article": round(detection * 1000, 2),
            "embedding_ms_per_article": round(embedding * 1000, 2), "ratio": round(detection / embedding, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-set", type=int, default=300, help="base texts from each of news and SQuAD")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    pairs = build_pairs(random.Random(0), args.per_set)
    print(f"{len(pairs)} pairs: {sum(p[4] for p in pairs)} copies, {sum(not p[4] for p in pairs)} different stories")
    grid, shipped = [], None
    for shingle in (3, 5):
        signed = [(signature(a, shingle), signature(b, shingle)) for _, _, a, b, _ in pairs]
        for bands, rows in ((64, 2), (42, 3), (32, 4)):
            duplicates.BANDS, duplicates.ROWS = bands, rows
            for threshold in (0.3, 0.4, 0.5):
                row = {"shingle": shingle, "bands": f"{bands}x{rows}", "threshold": threshold,
                       **score(pairs, signed, threshold)}
                grid.append(row)
                print(f"shingle {shingle} bands {bands}x{rows} threshold {threshold}: precision {row['precision']} "
                      f"recall {row['recall']} (different stories: similarity at most {row['different_story_similarity_max']})")
                if (shingle, bands, rows, threshold) == (SHIPPED.SHINGLE, SHIPPED.BANDS, SHIPPED.ROWS, SHIPPED.THRESHOLD):
                    shipped = row
    duplicates.BANDS, duplicates.ROWS = SHIPPED.BANDS, SHIPPED.ROWS
    if shipped:
        print(f"shipped (shingle {shipped['shingle']}, bands {shipped['bands']}, threshold {shipped['threshold']}):")
        for kind, found in shipped["found_by_kind"].items():
            print(f"  {kind}: {found}")
    collection = collection_false_copies(duplicates.SHINGLE)
    print("taken for copies among distinct texts:", {k: f"{v['taken_for_copies']}/{v['texts']}" for k, v in collection.items()})
    timing = cost(args.articles, args.probes)
    print(timing)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"grid": grid, "shipped": shipped, "collection": collection, "cost": timing}, indent=2))


if __name__ == "__main__":
    main()
