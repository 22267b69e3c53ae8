"""Adding article files to the index, with one outcome line per file or article."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from index.articles import Article, IngestError, load_file, printable, valid_text
from index.corpus import ADDED, UNCHANGED, Corpus, CorpusError

BATCH = 200  # articles embedded and committed together
BATCH_CHARS = 1_000_000  # or this much text (about a minute of embedding on 2 cores)


@dataclass(frozen=True)
class Outcome:
    """What became of one file or article.

    Attributes:
        name: The file as shown to the user.
        status: ``"added"``, ``"unchanged"`` (already indexed) or ``"error"``.
        detail: The article's title, or the reason for an error.
        article_id: The article's id, when one was read.
    """

    name: str
    status: str
    detail: str
    article_id: str | None = None

    def line(self) -> str:
        """The outcome as one line of text, safe to print (no control characters)."""
        if self.status == "error":
            return printable(f"error: {self.name}: {self.detail}")
        return printable(f"{'added' if self.status == ADDED else 'already indexed'}: {self.name}: “{self.detail}”")


def _named(article: Article, path: Path, name: str) -> Article:
    """Give an article the shown name as its source instead of a (temporary) path."""
    where = valid_text(str(path))
    if name != where and (article.source == where or article.source.startswith(where + "#")):
        return replace(article, source=name + article.source[len(where) :])
    return article


def add_files(
    corpus: Corpus,
    files: list[tuple[Path, str]],
    limit: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    progress_bar: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
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

    When the index cannot be written (read-only, disk full, damaged) the
    articles not yet stored and the files not yet read are reported with the
    reason, and what earlier batches added stays indexed.
    """
    outcomes: list[Outcome] = []
    pending: list[tuple[Article, str]] = []

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    def store(batch: list[tuple[Article, str]]) -> None:
        for (article, name), (_, status) in zip(batch, corpus.add([a for a, _ in batch], progress=progress_bar)):
            if status in (ADDED, UNCHANGED):
                report(Outcome(name, status, article.title, article.id))
            else:
                report(Outcome(name, "error", f"“{article.title}” has {status}", article.id))

    def flush(done: float) -> CorpusError | None:
        """Store the pending articles; the error that stopped all writing, if one did."""
        if not pending:
            return None
        if progress:
            progress(done, f"Indexing {len(pending)} articles")
        try:
            store(pending)
        except CorpusError as exc:
            for article, name in pending:
                report(Outcome(name, "error", f"not indexed: {exc}", article.id))
            return exc
        except Exception:  # noqa: BLE001 - one article that cannot be stored must not sink its batch
            for at, (article, name) in enumerate(pending):
                try:
                    store([(article, name)])
                except CorpusError as exc:
                    for rest, rest_name in pending[at:]:
                        report(Outcome(rest_name, "error", f"not indexed: {exc}", rest.id))
                    return exc
                except Exception as exc:  # noqa: BLE001
                    report(Outcome(name, "error", f"cannot index “{article.title}”: {_reason(exc)}", article.id))
        finally:
            pending.clear()
        return None

    for n, (path, name) in enumerate(files):
        name = printable(name)
        done = n / max(1, len(files))
        if progress:
            progress(done, f"Reading {name}")
        try:
            loaded = load_file(path, limit)
        except IngestError as exc:
            report(Outcome(name, "error", str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - whatever a file raises, the rest go on
            report(Outcome(name, "error", f"cannot read: {_reason(exc)}"))
            continue
        for problem in loaded.problems:
            report(Outcome(name, "error", problem))
        articles = [(_named(a, path, name), name) for a in loaded.articles]
        # A long file starts a batch of its own: what came before it is stored before its long embedding.
        if _chars(pending) + _chars(articles) > BATCH_CHARS and flush(done):
            unread = files[n:]
        else:
            pending += articles
            unread = files[n + 1 :] if len(pending) >= BATCH and flush(done) else []
        for _, rest in unread:
            report(Outcome(printable(rest), "error", "not read: the index cannot be written"))
        if unread:
            break
    flush(1.0)
    if progress:
        progress(1.0, "Done")
    return outcomes


def _chars(batch: list[tuple[Article, str]]) -> int:
    return sum(len(article.text) for article, _ in batch)


def _reason(exc: BaseException) -> str:
    """An unexpected error as a short line."""
    text = str(exc).strip().splitlines()
    return printable(f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__)
