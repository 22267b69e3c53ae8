"""The index in Milvus (``pymilvus``, the optional ``[milvus]`` extra): a Milvus server, so that an archive can
live on a cluster of many machines, or a Milvus Lite file. It keeps the ``index.store.base.Store`` contract.

Seven collections, named ``PREFIX_*`` (``qa`` by default):

* ``sentences``: a row per sentence: its article, position and offsets, its vector, its window's words stemmed
  as the SQLite index stems them (``terms``: stemmed here, so that Milvus Lite, which has no stemmer, and a
  server analyse alike) with the BM25 sparse vector Milvus makes of them, and its article's date and source for
  filtered searches. The name is an alias: ``rebuild`` fills a new collection and swaps it in whole.
* ``articles``: titles, dates, sources, near-duplicate links, MinHash signatures and their LSH band keys;
* ``texts``: article texts in parts (a Milvus string holds at most 64 KiB);
* ``feeds``: the feeds added and the items read from each;
* ``writes``: the journal of writes under way;
* ``questions`` and ``feedback``: what readers asked and how they judged answers (``readers.py``).

Milvus has no transaction across rows, so an article's row is the commit of its write. The sentences of an
article have the ids ``block * POSITIONS + position`` for a *block* drawn at random for each write of it, and
are seen only while the article's row names that block. A write journals its blocks, inserts the texts and
sentences, upserts the article rows (the commit) and clears its journal entry; a removal journals the block,
deletes the article row (the commit), then its rows. A writer killed in between leaves rows that no article
names, invisible; the next write deletes them once the entry is ``STALE_WRITE_S`` old (at once on a Milvus
Lite file, which only one process opens at a time).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

# gRPC's own log lines (a server's keep-alive notices) are not for the user of a command line.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from index import duplicates
from index.articles import Article
from index.embedder import Embedder
from index.indexer import prepare
from index.sentences import split_sentences, windows
from index.store.base import (
    ArticleInfo,
    IndexMismatchError,
    IndexReadOnlyError,
    PreparedArticle,
    SearchFilter,
    SentenceRow,
    StoreError,
    check_format,
)
from index.store.milvus.collections import (
    PLACEHOLDER,
    all_rows,
    article_info,
    create_aliased_sentences,
    create_plain,
    create_sentences,
    feed_key,
    filter_expression,
    fitted,
    insert_rows,
    quoted,
    rows_by_id,
)
from index.store.milvus.journal import POSITIONS, WriteJournal
from index.store.milvus.readers import ReaderCollections
from index.store.text_cache import TextCache
from index.text import WINDOW_RADIUS, content_terms, error_line, stemmed

DEFAULT_PREFIX = "qa"
MAX_BLOCK = (1 << 63) // POSITIONS - 1
TEXT_PART = 16_000  # characters of article text per row: at most 64,000 bytes in UTF-8
ARTICLES_PER_WRITE = 200  # articles committed together (each write journals its articles)
FLUSH_FROM = 1_000  # sentences: an add of this many seals them into an indexed segment
TIMEOUT_S = 10.0

# Its failures reach the user as one-line errors (``StoreError``); its query iterator warns about Lite's timestamps.
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class BlockRow(SentenceRow):
    """A sentence row of the Milvus index; its block is ``id // POSITIONS``."""

    @property
    def block(self) -> int:
        """The block of the write that stored the sentence."""
        return self.id // POSITIONS


class MilvusStore(WriteJournal, ReaderCollections):
    """The articles of one index in Milvus, their sentences, sentence vectors and BM25 terms.

    Several processes may use one Milvus server: each write commits its articles whole, and readers see
    every committed write at once (strong consistency), so ``refresh`` has nothing to do. A Milvus Lite file
    is open in one process at a time.
    """

    def __init__(
        self,
        uri: str,
        collections: str | None = None,
        check_model: bool = True,
        read_only: bool = False,
        embedder: Embedder | None = None,
    ) -> None:
        """Connect to Milvus and open (or create) the index's collections.

        Args:
            uri: A Milvus server (``http://host:19530``) or a Milvus Lite file (``path/milvus.db``).
            collections: The prefix of the collections' names (default ``qa``).
            check_model: Refuse an index built with another embedding model.
            read_only: Search only; never create or change a collection.
            embedder: What embeds sentences and questions (default: all-MiniLM-L6-v2).

        Raises:
            StoreError: Milvus cannot be reached, the Lite file is open in another process, or (read-only)
                there is no index there.
        """
        self.uri = uri
        self.prefix = collections or DEFAULT_PREFIX
        self.embedder = embedder or Embedder()
        self.read_only = read_only
        self.lite = "://" not in uri
        self._lock = threading.RLock()
        self._texts = TextCache()
        self._term_counts: tuple[tuple[int, int] | None, dict[str, int]] = (None, {})  # (generation, windows by term)
        self.sentences, self.articles, self.texts, self.feeds_name, self.writes, self.questions_name, self.feedback_name = (
            f"{self.prefix}_{name}" for name in ("sentences", "articles", "texts", "feeds", "writes", "questions", "feedback"))
        try:
            if self.lite:
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            self._client = MilvusClient(uri, timeout=TIMEOUT_S)
        except (MilvusException, OSError) as exc:
            busy = self.lite and "Open local milvus failed" in str(exc)
            raise StoreError(
                f"the Milvus Lite file {uri} is open in another process; serve it with `milvus-lite server --host 127.0.0.1` to share it"
                if busy else f"cannot reach Milvus at {uri}: {error_line(exc)}"
            ) from None
        with self._milvus():
            self._open(check_model)
            if self.lite and not read_only:
                self._roll_back()

    # -- collections ------------------------------------------------------------------------------------------

    @contextmanager
    def _milvus(self) -> Iterator[None]:
        """Hold this corpus's lock and turn Milvus errors into one-line ``StoreError``s."""
        with self._lock:
            try:
                yield
            except MilvusException as exc:
                raise StoreError(f"Milvus at {self.uri}: {error_line(exc)}") from None

    def _open(self, check_model: bool) -> None:
        existing = set(self._client.list_collections())
        aliases = set(self._client.list_aliases().get("aliases", []))
        missing = [name for name in (self.articles, self.texts, self.feeds_name, self.writes) if name not in existing]
        if self.sentences not in aliases:
            missing.append(self.sentences)
        if missing and self.read_only:
            raise StoreError(f"there is no index in Milvus at {self.uri} (collections {self.prefix}_*)")
        if not self.read_only:  # added since the first release: an older index gets them when opened for writing
            missing += [name for name in (self.questions_name, self.feedback_name) if name not in existing]
        if self.sentences in aliases:  # one made before the format was recorded is format 1, read as it is
            check_format(self._properties().get("qa.format"), f"in Milvus at {self.uri}")
        for name in missing:
            if name == self.sentences:
                create_aliased_sentences(self._client, self.sentences, self.embedder)
            else:
                create_plain(self._client, name, name.removeprefix(f"{self.prefix}_"))
        readers = [name for name in (self.questions_name, self.feedback_name) if name in existing or name in missing]
        for name in (self.articles, self.texts, self.feeds_name, self.writes, self.sentences, *readers):
            self._client.load_collection(name)  # after a restart Milvus holds them released
        if check_model:
            model, dimension = self._model()
            if model != self.embedder.name or dimension != self.embedder.dimension:
                raise IndexMismatchError(
                    f"index in Milvus at {self.uri} was built with {model} ({dimension} dimensions), this version "
                    f"embeds with {self.embedder.name} ({self.embedder.dimension}); run `qa index rebuild`"
                )

    def _properties(self) -> dict[str, str]:
        """What the sentence collection records: the embedding model, its dimension, the index format."""
        return self._client.describe_collection(self.sentences).get("properties") or {}

    def _model(self) -> tuple[str, int]:
        """The embedding model and dimension the sentence vectors were made with."""
        properties = self._properties()
        return properties.get("qa.model", "?"), int(properties.get("qa.dimension", 0))

    # -- small helpers ----------------------------------------------------------------------------------------

    def _count(self, collection: str, expression: str = "") -> int:
        return int(self._client.query(collection, filter=expression, output_fields=["count(*)"])[0]["count(*)"])

    def _article_rows(self, ids: list[str], fields: list[str]) -> dict[str, dict]:
        return {row["id"]: row for row in rows_by_id(self._client, self.articles, list(ids), fields)}

    # -- reading ----------------------------------------------------------------------------------------------

    @property
    def generation(self) -> tuple[int, int]:
        """Changes when articles are added or removed (their count and the sentences')."""
        with self._milvus():
            return self._count(self.articles), self._count(self.sentences)

    def refresh(self) -> None:
        """Nothing to do: every search sees what other processes committed."""

    def stats(self) -> dict:
        """Counts of articles and sentences (each row holds a sentence and its vector), with the backend in use.

        A ``warning`` entry says when writes stopped before they finished (their rows are not searched).
        """
        with self._milvus():
            stats = {
                "articles": self._count(self.articles),
                "near_duplicates": self._count(self.articles, 'duplicate_of != ""'),
                "sentences": self._count(self.sentences),
                "model": self.embedder.name,
                "backend": "milvus",
                "milvus": self.uri,
                "collections": f"{self.prefix}_*",
            }
            stopped = len(self._stopped_writes())
        stats["vectors"] = stats["sentences"]
        if stopped:
            stats["warning"] = f"{stopped} writes stopped before they finished; the next write clears what they left"
        return stats

    def check(self) -> list[str]:
        """Compare the collections; what is wrong, or nothing when they agree."""
        with self._milvus():
            problems = []
            model, dimension = self._model()
            if model != self.embedder.name or dimension != self.embedder.dimension:
                problems.append(f"built with {model}, this version embeds with {self.embedder.name}")
            stopped = {entry["id"] for entry in self._stopped_writes()}
            if stopped:
                problems.append(f"{len(stopped)} writes stopped before they finished (the next write clears them)")
            under_way = {block for entry in all_rows(self._client, self.writes, ["id", "entries"]) if entry["id"] not in stopped
                         for _, block, _ in json.loads(entry["entries"])}
            articles = {row["id"]: row for row in all_rows(self._client, self.articles, ["id", "block", "sentences", "parts"])}
            held: dict[int, int] = {}
            for row in all_rows(self._client, self.sentences, ["id"]):
                held[row["id"] // POSITIONS] = held.get(row["id"] // POSITIONS, 0) + 1
            texts = {row["id"] for row in all_rows(self._client, self.texts, ["id"])}
        committed = {row["block"]: row for row in articles.values()}
        short = sum(held.get(block, 0) != row["sentences"] for block, row in committed.items())
        unseen = sum(count for block, count in held.items() if block not in committed and block not in under_way)
        untexted = sum(any(f"{row['id']}:{row['block']}:{n}" not in texts for n in range(row["parts"]))
                       for row in articles.values())
        for count, what in ((short, "articles do not have the sentences they record"),
                            (unseen, "sentences belong to no article (left by a stopped write)"),
                            (untexted, "articles miss part of their text")):
            if count:
                problems.append(f"{count} {what}")
        return problems

    def list_articles(self) -> list[ArticleInfo]:
        """All indexed articles, oldest first."""
        with self._milvus():
            rows = all_rows(self._client, self.articles, ["id", "title", "date", "source", "sentences", "duplicate_of", "added"])
        rows.sort(key=lambda row: (row["added"], row["id"]))
        return [article_info(row) for row in rows]

    def first_copies(self, article_ids: list[str]) -> dict[str, str]:
        """For each of these indexed articles, the first indexed copy of its story (itself when it is no copy)."""
        with self._milvus():
            rows = self._article_rows(article_ids, ["duplicate_of"])
        return {i: row["duplicate_of"] or i for i, row in rows.items()}

    def copies(self, article_id: str) -> list[ArticleInfo]:
        """Every indexed copy of an article's story, the first copy first (just the article when it has none)."""
        fields = ["id", "title", "date", "source", "sentences", "duplicate_of", "added"]
        with self._milvus():
            row = self._article_rows([article_id], ["duplicate_of"]).get(article_id)
            if row is None:
                return []
            first = row["duplicate_of"] or article_id
            rows = self._client.query(self.articles, filter=f"id == {quoted(first)} or duplicate_of == {quoted(first)}",
                                      output_fields=fields)
        rows.sort(key=lambda r: (r["duplicate_of"] != "", r["added"], r["id"]))
        return [article_info(r) for r in rows]

    def first_copy(self, article_id: str) -> ArticleInfo | None:
        """The first indexed copy of a near-duplicate's story; ``None`` when the article is no copy."""
        copies = self.copies(article_id)
        return copies[0] if copies and copies[0].id != article_id else None

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or ``None``."""
        with self._milvus():
            row = self._article_rows([article_id], ["title", "date", "source", "block", "parts"]).get(article_id)
            if row is None:
                return None
            text = self._texts.get(article_id, lambda: self._load_text(article_id, row))
            return Article(article_id, row["title"], text, row["date"] or None, row["source"])

    def article_text(self, article_id: str) -> str:
        """An article's text, cached (the most recent few) for the hot path of answering."""

        def load() -> str:
            row = self._article_rows([article_id], ["block", "parts"]).get(article_id)
            if row is None:
                raise StoreError(f"no article with id {article_id}")
            return self._load_text(article_id, row)

        with self._milvus():
            return self._texts.get(article_id, load)

    def _load_text(self, article_id: str, row: dict) -> str:
        """The text of an article row, from its parts."""
        keys = [f"{article_id}:{row['block']}:{n}" for n in range(row["parts"])]
        parts = {part["id"]: part["text"] for part in rows_by_id(self._client, self.texts, keys, ["text"])}
        return "".join(parts.get(key, "") for key in keys)

    def _stored_rows(self, ids: list[int]) -> list[BlockRow]:
        """The sentence rows stored under these ids, committed or not."""
        found = rows_by_id(self._client, self.sentences, ids, ["article_id", "position", "start", "end"])
        return [BlockRow(r["id"], r["article_id"], r["position"], r["start"], r["end"]) for r in found]

    def _block_rows(self, article_id: str, block: int, positions: range) -> list[SentenceRow]:
        """An article's sentences at these positions in one block (stored by one write), in order."""
        rows = self._stored_rows([block * POSITIONS + n for n in positions])
        return sorted((r for r in rows if r.article_id == article_id and r.block == block), key=lambda r: r.position)

    def sentence_rows(self, ids: list[int]) -> dict[int, SentenceRow]:
        """Sentence rows by id (those of committed articles: whose row names their block)."""
        if not ids:
            return {}
        with self._milvus():
            found = self._stored_rows([int(i) for i in ids])
            blocks = {i: row["block"] for i, row in self._article_rows(list({r.article_id for r in found}), ["block"]).items()}
        return {r.id: r for r in found if blocks.get(r.article_id) == r.block}

    def neighbours(self, row: SentenceRow, radius: int) -> list[SentenceRow]:
        """The sentences within ``radius`` positions of ``row`` in its article, in order (those of its block:
        stored by the same write)."""
        with self._milvus():
            return self._block_rows(row.article_id, row.id // POSITIONS,
                                    range(max(0, row.position - radius), row.position + radius + 1))

    def article_sentences(self, article_id: str) -> list[SentenceRow]:
        """All sentences of an article, in order."""
        with self._milvus():
            row = self._article_rows([article_id], ["block", "sentences"]).get(article_id)
            return self._block_rows(article_id, row["block"], range(row["sentences"])) if row else []

    def dense_search(self, query_vector: np.ndarray, k: int, where: SearchFilter | None = None) -> list[tuple[int, float]]:
        """Sentence ids nearest to a unit query vector, best first; with ``where``, of the articles it allows."""
        return self._search(np.asarray(query_vector, dtype=np.float32).reshape(-1).tolist(), "vector", k, where)

    def keyword_search(self, question: str, k: int, where: SearchFilter | None = None) -> list[tuple[int, float]]:
        """Sentence ids ranked by BM25 of their windows for the question's content words, best first; with
        ``where``, of the articles it allows."""
        terms = stemmed([" ".join(content_terms(question))])[0]
        return self._search(terms, "sparse", k, where) if terms else []

    def window_terms(self, ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        """Which of these stemmed terms each sentence's window holds (as keyword search matches them), by sentence id."""
        with self._milvus():
            return {int(row["id"]): terms.intersection(row["terms"].split())
                    for row in rows_by_id(self._client, self.sentences, [int(i) for i in ids], ["terms"])}

    def term_windows(self, terms: list[str]) -> tuple[dict[str, int], int]:
        """How many windows hold each of these stemmed terms, and how many windows there are (committed or not:
        a share, for weighting words)."""
        with self._milvus():
            # Each count is a scan of every window (``like``): kept until the index changes (its article and window
            # counts), so a question pays only for words no question asked since the last write.
            generation = self.generation
            if self._term_counts[0] != generation:
                self._term_counts = (generation, {})
            counts = self._term_counts[1]
            for term in set(terms) - counts.keys():
                counts[term] = self._count(self.sentences, " or ".join(
                    f"terms like {quoted(pattern)}" for pattern in (term, f"{term} %", f"% {term} %", f"% {term}")))
            return {term: counts[term] for term in terms}, generation[1]

    def _search(self, query: Any, field: str, k: int, where: SearchFilter | None) -> list[tuple[int, float]]:
        with self._milvus():
            hits = self._client.search(self.sentences, data=[query], anns_field=field, limit=k,
                                       filter=filter_expression(where), output_fields=["source"] if where else [])[0]
        # Milvus Lite reports BM25 scores negated (as distances); the order is best first either way
        return [(int(hit["id"]), abs(float(hit["distance"]))) for hit in hits
                if not (where and where.source) or hit["entity"]["source"].startswith(where.source)]

    # -- writing ----------------------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise IndexReadOnlyError(f"the index in Milvus at {self.uri} is read-only; it can be searched but not changed")

    def _new_blocks(self, count: int) -> list[int]:
        """``count`` unused blocks, drawn at random (so that writers on other machines need not agree)."""
        blocks: list[int] = []
        while len(blocks) < count:
            drawn = [random.randint(1, MAX_BLOCK) for _ in range(count - len(blocks))]
            used = {row["id"] // POSITIONS for row in rows_by_id(self._client, self.sentences, [b * POSITIONS for b in drawn], ["id"])}
            blocks += [b for b in drawn if b not in used and b not in blocks]
        return blocks

    def known(self, article_ids: list[str]) -> set[str]:
        """Which of these article ids are indexed."""
        with self._milvus():
            return self._known(article_ids)

    def _known(self, ids: list[str]) -> set[str]:
        return set(self._article_rows(ids, ["id"]))

    def _sentence_rows(self, prepared: PreparedArticle, block: int) -> list[dict]:
        article = prepared.article
        window_texts = [article.text[w.start : w.end] for w in windows(prepared.sentences, WINDOW_RADIUS)]
        return [
            {"id": block * POSITIONS + position, "article_id": article.id, "position": position, "start": s.start,
             "end": s.end, "date": article.date or "", "source": fitted(article.source), "terms": fitted(terms),
             "vector": vector.tolist()}
            for position, (s, terms, vector) in enumerate(zip(prepared.sentences, stemmed(window_texts), prepared.vectors))
        ]

    def write(self, prepared: list[PreparedArticle]) -> set[str]:
        """Store prepared articles, ``ARTICLES_PER_WRITE`` committed at a time; the ids stored (not those another
        writer stored meanwhile)."""
        self._writable()
        added: set[str] = set()
        with self._milvus():
            self._roll_back()
            for at in range(0, len(prepared), ARTICLES_PER_WRITE):
                added |= self._write_articles(prepared[at : at + ARTICLES_PER_WRITE])
            if sum(len(p.sentences) for p in prepared) >= FLUSH_FROM:
                self._client.flush(self.sentences)
        return added

    def _write_articles(self, prepared: list[PreparedArticle]) -> set[str]:
        """Store articles and commit them by their rows; returns the ids committed (not ones another writer
        committed meanwhile)."""
        blocks = self._new_blocks(len(prepared))
        parts = [[p.article.text[n : n + TEXT_PART] for n in range(0, len(p.article.text), TEXT_PART)] or [""]
                 for p in prepared]
        entries = [(p.article.id, block, len(texts)) for p, block, texts in zip(prepared, blocks, parts)]
        with self._journal(entries):
            insert_rows(self._client, self.texts, [{"id": f"{p.article.id}:{block}:{n}", "text": text, "placeholder": PLACEHOLDER}
                                      for p, block, texts in zip(prepared, blocks, parts) for n, text in enumerate(texts)])
            insert_rows(self._client, self.sentences, [row for p, block in zip(prepared, blocks) for row in self._sentence_rows(p, block)])
            now = datetime.now(timezone.utc).isoformat()
            articles, pending = [], []
            for p, block, texts in zip(prepared, blocks, parts):
                first = self._first_copy_of(p.signature, pending)
                pending.append((p.signature, first or p.article.id))
                articles.append({
                    "id": p.article.id, "title": fitted(p.article.title), "date": p.article.date or "",
                    "source": fitted(p.article.source), "added": now, "duplicate_of": first or "",
                    "sentences": len(p.sentences), "parts": len(texts), "block": block,
                    "minhash": p.signature.tobytes().hex(), "bands": duplicates.band_keys(p.signature),
                    "placeholder": PLACEHOLDER,
                })
            late = self._known([a["id"] for a in articles])  # committed by another writer since the first look
            insert_rows(self._client, self.articles, [a for a in articles if a["id"] not in late], upsert=True)
            self._delete_uncommitted([e for e in entries if e[0] in late])
        return {a["id"] for a in articles if a["id"] not in late}

    def _first_copy_of(self, signature: np.ndarray, pending: list[tuple[np.ndarray, str]]) -> str | None:
        """The first copy of the story of the indexed (or ``pending``) article most like ``signature``."""
        keys = duplicates.band_keys(signature)
        rows = self._client.query(self.articles, filter=f"array_contains_any(bands, {keys})",
                                  output_fields=["minhash", "duplicate_of"], limit=1000)
        candidates = [(np.frombuffer(bytes.fromhex(r["minhash"]), dtype=np.uint64), r["duplicate_of"] or r["id"])
                      for r in rows]
        return duplicates.first_of_most_similar(signature, candidates + pending)

    def remove(self, article_id: str) -> ArticleInfo | None:
        """Remove an article and its sentences; returns what was removed, or ``None``."""
        self._writable()
        fields = ["id", "title", "date", "source", "sentences", "duplicate_of", "added", "block", "parts"]
        with self._milvus():
            self._roll_back()
            row = self._article_rows([article_id], fields).get(article_id)
            if row is None:
                return None
            entries = [(article_id, row["block"], row["parts"])]
            with self._journal(entries):
                self._client.delete(self.articles, ids=[article_id])  # the commit: its sentences are no longer seen
                self._texts.forget(article_id)
                self._delete_uncommitted(entries)
                self._promote_copy(article_id)
        return article_info(row)

    def _promote_copy(self, removed: str) -> None:
        """The oldest remaining copy of a removed first copy becomes the first; the others its copies."""
        copies = self._client.query(self.articles, filter=f"duplicate_of == {quoted(removed)}", output_fields=["*"],
                                    limit=16_384)
        if not copies:
            return
        copies.sort(key=lambda r: (r["added"], r["id"]))
        for n, copy in enumerate(copies):
            copy.update(duplicate_of=copies[0]["id"] if n else "", placeholder=PLACEHOLDER)
        insert_rows(self._client, self.articles, copies, upsert=True)

    def rebuild(self, progress: bool = False) -> dict:
        """Re-split and re-embed every stored article with the current model into a new sentence collection,
        then swap it in whole (a crash before the swap leaves the old one in use). Articles other processes
        add meanwhile are embedded too, up to the last look before the swap: on a server, stop writers while
        a rebuild swaps."""
        self._writable()
        with self._milvus():
            self._roll_back()
            old = self._client.describe_alias(self.sentences)["collection_name"]
            for name in self._client.list_collections():  # left by a rebuild that stopped
                if name.startswith(f"{self.sentences}_") and name != old:
                    self._client.drop_collection(name)
            new = create_sentences(self._client, self.sentences, self.embedder)
        counts: dict[str, int] = {}
        stored: set[tuple[str, int]] = set()  # (article id, block) of the sentences put in the new collection
        while True:  # every article, then those other processes add (or add again) while these are embedded
            with self._milvus():
                current = {row["id"]: row["block"] for row in all_rows(self._client, self.articles, ["id", "block"])}
            todo = [i for i, block in current.items() if (i, block) not in stored]
            articles = [a for a in map(self.article, todo) if a is not None]
            if not articles:
                break
            prepared = prepare([(a, split_sentences(a.text)) for a in articles], self.embedder, progress)
            with self._milvus():
                for p in prepared:
                    block = current[p.article.id]
                    insert_rows(self._client, new, self._sentence_rows(p, block))
                    counts[p.article.id] = len(p.sentences)
                    stored.add((p.article.id, block))
        with self._milvus():
            for article_id, block in stored:
                if current.get(article_id) != block:  # removed, or added again, meanwhile
                    self._client.delete(new, filter=f"id >= {block * POSITIONS} and id < {(block + 1) * POSITIONS}")
            self._client.flush(new)
            self._client.alter_alias(new, self.sentences)
            self._client.drop_collection(old)
            recount = [dict(row, sentences=counts[i], placeholder=PLACEHOLDER)
                       for i, row in self._article_rows(list(counts), ["*"]).items() if row["sentences"] != counts[i]]
            insert_rows(self._client, self.articles, recount, upsert=True)
            self._texts.clear()
        return self.stats()

    # -- feeds ------------------------------------------------------------------------------------------------

    def feeds(self) -> list[str]:
        """The feeds (addresses or files) articles were added from, oldest first."""
        with self._milvus():
            rows = all_rows(self._client, self.feeds_name, ["feed", "added"], 'link == ""')
        return [row["feed"] for row in sorted(rows, key=lambda r: r["added"])]

    def feed_links(self, feed: str) -> set[str]:
        """The item links of ``feed`` read so far."""
        with self._milvus():
            return {row["link"] for row in all_rows(self._client, self.feeds_name, ["link"], f'feed == {quoted(feed)} and link != ""')}

    def record_feed(self, feed: str, links: list[str]) -> None:
        """Remember ``feed`` and that these of its items were read."""
        self._writable()
        now = datetime.now(timezone.utc).isoformat()
        with self._milvus():
            known = self.feed_links(feed) | (set() if feed not in self.feeds() else {""})
            rows = [{"id": feed_key(feed, link), "feed": fitted(feed), "link": fitted(link), "added": now,
                     "placeholder": PLACEHOLDER} for link in dict.fromkeys(["", *links]) if link not in known]
            insert_rows(self._client, self.feeds_name, rows, upsert=True)

    def backup(self, destination: Path) -> None:
        """Not this command's job in Milvus: one line naming the tool that backs up a Milvus deployment."""
        raise StoreError("an index in Milvus is backed up with Milvus's own backup tool (milvus-backup, or copying "
                         "a stopped Milvus Lite file); `qa index backup` copies FAISS and SQLite index folders")

    def drop(self) -> None:
        """Delete the index: drop its collections (the sentences' behind the alias too)."""
        self._writable()
        with self._milvus():
            sentences = self._client.describe_alias(self.sentences)["collection_name"]
            self._client.drop_alias(self.sentences)
            for name in (sentences, self.articles, self.texts, self.feeds_name, self.writes, self.questions_name,
                         self.feedback_name):
                self._client.drop_collection(name)

    def close(self) -> None:
        """Close the connection to Milvus."""
        with self._lock:
            self._client.close()

