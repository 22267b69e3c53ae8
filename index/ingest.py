"""Adding article files to the index, with one outcome line per file or article."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from index.articles import Article, IngestError, load_file, printable, read_bytes, valid_text
from index.feeds import FeedItem, page_article, parse_feed
from index.indexer import ADDED, UNCHANGED, Prepare, add_articles, prepare
from index.store.base import Store, StoreError
from index.text import error_line
from index.web import fetch, is_address

BATCH = 200  # articles embedded and committed together
BATCH_CHARS = 1_000_000  # or this much text (about a minute of embedding on 2 cores)
FEED = "feed"
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """What became of one file or article.

    Attributes:
        name: The file as shown to the user.
        status: ``"added"``, ``"unchanged"`` (already indexed), ``"error"`` or
            ``"feed"`` (what a feed held).
        detail: The article's title, the reason for an error or the feed's counts.
        article_id: The article's id, when one was read.
        duplicate_of: For an added near-duplicate, the first indexed copy of its story and its title.
    """

    name: str
    status: str
    detail: str
    article_id: str | None = None
    duplicate_of: tuple[str, str] | None = None

    def line(self) -> str:
        """The outcome as one line of text, safe to print (no control characters)."""
        if self.status in ("error", FEED):
            return printable(f"{self.status}: {self.name}: {self.detail}")
        copy = f" (near-duplicate of {self.duplicate_of[0]} “{self.duplicate_of[1]}”)" if self.duplicate_of else ""
        return printable(f"{'added' if self.status == ADDED else 'already indexed'}: {self.name}: “{self.detail}”{copy}")


def _named(article: Article, path: Path, name: str) -> Article:
    """Give an article the shown name as its source instead of a (temporary) path."""
    where = valid_text(str(path))
    if name != where and (article.source == where or article.source.startswith(where + "#")):
        return replace(article, source=name + article.source[len(where) :])
    return article


class _Batches:
    """Articles waiting to be embedded and committed, with the outcome of each reported as it is known."""

    def __init__(self, corpus: Store, progress: Callable[[float, str], None] | None, progress_bar: bool,
                 on_outcome: Callable[[Outcome], None] | None, prepared_by: Prepare = prepare) -> None:
        self.corpus, self.progress, self.progress_bar, self.on_outcome = corpus, progress, progress_bar, on_outcome
        self.prepared_by = prepared_by
        self.done = 0.0  # the share of the work read so far, for ``progress``
        self.outcomes: list[Outcome] = []
        self.pending: list[tuple[Article, str]] = []
        self.stopped: StoreError | None = None  # why no more can be written

    def report(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.on_outcome:
            self.on_outcome(outcome)

    def attempt(self, name: str, read: Callable[[], T]) -> T | None:
        """``read()``, or ``None`` with one error outcome for ``name``, whatever it raised."""
        try:
            return read()
        except IngestError as exc:
            self.report(Outcome(name, "error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - whatever one file, page or feed raises, the rest go on
            self.report(Outcome(name, "error", f"cannot read: {_reason(exc)}"))
        return None

    def put(self, articles: list[tuple[Article, str]]) -> None:
        """Queue articles; a long file's articles start a batch of their own, so what came before is stored first."""
        if _chars(self.pending) + _chars(articles) > BATCH_CHARS:
            self.flush()
        if self.stopped:
            for article, name in articles:
                self.report(Outcome(name, "error", f"not indexed: {self.stopped}", article.id))
            return
        self.pending += articles
        if len(self.pending) >= BATCH or _chars(self.pending) > BATCH_CHARS:
            self.flush()

    def store(self, batch: list[tuple[Article, str]]) -> None:
        """Index a batch now: an outcome for each article, the first copy named for a near-duplicate."""
        for (article, name), (_, status) in zip(batch, add_articles(self.corpus, [a for a, _ in batch], self.progress_bar, self.prepared_by)):
            if status in (ADDED, UNCHANGED):
                original = self.corpus.first_copy(article.id) if status == ADDED else None
                self.report(Outcome(name, status, article.title, article.id, original and (original.id, original.title)))
            else:
                self.report(Outcome(name, "error", f"“{article.title}” has {status}", article.id))

    def flush(self) -> None:
        """Store the pending articles; one that cannot be stored is reported and the others go on."""
        pending, self.pending = self.pending, []
        if not pending or self.stopped:
            return
        if self.progress:
            self.progress(self.done, f"Indexing {len(pending)} articles")
        try:
            self.store(pending)
            return
        except StoreError as exc:
            self.stopped = exc
        except Exception:  # noqa: BLE001 - one article that cannot be stored must not sink its batch
            for at, one in enumerate(pending):
                try:
                    self.store([one])
                except StoreError as exc:
                    self.stopped, pending = exc, pending[at:]
                    break
                except Exception as exc:  # noqa: BLE001
                    self.report(Outcome(one[1], "error", f"cannot index “{one[0].title}”: {_reason(exc)}", one[0].id))
            else:
                return
        for article, name in pending:
            self.report(Outcome(name, "error", f"not indexed: {self.stopped}", article.id))


def add_files(
    corpus: Store,
    files: list[tuple[Path, str]],
    limit: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    progress_bar: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    prepared_by: Prepare = prepare,
) -> list[Outcome]:
    """Read files and index their articles; a bad file or record is reported and the others go on.

    Articles are embedded and committed in batches of at most ``BATCH``
    articles or ``BATCH_CHARS`` characters, and a long file starts a batch of
    its own, so what came before it is stored before its long embedding starts
    (an interrupt then loses only the batch in progress).

    Args:
        corpus: The index to add to (nothing in it is removed or changed).
        files: (path, name to show) pairs.
        limit: Largest file or article in bytes (default ``index.articles.max_bytes()``).
        progress: Called with (fraction done, what is happening).
        progress_bar: Show a terminal progress bar while embedding many sentences.
        on_outcome: Called with each outcome as soon as it is known.
        prepared_by: What embeds and signs the articles (default: this process; ``index.cluster``: a cluster).

    When the index cannot be written (read-only, disk full, damaged) the
    articles not yet stored and the files not yet read are reported with the
    reason, and what earlier batches added stays indexed.
    """
    batches = _Batches(corpus, progress, progress_bar, on_outcome, prepared_by)
    for n, (path, name) in enumerate(files):
        name = printable(name)
        if batches.stopped:
            batches.report(Outcome(name, "error", "not read: the index cannot be written"))
            continue
        batches.done = n / max(1, len(files))
        if progress:
            progress(batches.done, f"Reading {name}")
        loaded = batches.attempt(name, lambda: load_file(path, limit))  # noqa: B023 - called at once
        if loaded is None:
            continue
        for problem in loaded.problems:
            batches.report(Outcome(name, "error", problem))
        batches.put([(_named(a, path, name), name) for a in loaded.articles])
    batches.done = 1.0
    batches.flush()
    if progress:
        progress(1.0, "Done")
    return batches.outcomes


def add_sources(
    corpus: Store,
    sources: list[str],
    limit: int | None = None,
    progress_bar: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    prepared_by: Prepare = prepare,
    private: bool = True,
) -> list[Outcome]:
    """Index web pages and the new items of RSS/Atom feeds (addresses or saved feed files).

    A feed is remembered with the items read from it, so giving it again (or
    ``qa index sync``) reads only items not read before; an item that failed is
    tried again next time. Every failure is one outcome naming the address.

    Args:
        corpus: The index to add to.
        sources: http(s) addresses of pages or feeds, and paths of saved feed files.
        limit: Largest page or feed in bytes (default ``index.articles.max_bytes()``).
        progress_bar: Show a terminal progress bar while embedding many sentences.
        on_outcome: Called with each outcome as soon as it is known.
        prepared_by: What embeds and signs the articles (default: this process; ``index.cluster``: a cluster).
        private: Whether addresses that are not public may be read (``index.web.fetch``); a server says no.
    """
    batches = _Batches(corpus, None, progress_bar, on_outcome, prepared_by)
    for source in sources:
        name = printable(source)
        if batches.stopped:
            batches.report(Outcome(name, "error", "not read: the index cannot be written"))
            continue
        read = batches.attempt(name, lambda: _read_source(source, limit, private))  # noqa: B023 - called at once
        if read is None:
            continue
        if isinstance(read, Article):
            batches.put([(read, name)])
            continue
        items = read
        seen = corpus.feed_links(source)
        new = [item for item in dict.fromkeys(items) if item.link not in seen]
        batches.report(Outcome(name, FEED, f"{len(items)} items, {len(new)} not read before"))
        for item in new:
            article = batches.attempt(printable(item.link), lambda: page_article(fetch(item.link, limit, private=private), item))  # noqa: B023
            if article is not None:
                batches.put([(article, printable(item.link))])
        batches.flush()
        stored = {o.name for o in batches.outcomes if o.status in (ADDED, UNCHANGED)}
        if not batches.stopped:
            corpus.record_feed(source, [item.link for item in new if printable(item.link) in stored])
    batches.flush()
    return batches.outcomes


def add_read_articles(store: Store, articles: list[tuple[Article, str]],
                      on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Index articles already read (a pasted text, an API request's body), with one outcome each (also given to
    ``on_outcome``).

    Raises:
        StoreError: The index cannot be written; nothing was added.
    """
    batches = _Batches(store, None, False, on_outcome)
    batches.store(articles)
    return batches.outcomes


def _read_source(source: str, limit: int | None, private: bool) -> Article | list[FeedItem]:
    """A web page's article, or the items of a feed (an address or, where ``private`` allows, a saved file)."""
    if not is_address(source) and not private:
        raise IngestError("only http(s) addresses are read here")
    if not is_address(source):
        items = parse_feed(read_bytes(Path(source), limit))
        if items is None:
            raise IngestError("not an RSS or Atom feed")
        return items
    fetched = fetch(source, limit, private=private)
    items = parse_feed(fetched.content)
    return page_article(fetched) if items is None else items


def _chars(batch: list[tuple[Article, str]]) -> int:
    return sum(len(article.text) for article, _ in batch)


def _reason(exc: BaseException) -> str:
    """An unexpected error as a short line."""
    line = error_line(exc, 200)
    return printable(line if line == type(exc).__name__ else f"{type(exc).__name__}: {line}")
