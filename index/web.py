"""Fetching feeds and pages over http(s), bounded in time, size and redirects, and, for a server, never into
the private network: every hop's host is resolved, refused when any of its addresses is loopback, private,
link-local, multicast or reserved, and connected to at the address that was checked (so a second DNS answer
cannot point the connection elsewhere).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from index.articles import IngestError, max_bytes, megabytes, printable

USER_AGENT = "news-qa/0.1 (local news question answering; reads each feed and page once per add or sync)"
TIMEOUT_S = 15.0  # the whole fetch: connecting, waiting and reading
MAX_REDIRECTS = 5
SCHEMES = ("http", "https")
TRANSPORT: httpx.BaseTransport | None = None  # how requests are sent (default: httpx's network transport)


class FetchError(IngestError):
    """An address that could not be read; the message names why."""


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local, multicast, reserved)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal: itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {printable(host)[:80]}: {getattr(exc, 'strerror', None) or exc}") from None
    return list(dict.fromkeys(info[4][0].split("%")[0] for info in found))


def public_address(url: str) -> str:
    """The public address to connect to for ``url``'s host.

    Raises:
        FetchError: The host resolves to an address that is not public (any of them), or not at all.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    addresses = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    for address in addresses:
        if not is_public(address):
            shown = printable(host)[:80] + (f" ({address})" if address != host else "")
            raise FetchError(f"refused: {shown} is not a public address; a server fetches only public ones")
    if not addresses:
        raise FetchError(f"cannot resolve {printable(host)[:80]}")
    return addresses[0]


def _pinned(request: httpx.Request, address: str) -> httpx.Request:
    """The request sent to ``address`` instead of resolving its host again; the ``Host`` header and the TLS
    server name stay the host's."""
    host = request.url.host
    request.url = request.url.copy_with(host=address)
    request.extensions["sni_hostname"] = host
    return request


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


def fetch(url: str, limit: int | None = None, timeout: float | None = None, private: bool = True) -> Fetched:
    """GET an http(s) address, following at most ``MAX_REDIRECTS`` redirects, to http(s) only.

    Args:
        url: The address.
        limit: Largest body in bytes (default ``index.articles.max_bytes()``).
        timeout: Seconds for the whole fetch (default ``TIMEOUT_S``).
        private: Whether addresses that are not public may be read (the command line's own user); a server
            passes ``False`` so that no one can make it read its own network (``public_address``).

    Raises:
        FetchError: Not http(s), refused, unreachable, an HTTP error, too many redirects, too slow or too
            large; the message is one line.
    """
    limit = max_bytes() if limit is None else limit
    timeout = TIMEOUT_S if timeout is None else timeout
    deadline = time.monotonic() + timeout
    try:
        with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=timeout, follow_redirects=False,
                          transport=TRANSPORT) as client:
            for _ in range(MAX_REDIRECTS + 1):
                if not is_address(url):
                    raise FetchError(f"only http(s) addresses are read, not {printable(url)[:80]}")
                request = client.build_request("GET", url)
                if not private:
                    request = _pinned(request, public_address(url))
                response = client.send(request, stream=True)
                try:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    return Fetched(url, _body(response, limit, deadline, timeout), _content_type(response))
                finally:
                    response.close()
            raise FetchError(f"more than {MAX_REDIRECTS} redirects")
    except httpx.TimeoutException:
        raise FetchError(f"too slow: no answer within {timeout:.0f} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot reach it: {printable(str(exc) or type(exc).__name__)[:120]}") from None


def _body(response: httpx.Response, limit: int, deadline: float, timeout: float) -> bytes:
    """A successful response's body, read within the size limit and the deadline."""
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
    return bytes(body)


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()
