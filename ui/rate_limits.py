"""Fair use of one server: per-client limits on questions and on writes, each over a moving minute (``limits``).

A client is its login when the server asks for one, else its address. The chat and the JSON API share the
counts, so a client cannot double its share by switching between them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# Per client, when the server listens beyond loopback and no limit is given (on loopback: none).
DEFAULT_ANSWERS_PER_MINUTE = 60
DEFAULT_WRITES_PER_MINUTE = 20


class RateLimits:
    """Questions and writes a minute for each client; ``None`` leaves a kind unlimited."""

    def __init__(self, answers_per_minute: int | None = None, writes_per_minute: int | None = None,
                 on_limited: Callable[[str], None] | None = None) -> None:
        """Args:
            answers_per_minute: Questions one client may ask a minute.
            writes_per_minute: Articles, files, addresses and removals one client may send a minute.
            on_limited: Told the kind (``answers`` or ``writes``) of every request refused (a server's metrics).
        """
        self.per_minute = {"answers": answers_per_minute, "writes": writes_per_minute}
        self.on_limited = on_limited
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._lock = threading.Lock()

    def wait(self, kind: str, client: str) -> int | None:
        """Count one request of ``kind`` from ``client``: ``None`` when it may go ahead, else the whole seconds
        until it may (``Retry-After``)."""
        limit = self.per_minute[kind]
        if not limit:
            return None
        item = RateLimitItemPerMinute(limit)
        with self._lock:
            if self._limiter.hit(item, kind, client):
                return None
            reset = self._limiter.get_window_stats(item, kind, client).reset_time
        if self.on_limited:
            self.on_limited(kind)
        return max(1, math.ceil(reset - time.time()))

    def message(self, kind: str, seconds: int) -> str:
        """What a refused client is told."""
        what = "questions" if kind == "answers" else "changes to the index"
        return f"too many {what} from this client: at most {self.per_minute[kind]} a minute; try again in {seconds} s"
