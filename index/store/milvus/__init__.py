"""The index in Milvus (``store.py``) and its collections (``collections.py``)."""

from index.store.milvus.store import MilvusStore

__all__ = ["MilvusStore"]
