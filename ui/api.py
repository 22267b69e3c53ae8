"""The JSON API beside the chat, under ``/api/v1``: answers, articles and the index's health.

``qa serve`` serves it on the chat's port, behind the same checks (``ui.server.RequestGuard``: Host,
cross-site writes, body size) and the same login, given here as HTTP Basic credentials. Every error is
JSON ``{"detail": "..."}`` with its status: 400 a blank question or an article that cannot be read,
401 no or a wrong login, 403 a write (feedback too) to a read-only index, 404 an unknown article, 413 over the size
limit, 422 a request that does not fit the schema, 503 an index that cannot be used now.
"""

# No ``from __future__ import annotations``: FastAPI reads the route functions' annotations at run time,
# and some name dependencies local to ``api_router``.
import logging
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from index.articles import IngestError, TooLargeError, make_article, max_bytes, megabytes, printable
from index.indexer import ADDED, UNCHANGED
from index.ingest import FEED, Outcome, add_files, add_read_articles, add_sources
from index.store.base import Feedback, IndexReadOnlyError, SearchFilter, StoreError
from index.web import is_address
from qa.answer import QuestionError, clean_question
from qa.pipeline import Pipeline
from qa.readers import MAX_COMMENT_CHARS, ReaderLog, UnknownAnswerError, UnknownArticleError
from qa.report import build_report
from qa.schema import AnswerJSON
from ui.metrics import CONTENT_TYPE, ServiceMetrics
from ui.rate_limits import RateLimits

PREFIX = "/api/v1"
MAX_PAGE = 500  # articles per page at most
MAX_HISTORY = 20  # earlier questions a request may give (follow-ups look at the last few)
MAX_QUESTION = 2000  # characters of each
READ_ONLY = "this index is served read-only: articles cannot be added or removed"
log = logging.getLogger(__name__)


class Question(BaseModel):
    """A question to answer."""

    question: str = Field(description="The question; control characters are dropped, over 1,000 characters it is cut")
    top_k: int = Field(1, ge=1, le=10, description="The best answer and up to top_k - 1 alternatives")
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="How sure an answer must be to be given (default: the reader's calibrated threshold)"
    )
    since: date | None = Field(None, description="Only from articles dated on or after this day (YYYY-MM-DD)")
    until: date | None = Field(None, description="Only from articles dated on or before this day (YYYY-MM-DD)")
    source: str | None = Field(None, max_length=2048,
                               description="Only from articles whose source (address or file path) starts with this")
    as_of: date | None = Field(None, description="The day the question is asked (default: today): \"this week\" and "
                               "\"latest\" count back from it")
    history: list[Annotated[str, StringConstraints(max_length=MAX_QUESTION)]] = Field(
        default_factory=list, max_length=MAX_HISTORY,
        description="The conversation's earlier questions, oldest first: a follow-up such as \"And how many were "
        "arrested?\" is answered with their topic, as in the web chat")


class ArticleIn(BaseModel):
    """An article to index: its text, or the address of a web page (or of a feed, whose new items are read)."""

    text: str | None = Field(None, description="The article text")
    url: str | None = Field(None, max_length=2048, description="Instead of text: an http(s) address of a page or an "
                            "RSS/Atom feed to read (public addresses only, unless the server allows private ones)")
    title: str = Field("", description="Headline (default: the start of the text); with text only")
    date: str | None = Field(None, description="Publication date, YYYY-MM-DD; with text only")
    source: str = Field("api", description="Where the article comes from (a file name or web address); with text only")

    @model_validator(mode="after")
    def text_or_url(self) -> "ArticleIn":
        if (self.text is None) == (self.url is None):
            raise ValueError("give the article's text or its url, one of them")
        return self


class ArticleJSON(BaseModel):
    """An indexed article."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    date: str | None
    source: str
    sentences: int
    duplicate_of: str | None = Field(description="For a near-duplicate: the id of the first indexed copy of its story")


class ArticlePage(BaseModel):
    """A page of the indexed articles, oldest first."""

    total: int
    offset: int
    limit: int
    articles: list[ArticleJSON]


class OutcomeJSON(BaseModel):
    """What became of one article of a request."""

    name: str
    status: Literal["added", "already indexed", "feed", "error"]
    detail: str = Field(description="The article's title, or why it was not indexed")
    article_id: str | None
    duplicate_of: str | None = Field(description="For an added near-duplicate: the first indexed copy of its story")


class AddReport(BaseModel):
    """The outcome of every article of a request, and the size of the index after it."""

    outcomes: list[OutcomeJSON]
    articles: int
    sentences: int


class Health(BaseModel):
    """Whether the index can be used, and its counts."""

    status: Literal["ok", "degraded"] = Field(description="degraded: the counts disagree or the vectors are damaged")
    read_only: bool
    articles: int
    sentences: int
    vectors: int
    near_duplicates: int
    warning: str | None = Field(description="What is wrong, and what to run")


class FeedbackIn(BaseModel):
    """A reader's judgement of an answer: what was asked and answered, from which article, and whether it helped."""

    question: str = Field(max_length=MAX_QUESTION, description="The question asked")
    answer: str = Field("", max_length=MAX_QUESTION, description="The answer judged (empty: the articles didn't say)")
    article_id: str | None = Field(None, max_length=64, description="The answer's article (its `article.id`)")
    helpful: bool = Field(description="Whether the answer helped")
    comment: str = Field("", max_length=MAX_COMMENT_CHARS, description="What was right, in the reader's words")
    answer_id: str | None = Field(None, max_length=64, description="The answer's `id`: the judgement then keeps the "
                                  "answer's confidence, while the server remembers it")


class ErrorJSON(BaseModel):
    """An error."""

    detail: str


ERRORS = {code: {"model": ErrorJSON} for code in (400, 401, 403, 404, 413, 429, 503)}
ALREADY_INDEXED = {200: {"model": AddReport, "description": "Nothing new: every article was already indexed"}}


def _outcome(outcome: Outcome) -> OutcomeJSON:
    status = {ADDED: "added", UNCHANGED: "already indexed", FEED: "feed"}.get(outcome.status, "error")
    return OutcomeJSON(name=printable(outcome.name), status=status, detail=printable(outcome.detail),
                       article_id=outcome.article_id, duplicate_of=outcome.duplicate_of and outcome.duplicate_of[0])


@contextmanager
def _http_errors() -> Iterator[None]:
    """Turn what answering or indexing raises into JSON errors with their status; log anything unforeseen."""
    try:
        yield
    except HTTPException:
        raise
    except QuestionError as exc:
        raise HTTPException(400, f"cannot answer: {exc}") from None
    except TooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    except IngestError as exc:
        raise HTTPException(400, f"not added: {exc}") from None
    except IndexReadOnlyError as exc:
        raise HTTPException(403, str(exc)) from None
    except UnknownArticleError as exc:
        raise HTTPException(404, str(exc)) from None
    except UnknownAnswerError as exc:
        raise HTTPException(400, str(exc)) from None
    except StoreError as exc:
        raise HTTPException(503, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a JSON 500 with one line; the traceback goes to the log
        log.exception("API request failed")
        raise HTTPException(500, f"internal error: {type(exc).__name__}") from None


def basic_login(auth: tuple[str, str] | None) -> Callable[..., None]:
    """A dependency that asks for this user name and password (HTTP Basic); with no ``auth``, for nothing."""
    basic = HTTPBasic(auto_error=False)

    def login(credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> None:
        if auth is None:
            return
        given = (credentials.username, credentials.password) if credentials else ("", "")
        # compared in constant time, both parts always, so timing tells nothing about either
        right = [secrets.compare_digest(a.encode(), b.encode()) for a, b in zip(given, auth)]
        if not all(right):
            raise HTTPException(401, "log in with the user name and password `qa serve --auth` was given",
                                headers={"WWW-Authenticate": 'Basic realm="news-qa"'})

    return login


def metrics_router(metrics: ServiceMetrics, auth: tuple[str, str] | None = None) -> APIRouter:
    """``GET /metrics``: the server's metrics in the Prometheus text format, behind the same login as the API."""
    router = APIRouter(dependencies=[Depends(basic_login(auth))], responses={401: ERRORS[401]})

    @router.get("/metrics", response_class=Response, summary="The server's metrics (Prometheus text format)")
    def get_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return router


def api_router(
    pipeline: Pipeline,
    read_only: bool = False,
    limit: int | None = None,
    min_confidence: float | None = None,
    auth: tuple[str, str] | None = None,
    private_urls: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    rate_limits: RateLimits | None = None,
    readers: ReaderLog | None = None,
) -> APIRouter:
    """The ``/api/v1`` routes over ``pipeline`` and its index.

    Args:
        pipeline: What answers, with the index it answers from and writes to.
        read_only: Refuse to add or remove articles (403).
        limit: Largest article or file in bytes (default ``index.articles.max_bytes()``).
        min_confidence: The default strictness of answers.
        auth: User name and password every request must give (HTTP Basic).
        private_urls: Let ``POST /articles`` read addresses that are not public (``index.web.fetch``).
        on_outcome: Told what became of every article or file added (a server's metrics).
        rate_limits: Questions and writes a minute for each client (429 with ``Retry-After`` past them).
        readers: Keeps the readers' judgements (default: one over the pipeline's index).
    """
    corpus = pipeline.corpus
    readers = readers or ReaderLog(corpus)
    limit = max_bytes() if limit is None else limit
    login = basic_login(auth)
    basic = HTTPBasic(auto_error=False)

    def limited(kind: str) -> Callable[..., None]:
        def within_limit(request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> None:
            if rate_limits is None:
                return
            client = credentials.username if auth and credentials else request.client.host if request.client else ""
            seconds = rate_limits.wait(kind, client)
            if seconds is not None:
                raise HTTPException(429, rate_limits.message(kind, seconds), headers={"Retry-After": str(seconds)})

        return within_limit

    def writable() -> None:
        if read_only or corpus.read_only:
            raise HTTPException(403, READ_ONLY)

    router = APIRouter(prefix=PREFIX, dependencies=[Depends(login)], responses={401: ERRORS[401]})

    def report(outcomes: list[Outcome], response: Response) -> AddReport:
        if outcomes and all(o.status == "error" for o in outcomes):
            raise HTTPException(400, printable(f"not added: {outcomes[0].detail}"))
        response.status_code = 201 if any(o.status == ADDED for o in outcomes) else 200
        stats = corpus.stats()
        return AddReport(outcomes=[_outcome(o) for o in outcomes], articles=stats["articles"], sentences=stats["sentences"])

    @router.post("/answer", response_model=AnswerJSON, responses={k: ERRORS[k] for k in (400, 429, 503)},
                 dependencies=[Depends(limited("answers"))], summary="Answer a question from the indexed articles")
    def post_answer(request: Question) -> AnswerJSON:
        """The ``qa ask --json`` object: the answer copied from an article with its sentence and article, or an
        empty answer with the closest sentences when the articles don't say."""
        strictness = min_confidence if request.min_confidence is None else request.min_confidence
        with _http_errors():
            where = SearchFilter(request.since, request.until, request.source)
            result = pipeline.answer(request.question, top_k=request.top_k, min_confidence=strictness, where=where,
                                     history=request.history, as_of=request.as_of)
        return AnswerJSON.model_validate(result)

    @router.get("/articles", response_model=ArticlePage, responses={503: ERRORS[503]}, summary="List the indexed articles")
    def get_articles(offset: Annotated[int, Query(ge=0)] = 0,
                     limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> ArticlePage:
        """Indexed articles, oldest first, ``limit`` from ``offset``."""
        with _http_errors():
            articles = corpus.list_articles()
        page = [ArticleJSON.model_validate(a) for a in articles[offset : offset + limit]]
        return ArticlePage(total=len(articles), offset=offset, limit=limit, articles=page)

    @router.post("/articles", response_model=AddReport, status_code=201, dependencies=[Depends(writable), Depends(limited("writes"))],
                 responses={**ALREADY_INDEXED, **{k: ERRORS[k] for k in (400, 403, 413, 503)}},
                 summary="Index one article given as JSON")
    def post_article(article: ArticleIn, response: Response) -> AddReport:
        """201 when it was added (a near-duplicate names its first copy), 200 when it was already indexed; a
        feed's address adds its new items, each with its outcome."""
        with _http_errors():
            if article.url is not None:
                if not is_address(article.url):
                    raise IngestError(f"only http(s) addresses are read, not {printable(article.url)[:80]}")
                return report(add_sources(corpus, [article.url], limit, on_outcome=on_outcome, private=private_urls),
                              response)
            made = make_article(article.title, article.text, article.source, article.date, limit)
            return report(add_read_articles(corpus, [(made, made.source)], on_outcome), response)

    @router.post("/articles/file", response_model=AddReport, status_code=201, dependencies=[Depends(writable), Depends(limited("writes"))],
                 responses={**ALREADY_INDEXED, **{k: ERRORS[k] for k in (400, 403, 413, 503)}},
                 summary="Index the articles of an uploaded file (.txt .md .html .json .jsonl .pdf .docx)")
    def post_article_file(file: Annotated[UploadFile, File(description="An article file")], response: Response) -> AddReport:
        """One outcome per article of the file; 201 when any was added, 200 when all were already indexed."""
        name = Path(file.filename or "upload.txt").name or "upload.txt"
        with _http_errors(), tempfile.TemporaryDirectory(prefix="qa-api-") as folder:
            data = file.file.read(limit + 1)
            if len(data) > limit:
                raise TooLargeError(f"{name} is over the {megabytes(limit)} limit")
            path = Path(folder) / f"upload{Path(name).suffix[:16]}"
            path.write_bytes(data)
            return report(add_files(corpus, [(path, name)], limit, on_outcome=on_outcome), response)

    @router.delete("/articles/{article_id}", response_model=ArticleJSON, dependencies=[Depends(writable), Depends(limited("writes"))],
                   responses={k: ERRORS[k] for k in (403, 404, 503)}, summary="Remove an article")
    def delete_article(article_id: str) -> ArticleJSON:
        """The article removed, with its sentences and vectors."""
        with _http_errors():
            removed = corpus.remove(article_id)
        if removed is None:
            raise HTTPException(404, f"no article {printable(article_id)[:80]!r} is indexed")
        return ArticleJSON.model_validate(removed)

    @router.post("/feedback", response_model=Feedback, status_code=201, dependencies=[Depends(limited("answers"))],
                 responses={k: ERRORS[k] for k in (400, 403, 404, 429, 503)}, summary="Judge an answer")
    def post_feedback(judgement: FeedbackIn) -> Feedback:
        """Keep a reader's thumbs up or down on an answer, with what was right; 404 when ``article_id`` names no
        indexed article, 403 on a read-only server."""
        if read_only or corpus.read_only:
            raise HTTPException(403, "this index is served read-only: it keeps no feedback")
        try:
            question, _ = clean_question(judgement.question)  # as answer() reads a question
        except QuestionError as exc:
            raise HTTPException(400, str(exc)) from None
        with _http_errors():
            kept = readers.judge(judgement.helpful, judgement.answer_id, question, printable(judgement.answer).strip(),
                                 judgement.article_id, printable(judgement.comment))
        return kept

    @router.get("/report", response_model=dict, responses={400: ERRORS[400], 503: ERRORS[503]},
                summary="What readers asked and thought")
    def get_report(since: Annotated[date | None, Query(description="From this day (YYYY-MM-DD)")] = None) -> dict:
        """The ``qa report --json`` object: the most asked questions, unanswered questions by topic, helpful
        answers by confidence, answers judged wrong and articles never used (questions are kept by
        ``qa serve --log-questions``)."""
        with _http_errors():
            return build_report(corpus, since.isoformat() if since else None)

    @router.get("/health", response_model=Health, summary="Whether the index can be used")
    def get_health() -> Health:
        """The index's counts, and whether they agree (``qa index check`` tells more)."""
        with _http_errors():
            corpus.refresh()
            stats = corpus.stats()
        return Health(status="degraded" if "warning" in stats else "ok", read_only=read_only or corpus.read_only,
                      articles=stats["articles"], sentences=stats["sentences"], vectors=stats["vectors"],
                      near_duplicates=stats["near_duplicates"], warning=stats.get("warning"))

    return router
