"""Articles and the files they come from: .txt, .md, .html, .json and .jsonl."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".txt", ".md", ".html", ".htm", ".json", ".jsonl")
_DATE_LINE = re.compile(r"\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")
_HEADING = re.compile(r"#{1,6}\s+(.+)")
TITLE_CHARS = 90
# "LONDON. KAZINFORM ", "PARIS (Reuters) - ": a dateline and agency opening the first line.
_DATELINE_PREFIX = re.compile(r"^[A-Z][A-Z .'-]*[A-Z]\.?\s+(?:\([^)]*\)\s*[-–—]\s*|[A-Z]{2,}\s+)|^[A-Z][A-Z .'-]*[A-Z]\.\s+")


class IngestError(ValueError):
    """A file or record that cannot become an article; the message names why."""


@dataclass(frozen=True)
class Article:
    """One news article.

    Attributes:
        id: Content hash of the text (the same text always gets the same id).
        title: Headline, or the start of the first line when there is none.
        text: Full text; answers and sentences are offsets into it.
        date: Publication date as ``YYYY-MM-DD``, when known.
        source: File path or URL the article came from.
    """

    id: str
    title: str
    text: str
    date: str | None
    source: str

    @property
    def url(self) -> str | None:
        """The source when it is a web address."""
        return self.source if self.source.startswith(("http://", "https://")) else None


def article_id(text: str) -> str:
    """Content hash of an article's text, white space normalised."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def make_article(title: str, text: str, source: str, date: str | None = None) -> Article:
    """Build an article, rejecting one without text."""
    text = text.strip()
    if not text:
        raise IngestError("no text")
    if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(date)[:10]):
        raise IngestError(f"date {date!r} is not YYYY-MM-DD")
    title = " ".join((title or "").split()) or _short_title(text)
    return Article(article_id(text), title, text, str(date)[:10] if date else None, source)


def _short_title(text: str) -> str:
    line = _DATELINE_PREFIX.sub("", text.strip().splitlines()[0], count=1)
    if len(line) <= TITLE_CHARS:
        return line
    return line[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"


def parse_text(raw: str, source: str) -> Article:
    """Parse plain text or Markdown.

    A leading ``date YYYY-MM-DD`` sets the date. A Markdown heading, or a short
    first line followed by a blank line, is the title; otherwise the title is the
    start of the first line, which stays part of the text.
    """
    date = None
    match = _DATE_LINE.match(raw)
    if match:
        date, raw = match.group(1), raw[match.end() :]
    raw = raw.strip()
    lines = raw.split("\n", 2)
    title = ""
    heading = _HEADING.fullmatch(lines[0].strip()) if lines else None
    if heading:
        title, raw = heading.group(1), raw[len(lines[0]) :]
    elif len(lines) > 1 and not lines[1].strip() and len(lines[0]) <= TITLE_CHARS and not lines[0].rstrip().endswith((".", "!", "?", '"')):
        title, raw = lines[0], raw[len(lines[0]) :]
    return make_article(title, raw, source, date)


def parse_html(raw: str, source: str) -> Article:
    """Extract the main text, title and date of a news page with trafilatura."""
    import trafilatura

    doc = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False, favor_precision=True)
    if doc is None or not (doc.text or "").strip():
        raise IngestError("no article text found in the HTML")
    text = re.sub(r"\n(?=\S)", "\n\n", doc.text.strip())  # one paragraph per line -> blank-line paragraphs
    return make_article(doc.title or "", text, doc.url or source, doc.date)


def parse_records(records: list, source: str) -> list[Article]:
    """Parse JSON records with ``title``, ``text`` and optional ``date``, ``url``, ``source``."""
    articles = []
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise IngestError(f"record {n} has no 'text' string")
        origin = record.get("url") or record.get("source") or f"{source}#{n}"
        try:
            articles.append(make_article(str(record.get("title") or ""), record["text"], str(origin), record.get("date")))
        except IngestError as exc:
            raise IngestError(f"record {n}: {exc}") from None
    return articles


def read_file(path: Path) -> list[Article]:
    """Read the articles of one file.

    Raises:
        IngestError: The file is missing, unreadable, binary, not UTF-8,
            malformed, of an unsupported type or holds no text.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(SUFFIXES)}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError("no such file") from None
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror}") from None
    if b"\x00" in data:
        raise IngestError("binary file")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError("not UTF-8 text") from None
    source = str(path)
    if suffix in (".txt", ".md"):
        return [parse_text(raw, source)]
    if suffix in (".html", ".htm"):
        return [parse_html(raw, source)]
    try:
        if suffix == ".json":
            loaded = json.loads(raw)
            records = loaded if isinstance(loaded, list) else [loaded]
        else:
            records = [json.loads(line) for line in raw.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise IngestError(f"malformed JSON: {exc.msg} at line {exc.lineno}") from None
    if not records:
        raise IngestError("no records")
    return parse_records(records, source)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files named directly, plus the supported files found under named folders."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            files.append(path)
    return files
