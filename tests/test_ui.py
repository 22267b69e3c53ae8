"""The web chat: its API through gradio_client against a running app, and its replies."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from html import unescape as unesc
from pathlib import Path

import pytest

from index.articles import make_article, max_bytes, read_file
from index.indexer import add_articles
from index.store.faiss_sqlite import FaissSqliteStore
from qa import answer
from qa.answer import SHOWN_ANSWERS, Answer, Evidence, Source
from qa.pipeline import Pipeline, default_reader
from tests.conftest import QUAKE, SEED, running_app
from ui.app import (  # noqa: E402  (ui.app sets GRADIO_ANALYTICS_ENABLED before importing gradio)
    NO_ANSWER,
    ChatApp,
    esc,
    render_answer,
    seed_index,
)

gradio_client = pytest.importorskip("gradio_client")
# Gradio's queue statistics use pandas APIs that pandas 3 deprecates; nothing to do with this app.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def app_dir(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ui") / "index"
    shutil.copytree(seeded_dir, target)
    return target


@pytest.fixture(scope="module")
def server(app_dir: Path):
    """The app on a free local port, for the whole module."""
    with Pipeline(FaissSqliteStore(app_dir), default_reader()) as pipeline, running_app(pipeline) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str):
    return gradio_client.Client(server, verbose=False)


def test_api_lists_the_named_endpoints(client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/answer", "/add_article"} <= set(endpoints)


@pytest.mark.slow
def test_answer_endpoint_returns_the_cli_json(client, app_dir: Path) -> None:
    result = client.predict("How many raids?", api_name="/answer")
    assert result["answer"] == "128"
    assert 0 <= result["score"] <= 1 and "128" in result["sentence"]
    assert result["article"]["title"].startswith("France") and result["article"]["date"] == "2015-11-17"
    expected = json.loads(json.dumps(answer("How many raids?", top_k=SHOWN_ANSWERS, index_dir=app_dir).to_dict()))
    assert result.pop("id") != expected.pop("id")  # each answer has an id of its own, for feedback
    assert result == expected  # the same object `qa ask --json` prints


def test_blank_question_is_a_readable_error(client) -> None:
    with pytest.raises(Exception) as info:
        client.predict("   ", api_name="/answer")
    message = str(info.value)
    assert "question is empty" in message and "Traceback" not in message


@pytest.mark.slow
def test_add_article_then_ask_about_it(client, tmp_path: Path) -> None:
    path = tmp_path / "quake.md"
    path.write_text(QUAKE)
    report = client.predict(gradio_client.handle_file(str(path)), api_name="/add_article")
    assert "added: quake.md: “Earthquake strikes southern Turkey”" in report
    result = client.predict("How many countries sent rescue teams?", api_name="/answer")
    assert result["answer"] == "24" and result["article"]["title"] == "Earthquake strikes southern Turkey"
    assert result["article"]["source"] == "quake.md"  # the file's name, not the server's temporary path
    again = client.predict(gradio_client.handle_file(str(path)), api_name="/add_article")
    assert "already indexed" in again
    assert client.predict("How many raids?", api_name="/answer")["answer"] == "128"  # nothing lost


def test_bad_files_are_reported_and_change_nothing(client, app_dir: Path, tmp_path: Path) -> None:
    before = FaissSqliteStore(app_dir).stats()["articles"]
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "error: broken.json: malformed JSON" in client.predict(gradio_client.handle_file(str(broken)), api_name="/add_article")
    wrong = tmp_path / "notes.xlsx"
    wrong.write_text("PK")
    with pytest.raises(Exception, match="Invalid file type"):
        client.predict(gradio_client.handle_file(str(wrong)), api_name="/add_article")
    big = tmp_path / "big.txt"
    big.write_text("word. " * (max_bytes() // 6 + 10))
    with pytest.raises(Exception, match="maximum file size"):
        client.predict(gradio_client.handle_file(str(big)), api_name="/add_article")
    assert FaissSqliteStore(app_dir).stats()["articles"] == before


@pytest.mark.slow
def test_sixteen_users_at_once(server: str) -> None:
    clients = [gradio_client.Client(server, verbose=False) for _ in range(16)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda c: c.predict("How many raids?", api_name="/answer")["answer"], clients))
    assert answers == ["128"] * 16


# -- replies, without a server ---------------------------------------------------


def _source(title: str = "T", url: str | None = None) -> Source:
    return Source("abc", title, "2024-01-02", url or "file.txt", url)


def test_reply_escapes_article_text() -> None:
    sentence = 'Evil <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2"> said 7 **things** [x](javascript:alert(1)).'
    result = Answer(
        question="How many things?", text="7", score=0.9, sentence=sentence, window=sentence,
        article=_source('<b onmouseover="x">Title</b>', "https://example.com/a?b=1&c=\"2\""),
        context_start=sentence.index("7"), context_end=sentence.index("7") + 1, sentence_offset=sentence.index("7"),
    )
    reply = render_answer(result, asked="How many things?")
    for raw in ("<script", "<img", "<b ", "**", "[x]", "(javascript", 'c="2"'):
        assert raw not in reply
    assert "<strong>7</strong>" in reply
    assert '<a href="https://example.com/a?b=1&amp;c=&quot;2&quot;"' in reply
    assert "confidence 90%" in reply and ">2 Jan 2024<" in reply
    assert unesc(esc(sentence)) == sentence


def test_reply_bolds_the_answer_in_its_sentence_with_alternatives() -> None:
    sentence = "He said 128 raids were made, not 12."
    window = "Before. " + sentence + " After."
    alt = Answer("q", "12", 0.2, sentence=sentence, window=window, article=_source("Other"))
    result = Answer(
        "q", "128", 0.8, sentence=sentence, window=window, article=_source(),
        context_start=window.index("128"), context_end=window.index("128") + 3, sentence_offset=sentence.index("128"),
        alternatives=(alt,),
    )
    reply = render_answer(result, asked="q")
    assert "He said <strong>128</strong> raids were made, not 12&#46;" in reply
    assert "<details><summary>Other possible answers (1)</summary>" in reply and "<strong>12</strong> (20%)" in reply
    assert "Read as" not in reply
    assert "<em>Read as: q</em>" in render_answer(result, asked="And q?")


def test_abstention_shows_the_closest_sentences() -> None:
    evidence = Evidence("The sky was <i>grey</i>.", "w", _source("Weather"), 0, 10)
    result = Answer("How many cats?", "", 0.1, closest=(evidence,), message="The articles don't say.")
    reply = render_answer(result, asked="How many cats?")
    assert reply.startswith(NO_ANSWER) and "The closest sentences" in reply
    assert "&#60;i&#62;grey&#60;/i&#62;" in reply and "<i>" not in reply
    empty = render_answer(Answer("q", "", 0.0, message="no articles indexed yet"), asked="q")
    assert NO_ANSWER in empty and "Articles tab" in empty


def test_unsure_answer_is_shown_as_possible_with_its_sentence() -> None:
    sentence = "Intel received an <b>$8.5 billion</b> grant."
    unsure = Answer("q", "Intel", 0.31, sentence=sentence, window=sentence, article=_source("Chips"),
                    context_start=0, context_end=5)
    result = Answer("Which tech company received a grant?", "", 0.31, candidate=unsure,
                    message="The articles don't say for sure.")
    reply = render_answer(result, asked="Which tech company received a grant?")
    assert reply.startswith("Possibly: <strong>Intel</strong> (31%)") and "don't say for sure" in reply
    assert "<strong>Intel</strong> received an &#60;b&#62;" in reply and "Chips" in reply
    assert NO_ANSWER not in reply and "<b>" not in reply


@pytest.mark.slow
def test_chat_strictness(app_dir: Path) -> None:
    chat = ChatApp(Pipeline(FaissSqliteStore(app_dir), default_reader()))
    assert "<strong>128</strong>" in chat.ask("How many raids?", [], min_confidence=0.0)
    assert chat.ask("How many raids?", [], min_confidence=1.0).startswith("Possibly: <strong>128</strong>")
    strict = ChatApp(Pipeline(FaissSqliteStore(app_dir), default_reader()), min_confidence=1.0)
    assert strict.ask("How many raids?", []).startswith("Possibly:")
    assert strict.answer_api("How many raids?")["candidate"]["answer"] == "128"


@pytest.mark.slow
def test_chat_follows_up_and_says_how_it_read_the_question(app_dir: Path) -> None:
    chat = ChatApp(Pipeline(FaissSqliteStore(app_dir), default_reader()))
    first = chat.ask("How many raids were there?", [])
    assert "<strong>128</strong>" in first
    followup = chat.ask("And how many were arrested?", ["How many raids were there?"])
    assert "<strong>23</strong>" in followup
    assert chat.ask("  ", []) == "Please type a question."
    _, history, asked = chat.add_user_message("How many raids?", [], [])
    history, answers = chat.add_bot_message(history, asked, {})
    assert history[0] == {"role": "user", "content": esc("How many raids?")}
    assert "<strong>128</strong>" in history[1]["content"]
    # The chat keeps each question as typed beside the escaped one it shows, and answers that one.
    _, history, asked = chat.add_user_message("And how many were <b>arrested</b>?", history, asked)
    assert asked == ["How many raids?", "And how many were <b>arrested</b>?"] and "<b>" not in history[-1]["content"]
    history, answers = chat.add_bot_message(history, asked, answers)
    assert "<strong>23</strong>" in history[-1]["content"]
    assert [answers[i].text for i in sorted(answers)] == ["128", "23"] and sorted(answers) == [1, 3]  # what thumbs judge
    assert chat.add_user_message("  ", history, asked) == ("  ", history, asked)


@pytest.mark.slow
def test_articles_panel_paste_and_remove(tmp_path: Path) -> None:
    corpus = FaissSqliteStore(tmp_path / "index")
    chat = ChatApp(Pipeline(corpus, default_reader()))
    title, text, date, report, table, dropdown, stats = chat.paste("Storm <b>", "The storm destroyed 300 homes.", "2024-05-06")
    assert (title, text, date) == ("", "", "") and "added&#58; pasted&#58; “Storm &#60;b&#62;”" in report
    assert table["data"] == [["Storm <b>", "2024-05-06", 1, "pasted", corpus.list_articles()[0].id, ""]]
    assert "1 articles, 1 sentences" in unesc(stats)
    assert chat.example_questions().raw_samples == [["How many homes?"]]  # made after the write, not inside it
    assert "Not added: date" in unesc(chat.paste("T", "Some text.", "May 6th")[3])
    assert "Not added: no text" in unesc(chat.paste("T", "   ", "")[3])
    article_id = corpus.list_articles()[0].id
    report = chat.remove(article_id)[0]
    assert unesc(report) == "Removed “Storm <b>” (1 sentences)."
    assert corpus.stats()["articles"] == 0
    assert chat.remove(None)[0] == "Choose an article to remove."


@pytest.mark.slow
def test_example_questions_come_from_the_articles(tmp_path: Path) -> None:
    corpus = FaissSqliteStore(tmp_path / "index")
    text = "Rescue teams from 24 countries arrived.\n\nThe storm destroyed 300 homes in two days."
    add_articles(corpus, [make_article("Storm", text, "storm.txt")])
    questions = ChatApp(Pipeline(corpus, default_reader())).examples.get()
    assert questions and set(questions) <= {"How many countries?", "How many homes?"}


@pytest.mark.slow
def test_seed_index_builds_an_empty_index(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    (folder / "broken.json").write_text("{")
    corpus = FaissSqliteStore(tmp_path / "index")
    assert seed_index(corpus, folder) == 1
    out = capsys.readouterr().out
    assert "indexing 2 files" in out and "broken.json: malformed JSON" in out and "1 articles" in out
    assert [a.id for a in corpus.list_articles()] == [read_file(SEED)[0].id]


def test_serving_is_local_and_private() -> None:
    import inspect

    from ui.cli import build_parser
    from ui.server import serve

    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
