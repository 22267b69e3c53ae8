"""Adding article files to the index, with one outcome line per file or article."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from index.articles import Article, IngestError, load_file, printable, valid_text
from index.corpus import ADDED, UNCHANGED, Corpus, CorpusError

BATCH = 200  # articles embedded and committed together


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
) -> list[Outcome]:
    """Read files and index their articles; a bad file or record is reported and the others go on.

    Args:
        corpus: The index to add to (nothing in it is removed or changed).
        files: (path, name to show) pairs.
        limit: Largest file or article in bytes (default ``index.articles.max_bytes()``).
        progress: Called with (fraction done, what is happening).
        progress_bar: Show a terminal progress bar while embedding many sentences.

    When the index cannot be written (read-only, disk full, damaged) the
    articles not yet stored and the files not yet read are reported with the
    reason, and what earlier batches added stays indexed.
    """
    outcomes: list[Outcome] = []
    pending: list[tuple[Article, str]] = []

    def store(batch: list[tuple[Article, str]]) -> None:
        for (article, name), (_, status) in zip(batch, corpus.add([a for a, _ in batch], progress=progress_bar)):
            if status in (ADDED, UNCHANGED):
                outcomes.append(Outcome(name, status, article.title, article.id))
            else:
                outcomes.append(Outcome(name, "error", f"“{article.title}” has {status}", article.id))

    def flush(done: float) -> CorpusError | None:
        if progress:
            progress(done, f"Indexing {len(pending)} articles")
        try:
            store(pending)
        except CorpusError as exc:
            outcomes.extend(Outcome(name, "error", f"not indexed: {exc}", a.id) for a, name in pending)
            return exc
        except Exception:  # noqa: BLE001 - one article that cannot be stored must not sink its batch
            for at, one in enumerate(pending):
                try:
                    store([one])
                except CorpusError as exc:
                    outcomes.extend(Outcome(name, "error", f"not indexed: {exc}", a.id) for a, name in pending[at:])
                    return exc
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(Outcome(one[1], "error", f"cannot index “{one[0].title}”: {_reason(exc)}", one[0].id))
        finally:
            pending.clear()
        return None

    for n, (path, name) in enumerate(files):
        name = printable(name)
        if progress:
            progress(n / max(1, len(files)), f"Reading {name}")
        try:
            loaded = load_file(path, limit)
            pending += [(_named(a, path, name), name) for a in loaded.articles]
            outcomes += [Outcome(name, "error", problem) for problem in loaded.problems]
        except IngestError as exc:
            outcomes.append(Outcome(name, "error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - whatever a file raises, the rest go on
            outcomes.append(Outcome(name, "error", f"cannot read: {_reason(exc)}"))
        if len(pending) >= BATCH and flush(n / max(1, len(files))):
            outcomes += [Outcome(printable(rest), "error", "not read: the index cannot be written") for _, rest in files[n + 1 :]]
            break
    if pending:
        flush(1.0)
    if progress:
        progress(1.0, "Done")
    return outcomes


def _reason(exc: BaseException) -> str:
    """An unexpected error as a short line."""
    text = str(exc).strip().splitlines()
    return printable(f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__)
