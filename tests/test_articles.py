import json
from pathlib import Path

import pytest

from index.articles import IngestError, article_id, expand_paths, read_file
from tests.conftest import SEED


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
    for name in ("a.txt", "sub/b.md", "sub/c.jsonl", "d.csv"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in expand_paths([tmp_path])] == ["a.txt", "b.md", "c.jsonl"]
