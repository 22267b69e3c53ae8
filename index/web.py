"""Fetching feeds and pages over http(s), bounded in time, size and redirects."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from index.articles import IngestError, max_bytes, megabytes, printable

USER_AGENT = "news-qa/0.1 (local news question answering; reads each feed and page once per add or sync)"
TIMEOUT_S = 15.0  # the whole fetch: connecting, waiting and reading
MAX_REDIRECTS = 5
SCHEMES = ("http", "https")


class FetchError(IngestError):
    """An address that could not be read; the message names why."""


@dataclass(frozen=True)
class Fetched:
    """What an address returned.

    Attributes:
        url: The address after redirects.
        content: The body, at most the size limit.
        content_type: The ``Content-Type`` header, lower case, without parameters.
    """

    url: str
    content: bytes
    content_type: str


def is_address(text: str) -> bool:
    """Whether ``text`` is an http(s) address rather than a file path."""
    return urlsplit(text).scheme.lower() in SCHEMES and bool(urlsplit(text).netloc)


def fetch(url: str, limit: int | None = None, timeout: float | None = None) -> Fetched:
    """GET an http(s) address, following at most ``MAX_REDIRECTS`` redirects, to http(s) only.

    Args:
        url: The address.
        limit: Largest body in bytes (default ``index.articles.max_bytes()``).
        timeout: Seconds for the whole fetch (default ``TIMEOUT_S``).

    Raises:
        FetchError: Not http(s), unreachable, an HTTP error, too many redirects,
            too slow or too large; the message is one line.
    """
    limit = max_bytes() if limit is None else limit
    timeout = TIMEOUT_S if timeout is None else timeout
    deadline = time.monotonic() + timeout
    try:
        with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=timeout, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                if not is_address(url):
                    raise FetchError(f"only http(s) addresses are read, not {printable(url)[:80]}")
                with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise FetchError(f"{megabytes(int(declared))} is over the {megabytes(limit)} limit")
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > limit:
                            raise FetchError(f"over the {megabytes(limit)} limit")
                        if time.monotonic() > deadline:
                            raise FetchError(f"too slow: not read within {timeout:.0f} s")
                    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    return Fetched(str(response.url), bytes(body), kind)
            raise FetchError(f"more than {MAX_REDIRECTS} redirects")
    except httpx.TimeoutException:
        raise FetchError(f"too slow: no answer within {timeout:.0f} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot reach it: {printable(str(exc) or type(exc).__name__)[:120]}") from None
