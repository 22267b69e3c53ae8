"""Articles and the files they come from: .txt, .md, .html, .json, .jsonl, .pdf and .docx."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path

from index.text import strip_dateline

SUFFIXES = (".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".pdf", ".docx")
# One size limit for every way text comes in (files, uploads, pasted text, the API), in MB.
DEFAULT_MAX_MB = 5.0
MAX_MB_VARIABLE = "QA_MAX_MB"
# Byte-order marks and their codecs, longest first (UTF-32 LE starts like UTF-16 LE).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SURROGATE = re.compile("[\ud800-\udfff]")
# Control characters that have no place in stored text (tab and line breaks stay) or on a terminal line.
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
# Terminal escape sequences (colours, cursor moves, window titles), dropped whole.
_ESCAPE_SEQUENCE = re.compile("\\x1b(?:\\[[0-?]*[ -/]*[@-~]|\\][^\\x07\\x1b]*(?:\\x07|\\x1b\\\\)?|[@-Z\\\\-_])")
_DATE_LINE = re.compile(r"\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")
_HEADING = re.compile(r"#{1,6}\s+(.+)")
TITLE_CHARS = 90
# A .docx is a zip: what it may unpack to, per byte of the size limit (at least 1 MB), against zip bombs.
DOCX_UNPACKED_RATIO = 20


class IngestError(ValueError):
    """A file or record that cannot become an article; the message names why."""


class TooLargeError(IngestError):
    """A file or text over the size limit."""


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
        return web_address(self.source)


def web_address(source: str) -> str | None:
    """``source`` when it is a web address, else ``None``."""
    return source if source.startswith(("http://", "https://")) else None


def max_bytes() -> int:
    """The size limit of one file or article: ``$QA_MAX_MB`` megabytes, or 5."""
    value = os.environ.get(MAX_MB_VARIABLE, "")
    try:
        megabytes = float(value) if value.strip() else DEFAULT_MAX_MB
    except ValueError:
        megabytes = DEFAULT_MAX_MB
    return int(max(megabytes, 0.001) * 2**20)


def megabytes(size: int) -> str:
    """A byte count in MB, for messages."""
    return f"{size / 2**20:.1f} MB" if size >= 2**20 // 10 else f"{size / 2**20:.2f} MB"


def valid_text(text: str) -> str:
    """``text`` with lone surrogates (undecodable file-name bytes, broken input) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def printable(text: str) -> str:
    """``text`` safe to print on one terminal line: no control characters or escape codes."""
    return _LINE_CONTROLS.sub("\ufffd", _ESCAPE_SEQUENCE.sub("", valid_text(str(text))))


def article_id(text: str) -> str:
    """Content hash of an article's text, white space normalised."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def make_article(title: str, text: str, source: str, date: str | None = None, limit: int | None = None) -> Article:
    """Build an article from its parts, cleaned and checked.

    Args:
        title: Headline; the start of the text when empty.
        text: The article text (control characters other than line breaks and tabs are dropped).
        source: Where it came from.
        date: ``YYYY-MM-DD`` (a longer ISO timestamp is cut to its day), or ``None``.
        limit: Largest text in bytes (default :func:`max_bytes`).

    Raises:
        IngestError: No text, text over the size limit, or a date that is not a real day.
    """
    limit = max_bytes() if limit is None else limit
    text = _TEXT_CONTROLS.sub("", _ESCAPE_SEQUENCE.sub("", valid_text(text))).strip()
    if not text:
        raise IngestError("no text")
    size = len(text.encode())
    if size > limit:
        raise TooLargeError(f"the text is {megabytes(size)}, over the {megabytes(limit)} limit (${MAX_MB_VARIABLE})")
    title = " ".join(_LINE_CONTROLS.sub(" ", _ESCAPE_SEQUENCE.sub("", valid_text(title or ""))).split()) or _short_title(text)
    return Article(article_id(text), title, text, _day(date), valid_text(source))


def _day(date: str | None) -> str | None:
    """A date as ``YYYY-MM-DD``, checked to be a real day."""
    if date is None or date == "":
        return None
    day = str(date)[:10]
    try:
        if len(day) != 10:
            raise ValueError
        Date.fromisoformat(day)
    except ValueError:
        raise IngestError(f"date {printable(str(date))[:40]!r} is not a real YYYY-MM-DD day") from None
    return day


def _short_title(text: str) -> str:
    line = strip_dateline(text.strip().splitlines()[0])
    if len(line) <= TITLE_CHARS:
        return line
    return line[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"


def parse_text(raw: str, source: str, limit: int | None = None, title: str = "") -> Article:
    """Parse plain text or Markdown.

    A leading ``date YYYY-MM-DD`` sets the date. A Markdown heading, or a short
    first line followed by a blank line, is the title; otherwise the title is the
    start of the first line, which stays part of the text. A given ``title`` (a
    document's own) takes the place of the derived one; ``limit`` is as for
    :func:`make_article`.
    """
    date = None
    match = _DATE_LINE.match(raw)
    if match:
        date, raw = match.group(1), raw[match.end() :]
    raw = raw.strip()
    lines = raw.split("\n", 2)
    derived = ""
    heading = _HEADING.fullmatch(lines[0].strip()) if lines else None
    if heading:
        derived, raw = heading.group(1), raw[len(lines[0]) :]
    elif len(lines) > 1 and not lines[1].strip() and len(lines[0]) <= TITLE_CHARS and not lines[0].rstrip().endswith((".", "!", "?", '"')):
        derived, raw = lines[0], raw[len(lines[0]) :]
    return make_article(title.strip() or derived, raw, source, date, limit)


def parse_html(raw: str, source: str) -> Article:
    """Extract the main text, title and date of a news page with trafilatura."""
    import trafilatura

    doc = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False, favor_precision=True)
    if doc is None or not (doc.text or "").strip():
        raise IngestError("no article text found in the HTML")
    text = re.sub(r"\n(?=\S)", "\n\n", doc.text.strip())  # one paragraph per line -> blank-line paragraphs
    return make_article(doc.title or "", text, doc.url or source, doc.date)


def pdf_text(data: bytes) -> tuple[str, str]:
    """The text of a PDF, its pages apart by blank lines, and its metadata title (or ``""``).

    Raises:
        IngestError: The PDF needs a password, has no text layer or cannot be read.
    """
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # repairs of damaged files; the outcome says what matters
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except (FileNotDecryptedError, DependencyError):  # a user password, or AES without the cryptography package
        raise IngestError("an encrypted PDF: save it without a password") from None
    except Exception:  # noqa: BLE001 - pypdf raises many kinds of error for a damaged file
        raise IngestError("not a readable PDF file") from None
    text = "\n\n".join(page for page in pages if page)
    if not text.strip():
        raise IngestError("no text layer (a scanned PDF?): nothing to index")
    return text, title or ""


def docx_text(data: bytes, limit: int | None = None) -> tuple[str, str]:
    """The paragraphs of a Word file, apart by blank lines, and its metadata title (or ``""``).

    Raises:
        IngestError: The file is not a readable .docx.
        TooLargeError: It unpacks to more than ``DOCX_UNPACKED_RATIO`` times the size limit.
    """
    import docx

    allowed = DOCX_UNPACKED_RATIO * max(max_bytes() if limit is None else limit, 2**20)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise IngestError("not a readable Word file") from None
    if unpacked > allowed:
        raise TooLargeError(f"a Word file that unpacks to {megabytes(unpacked)}, over {megabytes(allowed)} "
                            f"(${MAX_MB_VARIABLE})")
    try:
        document = docx.Document(io.BytesIO(data))
        paragraphs = [paragraph.text.strip() for paragraph in document.paragraphs]
        title = document.core_properties.title or ""
    except Exception:  # noqa: BLE001 - python-docx raises many kinds of error for a damaged file
        raise IngestError("not a readable Word file") from None
    return "\n\n".join(p for p in paragraphs if p), title


def parse_record(record: object, origin: str, limit: int | None = None) -> Article:
    """One JSON record with ``text`` and optional ``title``, ``date``, ``url`` and ``source`` strings.

    Raises:
        IngestError: The record is not an object, lacks a text string or has a field of the wrong type.
    """
    if not isinstance(record, dict):
        raise IngestError(f"a {type(record).__name__}, not an object with a 'text' string")
    if not isinstance(record.get("text"), str):
        raise IngestError("no 'text' string")
    for key in ("title", "date", "url", "source"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise IngestError(f"'{key}' is a {type(record[key]).__name__}, not a string")
    where = record.get("url") or record.get("source") or origin
    return make_article(record.get("title") or "", record["text"], where, record.get("date"), limit)


@dataclass(frozen=True)
class FileArticles:
    """What one file holds: its articles, and why any of its records could not be read."""

    articles: list[Article]
    problems: list[str] = field(default_factory=list)


def load_file(path: Path, limit: int | None = None) -> FileArticles:
    """Read the articles of one file; a bad record of a JSON or JSONL file is a problem, the rest are read.

    Args:
        path: A .txt, .md, .html, .htm, .json, .jsonl, .pdf or .docx file.
        limit: Largest file in bytes (default :func:`max_bytes`).

    Raises:
        IngestError: The file is missing, not a regular file, too large,
            unreadable, binary, not UTF-8/16/32 text, malformed, of an
            unsupported type, an encrypted or scanned PDF or holds no article.
    """
    suffix = path.suffix.lower()
    data = read_bytes(path, limit, SUFFIXES)
    source = valid_text(str(path))
    if suffix in (".pdf", ".docx"):
        text, title = pdf_text(data) if suffix == ".pdf" else docx_text(data, limit)
        return FileArticles([parse_text(text, source, limit, title)])
    raw = _decode(data)
    if suffix in (".txt", ".md"):
        return FileArticles([parse_text(raw, source)])
    if suffix in (".html", ".htm"):
        return FileArticles([parse_html(raw, source)])
    problems: list[str] = []
    if suffix == ".json":
        loaded = _json(raw)
        records = loaded if isinstance(loaded, list) else [loaded]
        numbered = [(f"record {n}", record) for n, record in enumerate(records, 1)]
    else:
        numbered = []
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    numbered.append((f"line {n}", _json(line, lines=False)))
                except IngestError as exc:
                    problems.append(f"line {n}: {exc}")
    if not numbered and not problems:
        raise IngestError("no records")
    articles = []
    for where, record in numbered:
        try:
            articles.append(parse_record(record, f"{source}#{where.split()[-1]}", limit))
        except IngestError as exc:
            problems.append(f"{where}: {exc}")
    if not articles:
        raise IngestError(problems[0] + (f" (and {len(problems) - 1} more bad records)" if len(problems) > 1 else ""))
    return FileArticles(articles, problems)


def read_bytes(path: Path, limit: int | None = None, suffixes: tuple[str, ...] | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (default :func:`max_bytes`).

    Raises:
        IngestError: Missing, a folder (without ``suffixes`` files), not a regular file, of
            another suffix than ``suffixes``, too large or unreadable.
    """
    limit = max_bytes() if limit is None else limit
    try:
        info = path.stat()
    except FileNotFoundError:
        raise IngestError("no such file or folder") from None
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise IngestError(f"a folder without {', '.join(suffixes)} files" if suffixes else "a folder")
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise IngestError("not a regular file")
    if suffixes and path.suffix.lower() not in suffixes:
        raise IngestError(f"unsupported file type {printable(path.suffix.lower()) or '(none)'}; "
                          f"use one of {', '.join(suffixes)}")
    if info.st_size > limit:
        raise TooLargeError(f"{megabytes(info.st_size)} is over the {megabytes(limit)} limit (${MAX_MB_VARIABLE})")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise TooLargeError(f"over the {megabytes(limit)} limit (${MAX_MB_VARIABLE})")
    return data


def read_file(path: Path, limit: int | None = None) -> list[Article]:
    """Read the articles of one file, all or none.

    Raises:
        IngestError: As :func:`load_file`, or the first bad record.
    """
    loaded = load_file(path, limit)
    if loaded.problems:
        raise IngestError(loaded.problems[0])
    return loaded.articles


def _decode(data: bytes) -> str:
    """File bytes as text: UTF-8, or UTF-16/32 with a byte-order mark."""
    codec = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        raise IngestError("binary file" if b"\x00" in data else f"not {codec.upper().replace('-SIG', '')} text") from None
    if "\x00" in text:
        raise IngestError("binary file")
    return text


def _json(raw: str, lines: bool = True) -> object:
    """Parse JSON, with a one-line reason for anything it raises (``lines``: say the line of an error)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}" if lines else f"column {exc.colno}"
        raise IngestError(f"malformed JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise IngestError("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise IngestError(f"malformed JSON: {str(exc).split(';')[0][:120]}") from None


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files named directly, plus the files with a supported suffix under named folders.

    Non-regular files among them (a FIFO, a broken link) are kept so that :func:`load_file` reports them.
    """
    files: list[Path] = []
    for path in paths:
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and not p.is_dir()) if path.is_dir() else []
        files += found or [path]  # a folder without articles is reported by load_file
    return files
