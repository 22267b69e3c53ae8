"""The Milvus store's collections: their schemas, and the filters and strings written to them."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException

from index import duplicates
from index.embedder import Embedder
from index.store.base import FORMAT, ArticleInfo, SearchFilter

STRING = 65_535  # bytes: Milvus's longest string
# Milvus wants a vector field in every collection: the collections without vectors carry this constant one.
PLACEHOLDER = [1.0, 0.0]
ROWS_PER_CALL = 500  # rows per insert, ids per get
# Server and Lite alike: exact search under a million rows, a graph index beyond (the server's choice).
VECTOR_INDEX = {"index_type": "AUTOINDEX", "metric_type": "IP"}


def quoted(value: str) -> str:
    """A Milvus filter string literal."""
    return json.dumps(value, ensure_ascii=False)


def fitted(text: str, limit: int = STRING) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary."""
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


def filter_expression(where: SearchFilter | None) -> str:
    """A Milvus filter on the sentence rows for ``where`` (a source is matched coarsely, then exactly here:
    Milvus Lite's ``like`` has no escapes)."""
    clauses = []
    if where and where.since:
        clauses.append(f"date >= {quoted(where.since.isoformat())}")
    if where and where.until:
        clauses.append(f'date <= {quoted(where.until.isoformat())} and date != ""')
    if where and where.source:
        clauses.append(f"source like {quoted(where.source + '%')}")
    return " and ".join(clauses)


def create_sentences(client: MilvusClient, alias: str, embedder: Embedder) -> str:
    """Create a new physical sentence collection for the alias ``alias``; returns its name."""
    name = f"{alias}_{uuid.uuid4().hex[:12]}"
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("article_id", DataType.VARCHAR, max_length=64)
    for field in ("position", "start", "end"):
        schema.add_field(field, DataType.INT64)
    schema.add_field("date", DataType.VARCHAR, max_length=10)
    schema.add_field("source", DataType.VARCHAR, max_length=STRING)
    schema.add_field("terms", DataType.VARCHAR, max_length=STRING, enable_analyzer=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=embedder.dimension)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                 output_field_names=["sparse"]))
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="vector", **VECTOR_INDEX)
    indexes.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    indexes.add_index(field_name="article_id", index_type="INVERTED")
    _create(client, name, schema, indexes, {"qa.model": embedder.name, "qa.dimension": str(embedder.dimension),
                                            "qa.format": str(FORMAT)})
    return name

def create_aliased_sentences(client: MilvusClient, alias: str, embedder: Embedder) -> None:
    """A new sentence collection behind ``alias``, unless another process creating the same new index gave the
    alias one first (then that one stays)."""
    physical = create_sentences(client, alias, embedder)
    try:
        client.create_alias(physical, alias)
    except MilvusException:
        client.drop_collection(physical)
        if alias not in client.list_aliases().get("aliases", []):
            raise

def create_plain(client: MilvusClient, name: str, kind: str) -> None:
    """Create one of the collections without real vectors: ``kind`` is ``articles``, ``texts``, ``feeds``, ``writes``,
    ``questions`` or ``feedback``."""
    schema = MilvusClient.create_schema(auto_id=False)
    if kind == "articles":
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        for field in ("title", "source"):
            schema.add_field(field, DataType.VARCHAR, max_length=STRING)
        schema.add_field("date", DataType.VARCHAR, max_length=10)
        schema.add_field("added", DataType.VARCHAR, max_length=40)
        schema.add_field("duplicate_of", DataType.VARCHAR, max_length=64)
        for field in ("sentences", "parts", "block"):
            schema.add_field(field, DataType.INT64)
        schema.add_field("minhash", DataType.VARCHAR, max_length=16 * duplicates.PERMUTATIONS)
        schema.add_field("bands", DataType.ARRAY, element_type=DataType.INT64, max_capacity=duplicates.BANDS)
    elif kind == "texts":
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=128)
        schema.add_field("text", DataType.VARCHAR, max_length=STRING)
    elif kind == "feeds":
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        for field in ("feed", "link"):
            schema.add_field(field, DataType.VARCHAR, max_length=STRING)
        schema.add_field("added", DataType.VARCHAR, max_length=40)
    elif kind in ("questions", "feedback"):  # index/store/milvus/readers.py
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        for field in ("answer_id", "article_id"):
            schema.add_field(field, DataType.VARCHAR, max_length=64)
        for field in ("question", "answer", "comment", "features"):
            schema.add_field(field, DataType.VARCHAR, max_length=STRING)
        schema.add_field("time", DataType.VARCHAR, max_length=40)
        schema.add_field("score", DataType.DOUBLE)  # -1: unknown
        schema.add_field("helpful", DataType.BOOL)
    else:
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("started", DataType.DOUBLE)
        schema.add_field("writer", DataType.VARCHAR, max_length=300)  # host:process id
        schema.add_field("entries", DataType.VARCHAR, max_length=STRING)  # JSON: [[article id, block], ...]
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
    _create(client, name, schema, indexes)

def _create(client: MilvusClient, name: str, schema: Any, indexes: Any, properties: dict[str, str] | None = None) -> None:
    """Create a collection with its indexes (not waiting for them to be built: it is empty), unless another process
    creating the same new index made it first."""
    try:
        client.create_collection(name, schema=schema, consistency_level="Strong", properties=properties or {})
    except MilvusException:
        if not client.has_collection(name):
            raise
        return
    client.create_index(name, indexes, sync=False)


def article_info(row: dict) -> ArticleInfo:
    """An article row as listed."""
    return ArticleInfo(row["id"], row["title"], row["date"] or None, row["source"], row["sentences"],
                       row["duplicate_of"] or None)


def feed_key(feed: str, link: str) -> str:
    """The id of a feed's row (``link`` empty) or of one of its items."""
    return hashlib.blake2b(f"{feed}\n{link}".encode(), digest_size=16).hexdigest()


def rows_by_id(client: MilvusClient, collection: str, ids: list, fields: list[str]) -> list[dict]:
    """The rows with these ids (those there are), ``ROWS_PER_CALL`` ids a call."""
    rows: list[dict] = []
    for at in range(0, len(ids), ROWS_PER_CALL):
        rows += client.get(collection, ids=ids[at : at + ROWS_PER_CALL], output_fields=fields)
    return rows


def all_rows(client: MilvusClient, collection: str, fields: list[str], expression: str = "") -> list[dict]:
    """Every row that matches, however many (a query returns at most 16,384)."""
    rows: list[dict] = []
    iterator = client.query_iterator(collection, batch_size=1000, filter=expression, output_fields=fields)
    try:
        while batch := iterator.next():
            rows += batch
    finally:
        iterator.close()
    return rows


def insert_rows(client: MilvusClient, collection: str, rows: list[dict], upsert: bool = False) -> None:
    """Insert (or upsert) rows, ``ROWS_PER_CALL`` a call."""
    write = client.upsert if upsert else client.insert
    for at in range(0, len(rows), ROWS_PER_CALL):
        write(collection, rows[at : at + ROWS_PER_CALL])
