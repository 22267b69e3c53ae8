"""The most recently read article texts, kept by every backend for the hot path of answering."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

CACHED_TEXTS = 256  # article texts kept in memory for answering


class TextCache:
    """The most recently used article texts (``CACHED_TEXTS``)."""

    def __init__(self, size: int = CACHED_TEXTS) -> None:
        self.size = size
        self._texts: OrderedDict[str, str] = OrderedDict()

    def get(self, article_id: str, load: Callable[[], str]) -> str:
        """The article's text, from ``load()`` when it is not cached."""
        text = self._texts.get(article_id)
        if text is None:
            text = self._texts[article_id] = load()
            if len(self._texts) > self.size:
                self._texts.popitem(last=False)
        else:
            self._texts.move_to_end(article_id)
        return text

    def forget(self, article_id: str) -> None:
        """Drop an article's text."""
        self._texts.pop(article_id, None)

    def clear(self) -> None:
        """Drop every text."""
        self._texts.clear()
