"""Near-duplicate articles (the same wire copy from several outlets): MinHash signatures of word shingles,
found again through locality-sensitive hashing bands stored in the index database.

An article whose estimated Jaccard similarity to an indexed one reaches ``THRESHOLD`` is a copy of it.
``SHINGLE``, ``THRESHOLD`` and the banding were chosen on built pairs (``bench/duplicates.py``).
"""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np

from index.text import terms

SHINGLE = 3  # words per shingle
PERMUTATIONS = 128
BANDS, ROWS = 42, 3  # the first BANDS * ROWS values of a signature make its band keys
THRESHOLD = 0.4  # estimated Jaccard similarity from which an article is a copy

SCHEMA = """
CREATE TABLE IF NOT EXISTS signatures(
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE, minhash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bands(key INTEGER NOT NULL, article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS bands_by_key ON bands(key);
CREATE INDEX IF NOT EXISTS bands_by_article ON bands(article_id);
"""


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    """The article's runs of ``size`` lower-cased words (the whole text when it is shorter)."""
    words = terms(text)
    return {" ".join(words[i : i + size]).encode() for i in range(max(1, len(words) - size + 1))}


def signature(text: str, size: int = SHINGLE) -> np.ndarray:
    """The MinHash signature of a text's shingles (``PERMUTATIONS`` unsigned 64-bit values)."""
    from datasketch import MinHash  # imports scipy, slow to load: only writes need it, not answering

    minhash = MinHash(num_perm=PERMUTATIONS, seed=1)
    minhash.update_batch(list(shingles(text, size)))
    return minhash.hashvalues.astype(np.uint64)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The Jaccard similarity of two texts' shingles, estimated from their signatures."""
    return float(np.mean(a == b))


def band_keys(sig: np.ndarray) -> list[int]:
    """One key per band of the signature, as signed 64-bit integers for SQLite."""
    return [
        int.from_bytes(hashlib.blake2b(band.tobytes() + bytes([n]), digest_size=8).digest(), "little", signed=True)
        for n, band in enumerate(sig[: BANDS * ROWS].reshape(BANDS, ROWS))
    ]


def find_copy(db: sqlite3.Connection, sig: np.ndarray) -> str | None:
    """The first copy (in indexing order) of the indexed article most similar to ``sig``, when one reaches
    ``THRESHOLD``; a copy of a copy is a copy of the first."""
    keys = band_keys(sig)
    rows = db.execute(
        "SELECT s.minhash, coalesce(a.duplicate_of, a.id) FROM signatures s JOIN articles a ON a.id = s.article_id "
        f"WHERE s.article_id IN (SELECT article_id FROM bands WHERE key IN ({','.join('?' * len(keys))}))",
        keys,
    ).fetchall()
    return first_of_most_similar(sig, [(np.frombuffer(blob, dtype=np.uint64), first) for blob, first in rows])


def first_of_most_similar(sig: np.ndarray, candidates: list[tuple[np.ndarray, str]]) -> str | None:
    """Of candidates sharing a band with ``sig`` (signature, first copy of its story), the first copy of the
    most similar one when it reaches ``THRESHOLD``."""
    best, best_score = None, THRESHOLD
    for minhash, first in candidates:
        score = similarity(sig, minhash)
        if score >= best_score:
            best, best_score = first, score
    return best


def record(db: sqlite3.Connection, article_id: str, sig: np.ndarray) -> None:
    """Store an article's signature and band keys."""
    db.execute("INSERT OR REPLACE INTO signatures VALUES (?, ?)", (article_id, sig.tobytes()))
    db.executemany("INSERT INTO bands VALUES (?, ?)", [(key, article_id) for key in band_keys(sig)])
