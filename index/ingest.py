"""Adding article files to the index, with one outcome line per file or article."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from index.articles import Article, IngestError, read_file
from index.corpus import ADDED, Corpus

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
        """The outcome as one line of text."""
        if self.status == "error":
            return f"error: {self.name}: {self.detail}"
        return f"{'added' if self.status == ADDED else 'already indexed'}: {self.name}: “{self.detail}”"


def _named(article: Article, path: Path, name: str) -> Article:
    """Give an article the shown name as its source instead of a (temporary) path."""
    where = str(path)
    if name != where and (article.source == where or article.source.startswith(where + "#")):
        return replace(article, source=name + article.source[len(where) :])
    return article


def add_files(
    corpus: Corpus,
    files: list[tuple[Path, str]],
    max_bytes: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    progress_bar: bool = False,
) -> list[Outcome]:
    """Read files and index their articles; a bad file is reported and the others go on.

    Args:
        corpus: The index to add to (nothing in it is removed or changed).
        files: (path, name to show) pairs.
        max_bytes: Refuse larger files.
        progress: Called with (fraction done, what is happening).
        progress_bar: Show a terminal progress bar while embedding many sentences.
    """
    outcomes: list[Outcome] = []
    pending: list[tuple[Article, str]] = []

    def flush(done: float) -> None:
        if progress:
            progress(done, f"Indexing {len(pending)} articles")
        for (article, name), (_, status) in zip(pending, corpus.add([a for a, _ in pending], progress=progress_bar)):
            if status in (ADDED, "unchanged"):
                outcomes.append(Outcome(name, status, article.title, article.id))
            else:
                outcomes.append(Outcome(name, "error", f"“{article.title}” has {status}", article.id))
        pending.clear()

    for n, (path, name) in enumerate(files):
        if progress:
            progress(n / max(1, len(files)), f"Reading {name}")
        try:
            if max_bytes is not None and path.is_file() and path.stat().st_size > max_bytes:
                raise IngestError(f"{path.stat().st_size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit")
            pending += [(_named(a, path, name), name) for a in read_file(path)]
        except IngestError as exc:
            outcomes.append(Outcome(name, "error", str(exc)))
        if len(pending) >= BATCH:
            flush(n / max(1, len(files)))
    if pending:
        flush(1.0)
    if progress:
        progress(1.0, "Done")
    return outcomes
