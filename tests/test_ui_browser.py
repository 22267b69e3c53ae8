"""The web chat end to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Set QA_DOCS_SCREENSHOT=docs/chat.png and QA_DOCS_TIMELINE_SCREENSHOT=docs/changed-figure.png to also save the
chat screenshots used by the README.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.store.faiss_sqlite import FaissSqliteStore
from qa.pipeline import Pipeline, default_reader
from tests.conftest import QUAKE, ROOT, running_app
from tests.dated_pairs import PAIRS

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FIRST_ANSWER_MS = 90_000  # the first question loads the models; CI machines are small
ANSWER_MS = 60_000
BOT = "#chat [data-testid='bot']"
XSS = """date 2024-03-01
# Council vote <img src=x onerror="window.__pwned=2"> in Springfield

The council approved 7 new parks <script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=3"> after a long vote.

The mayor said the parks would open in June.
"""


@pytest.fixture(scope="module")
def served_index(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    index = tmp_path_factory.mktemp("browser") / "index"
    shutil.copytree(seeded_dir, index)
    return index


@pytest.fixture(scope="module")
def server(served_index: Path):
    with (Pipeline(FaissSqliteStore(served_index), default_reader()) as pipeline,
          running_app(pipeline, log_questions=True) as url):
        yield url


@pytest.fixture(scope="module")
def browser_page(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        page.outside = []  # requests that left the machine
        page.on("request", lambda r: None if r.url.startswith((server.rstrip("/"), "data:", "blob:")) else page.outside.append(r.url))
        page.goto(server, wait_until="domcontentloaded", timeout=60_000)
        page.locator("#question textarea").wait_for(timeout=60_000)
        yield page
        browser.close()


def ask(page, question: str, timeout: int = ANSWER_MS):
    """Type a question, press Enter, and return the bot's new reply."""
    before = page.locator(BOT).count()
    page.get_by_role("tab", name="Chat").click()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(f"document.querySelectorAll(\"{BOT}\").length > {before}", timeout=timeout)
    return page.locator(BOT).nth(before)


def upload(page, path: Path, expect: str) -> str:
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "text => document.querySelector('#report').innerText.includes(text)", arg=expect, timeout=ANSWER_MS
    )
    return page.locator("#report").inner_text()


def test_ask_how_many_raids(browser_page, tmp_path: Path) -> None:
    page = browser_page
    reply = ask(page, "How many raids?", timeout=FIRST_ANSWER_MS)
    assert reply.locator("strong").first.inner_text() == "128"
    text = reply.inner_text()
    assert "128 raids" in text and "17 Nov 2015" in text and "confidence" in text
    page.screenshot(path=str(tmp_path / "chat.png"))
    docs = os.environ.get("QA_DOCS_SCREENSHOT")
    if docs:
        page.screenshot(path=docs)


def test_upload_an_article_then_ask_about_it(browser_page, tmp_path: Path) -> None:
    page = browser_page
    path = tmp_path / "quake.md"
    path.write_text(QUAKE)
    report = upload(page, path, "added: quake.md")
    assert "1 added" in report
    assert "Earthquake strikes southern Turkey" in page.locator("#articles-table").inner_text()
    reply = ask(page, "How many countries sent rescue teams?")
    assert reply.locator("strong").first.inner_text() == "24"
    assert "Earthquake strikes southern Turkey" in reply.inner_text()
    page.screenshot(path=str(tmp_path / "after-upload.png"))


def test_article_markup_is_shown_as_text(browser_page, tmp_path: Path) -> None:
    page = browser_page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    path = tmp_path / "council.md"
    path.write_text(XSS)
    upload(page, path, "added: council.md")
    table = page.locator("#articles-table")
    assert 'Council vote <img src=x onerror="window.__pwned=2"> in Springfield' in table.inner_text()
    reply = ask(page, "How many new parks did the council approve?")
    assert reply.locator("strong").first.inner_text() == "7"
    text = reply.inner_text()
    assert "<script>window.__pwned=1</script>" in text and '<img src=x onerror="window.__pwned=3">' in text
    assert reply.locator("script, img").count() == 0 and table.locator("img").count() == 0
    page.wait_for_timeout(1500)  # give any injected handler time to run
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.screenshot(path=str(tmp_path / "markup.png"))


def test_follow_up_example_and_nothing_left_the_machine(browser_page) -> None:
    page = browser_page
    ask(page, "How many raids were there?")
    reply = ask(page, "And how many were arrested?")
    assert reply.locator("strong").first.inner_text() == "23"
    example = page.locator("#examples button").last  # examples are made from the articles and answered
    question = example.inner_text().strip()
    assert question.startswith("How many ")
    before = page.locator(BOT).count()
    example.click()
    page.wait_for_function(f"document.querySelectorAll(\"{BOT}\").length > {before}", timeout=ANSWER_MS)
    assert page.locator("#chat [data-testid='user']").last.inner_text().strip() == question
    assert page.locator(BOT).nth(before).locator("strong").count() >= 1
    assert page.outside == []  # no fonts, scripts or analytics fetched from outside the machine


def test_a_changed_figure_is_shown_with_both_dates(browser_page, tmp_path: Path) -> None:
    page = browser_page
    pair = PAIRS[2]  # rescuers in Morocco: 87 survivors on 9 Sep 2023, 412 on 11 Sep
    for n, (title, day, text) in enumerate((pair.older, pair.newer)):
        path = tmp_path / f"morocco-{n}.md"
        path.write_text(f"date {day}\n# {title}\n\n{text}\n")
        upload(page, path, f"added: {path.name}")
    reply = ask(page, pair.latest_question)
    assert reply.locator("strong").first.inner_text() == "412"
    text = reply.inner_text()
    assert "412 (11 Sep 2023, newest) · 87 (9 Sep 2023)" in text
    docs = os.environ.get("QA_DOCS_TIMELINE_SCREENSHOT")
    if docs:
        page.screenshot(path=docs)


def test_a_cleared_chat_forgets_its_questions(browser_page) -> None:
    page = browser_page
    ask(page, "How many raids were there?")
    assert "Read as" in ask(page, "And how many in Belgium?").inner_text()  # read with the earlier question
    page.locator("#chat").get_by_role("button", name="Clear").click()
    page.wait_for_function(f"document.querySelectorAll(\"{BOT}\").length == 0", timeout=ANSWER_MS)
    assert "Read as" not in ask(page, "And how many in Belgium?").inner_text()  # nothing earlier to read it with


def test_a_thumbs_down_with_a_comment_and_an_unanswered_question_reach_the_report(browser_page, served_index: Path) -> None:
    page = browser_page
    ask(page, "How many raids?")
    page.locator("#chat").get_by_label("Dislike").last.click()
    page.wait_for_function("document.querySelector('#feedback-note').innerText.includes('not helpful')", timeout=ANSWER_MS)
    page.locator("#feedback-comment textarea").fill("129, the minister said later")
    page.locator("#feedback-send").click()
    page.wait_for_function("document.querySelector('#feedback-note').innerText.includes('note was kept')", timeout=ANSWER_MS)
    shown = ask(page, "What is the capital of Peru?").inner_text()
    assert "could not find the answer" in shown or "don't say for sure" in shown
    deadline = time.monotonic() + 20  # the server writes the questions asked on a thread of its own
    while True:
        done = subprocess.run([sys.executable, "-m", "ui.cli", "report", "--json", "--index", str(served_index)],
                              cwd=ROOT, capture_output=True, text=True, check=True)
        report = json.loads(done.stdout)
        unanswered = [q for topic in report["unanswered_topics"] for q in topic["questions"]]
        if "What is the capital of Peru?" in unanswered or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "What is the capital of Peru?" in unanswered
    assert [(w["question"], w["answer"], w["comment"]) for w in report["judged_wrong"]][0] == (
        "How many raids?", "128", "129, the minister said later")
    page.get_by_role("tab", name="Report").click()
    page.locator("#report-show").click()
    page.wait_for_function("document.querySelector('#report-html').innerText.includes('129, the minister said later')",
                           timeout=ANSWER_MS)
    assert "What is the capital of Peru?" in page.locator("#report-html").inner_text()
