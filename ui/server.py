"""Serving the web chat: the Gradio app inside a FastAPI app that checks every request.

Gradio's own handlers stay callable by any client that speaks its queue
protocol (that is how the page calls them), so the checks sit in front of all
of them: the ``Host`` header must name this server (no DNS rebinding), a
browser's ``Origin`` must be this server for anything but a read (no
cross-site requests), request bodies are bounded, and beyond the loopback
interface a login is required unless the caller insists otherwise.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr
import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from index.articles import max_bytes
from index.store import Backend
from qa.answer import Answer
from qa.pipeline import Pipeline
from qa.readers import ReaderLog
from ui.api import api_router, metrics_router
from ui.app import CSS, build_app, seed_index
from ui.metrics import ServiceMetrics
from ui.rate_limits import RateLimits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# A request body may hold one upload of the size limit plus the form around it.
BODY_OVERHEAD = 64 * 1024
_SAFE_METHODS = (b"GET", b"HEAD", b"OPTIONS")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) is reachable from this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: list[str] | None = None) -> set[str]:
    """The names a request's ``Host`` header may carry for a server bound to ``host``.

    Loopback names always; beyond loopback also the bound address, this
    machine's name and, for a wildcard address, this machine's addresses; plus ``extra``.
    """
    names = set(LOOPBACK_NAMES) | {h.lower() for h in extra or []}
    if not is_loopback(host):
        names.add(host.lower())
        hostname = socket.gethostname()
        names |= {hostname.lower(), socket.getfqdn().lower()}
        if host in ("0.0.0.0", "::", ""):
            try:
                names |= {info[4][0] for info in socket.getaddrinfo(hostname, None)}
            except OSError:
                pass
    return names


def _host_name(value: str) -> str:
    """The host of a ``Host`` header or origin's netloc, without port or brackets, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestGuard:
    """ASGI middleware: refuse unknown ``Host`` headers, cross-site writes and bodies over ``max_body`` bytes."""

    def __init__(self, app: ASGIApp, hosts: set[str], max_body: int) -> None:
        self.app, self.hosts, self.max_body = app, hosts, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if _host_name(headers.get(b"host", b"").decode("latin-1")) not in self.hosts:
            await _refuse(scope, send, 400, "Invalid Host header")
            return
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and scope.get("method", "GET").encode() not in _SAFE_METHODS and origin != "null":
            if _host_name(urlsplit(origin).netloc) not in self.hosts:
                await _refuse(scope, send, 403, "Cross-site request refused")
                return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _refuse(scope, send, 413, "Request body too large")
            return
        if length is not None:
            await self.app(scope, receive, send)
            return
        received, started, refused = 0, False, False

        async def bounded() -> Message:  # a chunked body without a length is counted as it arrives
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                if not started and not refused:
                    refused = True
                    await _refuse(scope, send, 413, "Request body too large")
                raise _BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:  # the app's own reply to the aborted body is dropped
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with suppress(_BodyTooLarge):
            await self.app(scope, bounded, tracked)


class _BodyTooLarge(Exception):
    """A request body grew past the limit while it was read."""


async def _refuse(scope: Scope, send: Send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"detail": text}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def web_app(
    blocks: gr.Blocks,
    host: str = "127.0.0.1",
    auth: tuple[str, str] | None = None,
    extra_hosts: list[str] | None = None,
    max_file_bytes: int = 5 * 2**20,
    api: APIRouter | None = None,
    metrics: APIRouter | None = None,
) -> FastAPI:
    """The ASGI app serving ``blocks`` and the JSON ``api`` behind a :class:`RequestGuard`.

    Args:
        blocks: The Gradio app (``ui.app.build_app``).
        host: The address it will be bound to (sets the allowed ``Host`` names).
        auth: A user name and password every request must log in with.
        extra_hosts: More names clients may reach it under (a proxy's, a DNS name).
        max_file_bytes: The largest upload.
        api: The JSON API (``ui.api.api_router``), described at ``/openapi.json`` with its docs page at
            ``/api/docs`` (served from this machine: nothing is loaded from outside).
        metrics: ``/metrics`` (``ui.api.metrics_router``).
    """
    app = FastAPI(title="news-qa", version="1", summary="Answers copied from news articles, with their sentence and article",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json" if api else None)
    if metrics is not None:
        app.include_router(metrics)
    if api is not None:
        app.include_router(api)
        app.mount("/api/docs/assets", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

        @app.get("/api/docs", include_in_schema=False)
        def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="news-qa API",
                                       swagger_js_url="/api/docs/assets/swagger-ui-bundle.js",
                                       swagger_css_url="/api/docs/assets/swagger-ui.css",
                                       swagger_favicon_url="/api/docs/assets/favicon-32x32.png")

    app = gr.mount_gradio_app(
        app, blocks, path="", server_name=host, auth=auth, max_file_size=max_file_bytes, ssr_mode=False, css=CSS,
        footer_links=["api", "settings"], show_error=True,
    )
    app.add_middleware(RequestGuard, hosts=allowed_hosts(host, extra_hosts), max_body=max_file_bytes + BODY_OVERHEAD)
    return app


def server_app(
    pipeline: Pipeline,
    host: str = "127.0.0.1",
    auth: tuple[str, str] | None = None,
    extra_hosts: list[str] | None = None,
    limit: int | None = None,
    read_only: bool = False,
    min_confidence: float | None = None,
    private_urls: bool = False,
    answers_per_minute: int | None = None,
    writes_per_minute: int | None = None,
    log_questions: bool = False,
) -> FastAPI:
    """Everything ``qa serve`` serves over ``pipeline``: the chat, the JSON API and ``/metrics``, counted by one
    ``ServiceMetrics`` and judged through one ``qa.readers.ReaderLog`` (``app.state.readers``: close it when the
    server stops), behind ``web_app``'s checks (the arguments are ``serve``'s)."""
    limit = max_bytes() if limit is None else limit
    metrics = ServiceMetrics(pipeline.corpus)
    readers = ReaderLog(pipeline.corpus, keep_questions=log_questions, on_judged=metrics.observe_feedback)

    def answered(result: Answer | None, seconds: float, error: BaseException | None) -> None:
        metrics.observe_answer(result, seconds, error)
        if result is not None:
            readers.observe(result)

    pipeline.on_answer = answered
    limits = RateLimits(answers_per_minute, writes_per_minute, metrics.observe_limited)  # one count for chat and API
    blocks = build_app(pipeline, min_confidence, read_only=read_only, limit=limit, private_urls=private_urls,
                       on_outcome=metrics.observe_outcome, rate_limits=limits, readers=readers)
    api = api_router(pipeline, read_only, limit, min_confidence, auth, private_urls, metrics.observe_outcome, limits,
                     readers)
    app = web_app(blocks, host, auth, extra_hosts, limit, api, metrics_router(metrics, auth))
    app.state.readers = readers
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    index_dir: Path | str | None = None,
    min_confidence: float | None = None,
    auth: tuple[str, str] | None = None,
    read_only: bool = False,
    extra_hosts: list[str] | None = None,
    limit: int | None = None,
    backend: Backend | None = None,
    private_urls: bool = False,
    answers_per_minute: int | None = None,
    writes_per_minute: int | None = None,
    log_questions: bool = False,
) -> None:
    """Start the web chat; builds the index from ``data/articles/`` first when it is empty (and writable).

    Args:
        host: Address to bind; beyond loopback, pass ``auth`` (``qa serve`` insists).
        port: TCP port.
        index_dir: The index folder.
        min_confidence: Where the strictness slider starts.
        auth: User name and password to log in with.
        read_only: No adding or removing articles.
        extra_hosts: More ``Host`` names to accept.
        limit: Largest file or article in bytes (default ``index.articles.max_bytes()``).
        backend: Where the index is kept (default: ``$QA_BACKEND``, else FAISS and SQLite files).
        private_urls: Let the chat and the API read addresses that are not public (default: public ones only).
        answers_per_minute, writes_per_minute: Per-client limits (``ui.rate_limits``; ``None``: none).
        log_questions: Keep every question asked, with its answer, score and time, in the index (``qa.readers``).
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    limit = max_bytes() if limit is None else limit
    pipeline = Pipeline.open(index_dir, backend=backend)
    corpus = pipeline.corpus
    if not read_only and not corpus.read_only and not corpus.stats()["articles"]:
        seed_index(corpus)
    print("Loading the models and preparing example questions ...", flush=True)
    pipeline.warm_up()
    read_only = read_only or corpus.read_only
    app = server_app(pipeline, host, auth, extra_hosts, limit, read_only, min_confidence, private_urls,
                     answers_per_minute, writes_per_minute, log_questions)
    shown = f"[{host}]" if ":" in host else host
    print(f"Serving on http://{shown}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        app.state.readers.close()
