import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from index.articles import (
    IngestError,
    TooLargeError,
    article_id,
    expand_paths,
    load_file,
    read_file,
)
from index.sentences import split_sentences
from tests.conftest import SEED

STORM = [["Storm hits coast", "Winds reached 150 km/h on Sunday. Power was", "cut to 3,000 homes."],
         ["Schools reopen on Tuesday (officials said)."]]


def pdf_bytes(pages: list[list[str]], title: str = "") -> bytes:
    """A minimal valid PDF: one page per list, each string a line of Helvetica text; ``title`` in its /Info."""
    def literal(text: str) -> str:
        return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"

    kids = " ".join(f"{5 + 2 * n} 0 R" for n in range(len(pages)))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title {literal(title)} >>" if title else "<< >>",
    ]
    for n, lines in enumerate(pages):
        stream = "BT /F1 12 Tf 14 TL 72 720 Td " + " T* ".join(f"{literal(line)} Tj" for line in lines) + " ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {6 + 2 * n} 0 R >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    table = "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    out += (f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n{table}"
            f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{len(out)}\n%%EOF\n").encode()
    return out


def rewritten_pdf(data: bytes | None = None, user_password: str | None = None) -> bytes:
    """``data`` (or a blank page) through pypdf's writer, encrypted when a password (even "") is given."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data))) if data else PdfWriter()
    if not data:
        writer.add_blank_page(612, 792)
    if user_password is not None:
        writer.encrypt(user_password, "owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str], title: str = "") -> bytes:
    """A Word file made by python-docx: the first paragraph a heading, ``title`` in its properties."""
    import docx

    document = docx.Document()
    document.add_heading(paragraphs[0], 1)
    for text in paragraphs[1:]:
        document.add_paragraph(text)
    document.core_properties.title = title
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_seed_article_date_title_and_text() -> None:
    [article] = read_file(SEED)
    assert article.date == "2015-11-17"
    assert article.title.startswith("France has mobilised 115,000 security personnel")
    assert article.text.startswith("LONDON. KAZINFORM France")
    assert "128 more raids" in article.text
    assert article.id == article_id(article.text)
    assert article.source == str(SEED)


def test_markdown_heading_is_the_title(quake_file: Path) -> None:
    [article] = read_file(quake_file)
    assert article.title == "Earthquake strikes southern Turkey"
    assert article.date == "2023-02-07"
    assert article.text.startswith("A magnitude 7.8 earthquake")


def test_short_first_line_of_text_is_the_title(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Storm hits coast\n\nWinds reached 150 km/h on Sunday.\n")
    [article] = read_file(path)
    assert (article.title, article.text, article.date) == ("Storm hits coast", "Winds reached 150 km/h on Sunday.", None)


def test_html_main_text_and_title(tmp_path: Path) -> None:
    body = " ".join(["The council approved 42 new homes on Tuesday after a long debate."] * 3)
    html = f"""<html><head><title>Council backs homes | Daily News</title>
    <meta property="og:title" content="Council backs 42 new homes"></head><body>
    <nav><a href="/">Home</a> <a href="/sport">Sport</a></nav>
    <article><h1>Council backs 42 new homes</h1><p>{body}</p>
    <p>Residents said the plan was overdue and welcomed the decision by councillors.</p></article>
    <footer>Copyright 2024 Daily News. All rights reserved.</footer></body></html>"""
    path = tmp_path / "page.html"
    path.write_text(html)
    [article] = read_file(path)
    assert article.title == "Council backs 42 new homes"
    assert "approved 42 new homes" in article.text
    assert "Copyright" not in article.text and "Sport" not in article.text


def test_json_and_jsonl_records(tmp_path: Path) -> None:
    records = [
        {"title": "One", "text": "First story text.", "date": "2024-01-02", "url": "https://example.com/one"},
        {"title": "Two", "text": "Second story text.", "source": "wire"},
    ]
    (tmp_path / "a.json").write_text(json.dumps(records))
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    for name in ("a.json", "b.jsonl"):
        one, two = read_file(tmp_path / name)
        assert (one.title, one.date, one.url) == ("One", "2024-01-02", "https://example.com/one")
        assert (two.source, two.url, two.date) == ("wire", None, None)


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("bin.txt", b"abc\x00\x01def", "binary file"),
        ("latin.txt", "café au lait".encode("latin-1"), "not UTF-8"),
        ("bad.json", b'{"title": "x", "text": ', "malformed JSON"),
        ("notext.jsonl", b'{"title": "x"}\n', "no 'text'"),
        ("empty.txt", b"   \n\n", "no text"),
        ("image.png", b"\x89PNG", "unsupported file type"),
        ("baddate.json", b'{"text": "Hello there.", "date": "yesterday"}', "not a real YYYY-MM-DD day"),
    ],
)
def test_bad_files_raise_a_one_line_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=reason) as info:
        read_file(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        read_file(tmp_path / "gone.txt")


def test_folders_expand_to_supported_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.txt", "sub/b.md", "sub/c.jsonl", "d.csv", "sub/e.PDF", "f.docx", "g.doc"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in expand_paths([tmp_path])] == ["a.txt", "f.docx", "b.md", "c.jsonl", "e.PDF"]


def test_pdf_pages_become_paragraphs_under_the_metadata_title(tmp_path: Path) -> None:
    path = tmp_path / "storm.pdf"
    path.write_bytes(pdf_bytes(STORM, title="Storm (coast) cuts power"))
    [article] = load_file(path).articles
    assert (article.title, article.date, article.source) == ("Storm (coast) cuts power", None, str(path))
    assert article.text == ("Storm hits coast\nWinds reached 150 km/h on Sunday. Power was\ncut to 3,000 homes.\n\n"
                            "Schools reopen on Tuesday (officials said).")
    sentences = [" ".join(article.text[s.start : s.end].split()) for s in split_sentences(article.text)]
    assert sentences == ["Storm hits coast Winds reached 150 km/h on Sunday.",  # no blank line after a PDF's heading
                         "Power was cut to 3,000 homes.", "Schools reopen on Tuesday (officials said)."]


def test_pdf_without_a_metadata_title_is_titled_as_text(tmp_path: Path) -> None:
    path = tmp_path / "storm.pdf"
    path.write_bytes(pdf_bytes([["Storm hits coast"], *STORM[1:]]))
    [article] = read_file(path)
    assert (article.title, article.text) == ("Storm hits coast", "Schools reopen on Tuesday (officials said).")


def test_pdf_encrypted_for_permissions_only_is_read(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    path.write_bytes(rewritten_pdf(pdf_bytes(STORM), user_password=""))
    [article] = read_file(path)
    assert "cut to 3,000 homes." in article.text


def test_docx_paragraphs_and_heading(tmp_path: Path) -> None:
    path = tmp_path / "storm.docx"
    path.write_bytes(docx_bytes(["Storm hits coast", "Winds reached 150 km/h on Sunday.", "",
                                 "Power was cut to 3,000 homes.\tSchools reopen on Tuesday."]))
    [article] = read_file(path)
    assert article.title == "Storm hits coast"
    assert article.text == ("Winds reached 150 km/h on Sunday.\n\n"
                            "Power was cut to 3,000 homes.\tSchools reopen on Tuesday.")
    assert len(split_sentences(article.text)) == 3


def test_docx_metadata_title_wins(tmp_path: Path) -> None:
    path = tmp_path / "storm.docx"
    path.write_bytes(docx_bytes(["Storm hits coast", "Winds reached 150 km/h on Sunday."], title="Coastal storm"))
    [article] = read_file(path)
    assert (article.title, article.text) == ("Coastal storm", "Winds reached 150 km/h on Sunday.")


def _zip(members: dict[str, bytes]) -> bytes:
    """A zip file of these members."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _docx_with_member(name: str, data: bytes) -> bytes:
    """A real .docx with the member ``name`` added or replaced (compressed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_bytes(["Title", "Text."]))) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            if member.filename != name:
                target.writestr(member, source.read(member))
        target.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("secret.pdf", lambda: rewritten_pdf(pdf_bytes(STORM), user_password="secret"),
         "^an encrypted PDF: save it without a password$"),
        ("scan.pdf", lambda: rewritten_pdf(), r"^no text layer \(a scanned PDF\?\): nothing to index$"),
        ("cut.pdf", lambda: pdf_bytes(STORM)[:300], "^not a readable PDF file$"),
        ("empty.pdf", lambda: b"", "^not a readable PDF file$"),
        ("text.pdf", lambda: b"just some text, not a PDF", "^not a readable PDF file$"),
        ("cut.docx", lambda: docx_bytes(["Title", "Text."])[:2000], "^not a readable Word file$"),
        ("text.docx", lambda: b"just some text, not a Word file", "^not a readable Word file$"),
        ("other.docx", lambda: _zip({"a.txt": b"a zip, not a Word file"}), "^not a readable Word file$"),
        ("broken.docx", lambda: _docx_with_member("word/document.xml", b"<w:document"), "^not a readable Word file$"),
        ("empty.docx", lambda: docx_bytes([" ", ""]), "^no text$"),
    ],
)
def test_bad_documents_raise_a_one_line_reason(tmp_path: Path, name: str, content: Callable[[], bytes],
                                                reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content())
    with pytest.raises(IngestError, match=reason):
        load_file(path)


def test_documents_keep_the_size_limit(tmp_path: Path) -> None:
    pdf = tmp_path / "big.pdf"
    pdf.write_bytes(pdf_bytes(STORM))
    with pytest.raises(TooLargeError, match="over the"):
        load_file(pdf, limit=200)
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(_docx_with_member("word/media/zeros.bin", bytes(21 * 2**20)))  # about 20 KB packed
    assert bomb.stat().st_size < 2**20
    with pytest.raises(TooLargeError, match="^a Word file that unpacks to 21.8 MB, over 20.0 MB"):
        load_file(bomb, limit=2**20)


def test_a_pdf_article_is_indexed_and_answered(tmp_path: Path) -> None:
    from index.ingest import add_files
    from tests.fakes import fake_pipeline_over

    path = tmp_path / "upload.pdf"
    path.write_bytes(pdf_bytes(STORM, title="Storm cuts power"))
    with fake_pipeline_over(tmp_path / "index") as pipeline:
        [outcome] = add_files(pipeline.corpus, [(path, "storm.pdf")])
        assert outcome.line() == "added: storm.pdf: “Storm cuts power”"
        stored = pipeline.corpus.article(outcome.article_id)
        assert (stored.title, stored.source) == ("Storm cuts power", "storm.pdf")
        result = pipeline.answer("How many homes lost power?")
    assert result.found and result.article.id == outcome.article_id
    assert result.text in stored.text
