"""The web chat: a Gradio app over a ``qa.pipeline.Pipeline`` and its index.

This module only presents: answering (follow-up questions included) is ``qa.pipeline``, and every way an
article is added goes through ``index.ingest``. Every piece of article or question text is HTML-escaped (and
its Markdown punctuation turned into character references) before it is put in
a reply, and the chat sanitises what it renders on top of that.

Named API endpoints (``gradio_client``):

* ``/answer``: a question in, the ``qa ask --json`` object out.
* ``/add_article``: an article file in, a short report out (not in a read-only app).

``ui.server`` serves it with the checks on who may call it.
"""

from __future__ import annotations

import html
import logging
import os
import re
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gradio as gr  # noqa: E402

from index.articles import SUFFIXES, IngestError, make_article, max_bytes, megabytes  # noqa: E402
from index.indexer import ADDED  # noqa: E402
from index.ingest import Outcome, add_files, add_read_articles, add_sources  # noqa: E402
from index.store.base import SearchFilter, Store  # noqa: E402
from index.text import error_line, parse_date  # noqa: E402
from index.web import is_address  # noqa: E402
from qa.answer import SHOWN_ANSWERS, Answer, QuestionError, Source  # noqa: E402
from qa.pipeline import ANSWER_CONCURRENCY, Pipeline  # noqa: E402
from qa.readers import ReaderLog  # noqa: E402
from ui.examples import ExampleQuestions  # noqa: E402
from ui.feedback import ChatFeedback, feedback_controls, report_tab  # noqa: E402
from ui.rate_limits import RateLimits  # noqa: E402

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
ARTICLES_DIR = ROOT / "data" / "articles"
MAX_UPLOAD_FILES = 50  # files in one upload
QUEUE_SIZE = 64  # requests waiting at most; more are refused at once ("queue full")
NO_ANSWER = "I could not find the answer in the articles."
READ_ONLY = "This app is read-only: articles cannot be added or removed here."
TITLE = "News QA"
TABLE_HEADERS = ["Title", "Date", "Sentences", "Source", "ID", "Copy of"]  # copy of: the first copy of a near-duplicate
CSS = """
.qa-reply blockquote { margin: 0.3em 0; }
.qa-meta { opacity: 0.8; font-size: 0.92em; }
.qa-nowrap { white-space: nowrap; }
"""

# Markdown and HTML punctuation, written as character references so article text stays text.
_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-.!|~$:=^@%"}
_SPACE = re.compile(r"\s+")


def esc(text: str) -> str:
    """Text safe to put in a Markdown/HTML reply: every special character is a character reference."""
    return _SPACE.sub(" ", str(text)).translate(_ESCAPES)


# -- rendering replies ---------------------------------------------------------


def _source_line(article: Source | None) -> str:
    """Title (a link when the article has a URL), date and source."""
    if article is None:
        return ""
    title = esc(article.title or "Untitled")
    if article.url:
        title = f'<a href="{html.escape(article.url, quote=True)}" target="_blank" rel="noopener noreferrer">{title}</a>'
    parts = [f"<em>{title}</em>"]
    if article.date:
        parts.append(f'<span class="qa-nowrap">{esc(written_day(article.date))}</span>')
    if not article.url and article.source:
        parts.append(f'<span title="{html.escape(article.source, quote=True)}">{esc(Path(article.source).name or article.source)}</span>')
    return " · ".join(parts)


def written_day(value: str | None) -> str:
    """An article's ``YYYY-MM-DD`` date as people write it ("17 Nov 2015"); another form as it is."""
    published = parse_date(value)
    return f"{published.day} {published:%b %Y}" if published else (value or "no date")


def search_filter(since: str, until: str, source: str) -> SearchFilter | None:
    """The chat's filter fields as a ``SearchFilter`` (``None`` when all are blank).

    Raises:
        ValueError: A date is not YYYY-MM-DD, or the range is empty; the message says so.
    """
    days = []
    for name, value in (("From", since), ("To", until)):
        value = (value or "").strip()
        days.append(parse_date(value) if value else None)
        if value and days[-1] is None:
            raise ValueError(f"{name} date {value!r} is not a day as YYYY-MM-DD.")
    if days[0] and days[1] and days[0] > days[1]:
        raise ValueError("The From date is after the To date.")
    where = SearchFilter(days[0], days[1], (source or "").strip() or None)
    return where or None


def timeline_line(result: Answer) -> str:
    """The figures of differently dated articles, newest first: "296 (17 Nov 2015, newest) · 168 (16 Nov 2015)"."""
    return " · ".join(
        f"<strong>{esc(t.text)}</strong> ({esc(written_day(t.article.date if t.article else None))}{', newest' if n == 0 else ''})"
        for n, t in enumerate(result.timeline)
    )


def highlight(result: Answer) -> str:
    """The answer's sentence, escaped, with the answer in bold."""
    at, end = result.sentence_offset, result.sentence_offset + len(result.text)
    if not result.text or at < 0 or result.sentence[at:end] != result.text:
        return f"<strong>{esc(result.text)}</strong> — {esc(result.sentence)}"
    before, span, after = result.sentence[:at], result.sentence[at:end], result.sentence[end:]
    return f"{esc(before)}<strong>{esc(span)}</strong>{esc(after)}"


def confidence(score: float) -> str:
    """A score as a percentage."""
    return f"{max(0.0, min(1.0, float(score))):.0%}"


def render_answer(result: Answer, asked: str | None = None) -> str:
    """A chat reply for an answer or an abstention (Markdown with escaped text).

    Args:
        result: What ``answer()`` returned.
        asked: The question as the user typed it; when it differs from the
            question answered (a resolved follow-up) the reply says how it was read.
    """
    parts: list[str] = []
    if asked is not None and " ".join(asked.split()) != result.question:
        parts.append(f"<em>Read as: {esc(result.question)}</em>")
    if result.found:
        parts.append(f"> {highlight(result)}")
        parts.append(f'<span class="qa-meta">{_source_line(result.article)} · <span class="qa-nowrap">confidence {confidence(result.score)}</span></span>')
        if len(result.sources) > 1:
            parts.append(f'<span class="qa-meta">Also in: {" · ".join(_source_line(s) for s in result.sources[1:])}</span>')
        if result.timeline:
            parts.append(f"The figure changed between articles: {timeline_line(result)}")
            parts.append("\n".join(f"- {written_day(t.article.date)}: {highlight(t)} — {_source_line(t.article)}"
                                   for t in result.timeline[1:]))
        if result.message:
            parts.append(f"<em>Note: {esc(result.message)}</em>")
        if result.alternatives:
            items = "\n".join(
                f"- <strong>{esc(alt.text)}</strong> ({confidence(alt.score)}) in “{esc(alt.sentence)}” — {_source_line(alt.article)}"
                for alt in result.alternatives
            )
            parts.append(
                f"<details><summary>Other possible answers ({len(result.alternatives)})</summary>\n\n{items}\n\n</details>"
            )
        return "\n\n".join(parts)
    if result.candidate is not None:
        unsure = result.candidate
        parts.append(f"Possibly: <strong>{esc(unsure.text)}</strong> ({confidence(unsure.score)}), "
                     "but the articles don't say for sure.")
        parts.append(f"> {highlight(unsure)}")
        parts.append(f'<span class="qa-meta">{_source_line(unsure.article)}</span>')
        return "\n\n".join(parts)
    parts.append(NO_ANSWER)
    if result.closest:
        items = "\n".join(f"- “{esc(ev.sentence)}” — {_source_line(ev.article)}" for ev in result.closest)
        parts.append(f"The closest sentences:\n\n{items}")
    elif result.message:
        notice = esc(result.message)
        if "no articles" in result.message:
            notice += " — add some in the Articles tab."
        parts.append(f"<em>{notice}</em>")
    return "\n\n".join(parts)


# -- the index -------------------------------------------------------------------


def seed_index(corpus: Store, folder: Path = ARTICLES_DIR, out: Callable[[str], None] = print) -> int:
    """Index the article files of ``folder`` (used when the app starts on an empty index)."""
    files = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in SUFFIXES) if folder.is_dir() else []
    if not files:
        out(f"The index is empty and {folder} has no article files; add some in the Articles tab.")
        return 0
    out(f"The index is empty: indexing {len(files)} files from {folder} ...")
    named = [(p, str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)) for p in files]
    outcomes = add_files(corpus, named, progress=lambda f, what: out(f"  {f:4.0%} {what}"))
    for outcome in outcomes:
        out(f"  {outcome.line()}")
    added = sum(o.status == ADDED for o in outcomes)
    stats = corpus.stats()
    out(f"Indexed {added} articles; the index has {stats['articles']} articles, {stats['sentences']} sentences.")
    return added


# -- the app ---------------------------------------------------------------------


def _remove_uploads(paths: list[str]) -> None:
    """Delete uploaded files from Gradio's temporary folder once they are indexed (or refused)."""
    temp = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()
    for path in map(Path, paths):
        if path.resolve().is_relative_to(temp):
            path.unlink(missing_ok=True)
            with suppress(OSError):
                path.parent.rmdir()  # Gradio keeps each upload in a folder of its own


class ChatApp:
    """The handlers of the app, bound to one pipeline and its corpus."""

    def __init__(
        self, pipeline: Pipeline, min_confidence: float | None = None, read_only: bool = False, limit: int | None = None,
        private_urls: bool = False, on_outcome: Callable[[Outcome], None] | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        """Handlers over ``pipeline``.

        Args:
            pipeline: What answers, with the index it answers from.
            min_confidence: The default strictness (None: the reader's threshold).
            read_only: Refuse to add or remove articles.
            limit: Largest file or article in bytes (default ``index.articles.max_bytes()``).
            private_urls: Let "Add from the web" read addresses that are not public (``index.web.fetch``).
            on_outcome: Told what became of every article or file added here (a server's metrics).
            rate_limits: Questions and writes a minute for each client (its login, else its address).
        """
        self.pipeline = pipeline
        self.corpus: Store = pipeline.corpus
        self.min_confidence = min_confidence
        self.read_only = read_only
        self.limit = max_bytes() if limit is None else limit
        self.private_urls = private_urls
        self.on_outcome = on_outcome
        self.rate_limits = rate_limits
        self.examples = ExampleQuestions(self.corpus, lambda q: pipeline.answer(q, min_confidence=min_confidence, observed=False).found)

    # chat

    def ask(self, question: str, previous: list[str], min_confidence: float | None = None,
            since: str = "", until: str = "", source: str = "") -> str:
        """The reply to a question in a chat with these earlier questions (escaped Markdown).

        Args:
            question: The question as typed.
            previous: Earlier questions of the chat, oldest first: a follow-up takes their topic.
            min_confidence: How sure an answer must be (None: the app's default).
            since, until: Answer from articles dated in this range (YYYY-MM-DD; blank: no bound).
            source: Answer from articles whose source (address or file path) starts with this (blank: any).
        """
        return self._reply(question, previous, min_confidence, since, until, source)[0]

    def _reply(self, question: str, previous: list[str], min_confidence: float | None = None,
               since: str = "", until: str = "", source: str = "") -> tuple[str, Answer | None]:
        """``ask``'s reply, with the answer it shows (``None`` when there is none to judge)."""
        strictness = self.min_confidence if min_confidence is None else min_confidence
        try:
            where = search_filter(since, until, source)
        except ValueError as exc:
            return esc(str(exc)), None
        try:
            result = self.pipeline.answer(question, top_k=SHOWN_ANSWERS, min_confidence=strictness, where=where,
                                          history=previous)
            return render_answer(result, asked=question), result
        except QuestionError:
            return "Please type a question.", None
        except Exception as exc:  # noqa: BLE001 - the user gets a readable line, the log gets the traceback
            log.exception("answering %r failed", question)
            return f"Sorry, something went wrong while answering: {esc(error_line(exc))}", None

    def add_user_message(self, message: str, history: list[dict], asked: list[str]) -> tuple[str, list[dict], list[str]]:
        """Show a typed question in the chat (escaped) and keep it as typed in ``asked``, the chat's questions."""
        if not message or not message.strip():
            return message, history, asked
        return "", history + [{"role": "user", "content": esc(message.strip())}], asked + [message.strip()]

    def add_bot_message(self, history: list[dict], asked: list[str], answers: dict[int, Answer],
                        min_confidence: float | None = None, since: str = "", until: str = "", source: str = "",
                        request: gr.Request | None = None) -> tuple[list[dict], dict[int, Answer]]:
        """Reply to the last question of ``asked`` when the chat waits for a reply; ``answers`` gains the answer
        shown, by its message's place in the chat (what a thumbs up or down judges)."""
        if not history or history[-1].get("role") != "user" or not asked:
            return history, answers
        reply, result = (esc(refusal), None) if (refusal := self._refused("answers", request)) else self._reply(
            asked[-1], asked[:-1], min_confidence, since, until, source)
        return history + [{"role": "assistant", "content": reply}], answers | ({len(history): result} if result else {})

    def _refused(self, kind: str, request: gr.Request | None) -> str | None:
        """Why this client must wait before another request of ``kind`` (``ui.rate_limits``), or ``None``."""
        if self.rate_limits is None or request is None:
            return None
        client = request.username or (request.client.host if request.client else "")
        seconds = self.rate_limits.wait(kind, client)
        return None if seconds is None else self.rate_limits.message(kind, seconds).capitalize() + "."

    # API

    def answer_api(self, question: str, request: gr.Request | None = None) -> dict:
        """``/answer``: the ``qa ask --json`` object for a question."""
        if refusal := self._refused("answers", request):
            raise gr.Error(refusal)
        try:
            return self.pipeline.answer(question, top_k=SHOWN_ANSWERS, min_confidence=self.min_confidence).to_dict()
        except QuestionError as exc:
            raise gr.Error(f"Cannot answer: {exc}.") from None
        except Exception as exc:  # noqa: BLE001
            log.exception("answering %r failed", question)
            raise gr.Error(f"Something went wrong while answering: {error_line(exc)}") from None

    def add_article_api(self, path: str | None, request: gr.Request | None = None) -> str:
        """``/add_article``: index one file; a short report."""
        if self.read_only:
            raise gr.Error(READ_ONLY)
        if not path:
            raise gr.Error("No file was given.")
        if refusal := self._refused("writes", request):
            _remove_uploads([path])
            raise gr.Error(refusal)
        try:
            outcomes = add_files(self.corpus, [(Path(path), Path(path).name)], self.limit, on_outcome=self.on_outcome)
        finally:
            _remove_uploads([path])
        return "\n".join([o.line() for o in outcomes] + [self.stats_line()])

    # articles panel

    def stats_line(self) -> str:
        stats = self.corpus.stats()
        return f"The index has {stats['articles']} articles, {stats['sentences']} sentences."

    def table(self) -> dict:
        """The indexed articles as Dataframe data."""
        rows = [[i.title, i.date or "", i.sentences, Path(i.source).name or i.source, i.id, i.duplicate_of or ""]
                for i in self.corpus.list_articles()]
        return {"headers": TABLE_HEADERS, "data": rows}

    def choices(self) -> list[tuple[str, str]]:
        """(label, id) of each indexed article, for the remove dropdown."""
        return [(f"{i.title} ({i.date or 'no date'}) · {i.id[:8]}", i.id) for i in self.corpus.list_articles()]

    def panel(self) -> tuple:
        """Updates for the article table, the remove dropdown and the stats line."""
        return self.table(), gr.Dropdown(choices=self.choices(), value=None), esc(self.stats_line())

    def example_questions(self) -> gr.Dataset:
        """The update for the example questions: recomputed (answering each candidate) after the index changed,
        so run after a write rather than inside it."""
        questions = self.examples.get()
        return gr.Dataset(samples=[[q] for q in questions], visible=bool(questions))

    def upload(self, paths: list[str] | None, progress: gr.Progress = gr.Progress(),  # noqa: B008
               request: gr.Request | None = None) -> tuple:
        if not paths:
            return (None, "No files chosen.", *self.panel())
        try:
            if self.read_only:
                return (None, esc(READ_ONLY), *self.panel())
            if refusal := self._refused("writes", request):
                return (None, esc(refusal), *self.panel())
            if len(paths) > MAX_UPLOAD_FILES:
                return (None, esc(f"Not added: {len(paths)} files at once; upload at most {MAX_UPLOAD_FILES}."),
                        *self.panel())
            files = [(Path(p), Path(p).name) for p in paths]
            outcomes = add_files(self.corpus, files, self.limit, progress=lambda f, what: progress(f, desc=what),
                                 on_outcome=self.on_outcome)
        finally:
            _remove_uploads(paths)
        return (None, self._report(outcomes), *self.panel())

    def add_address(self, address: str, request: gr.Request | None = None) -> tuple:
        """Index a web page, or the new items of a feed, by its address."""
        address = (address or "").strip()
        if self.read_only:
            return address, esc(READ_ONLY), *self.panel()
        if refusal := self._refused("writes", request):
            return address, esc(refusal), *self.panel()
        if not is_address(address):
            return address, esc("Give the http:// or https:// address of a page or feed."), *self.panel()
        outcomes = add_sources(self.corpus, [address], self.limit, on_outcome=self.on_outcome, private=self.private_urls)
        return "", self._report(outcomes), *self.panel()

    def paste(self, title: str, text: str, date: str, request: gr.Request | None = None) -> tuple:
        if self.read_only:
            return title, text, date, esc(READ_ONLY), *self.panel()
        if refusal := self._refused("writes", request):
            return title, text, date, esc(refusal), *self.panel()
        try:
            article = make_article(title or "", text or "", "pasted", (date or "").strip() or None, self.limit)
            [outcome] = add_read_articles(self.corpus, [(article, "pasted")], self.on_outcome)
        except IngestError as exc:
            return title, text, date, esc(f"Not added: {exc}."), *self.panel()
        except Exception as exc:  # noqa: BLE001
            log.exception("adding a pasted article failed")
            return title, text, date, esc(f"Not added: {error_line(exc)}"), *self.panel()
        kept = (title, text, date) if outcome.status == "error" else ("", "", "")
        return *kept, esc(outcome.line()), *self.panel()

    def remove(self, article_id: str | None, request: gr.Request | None = None) -> tuple:
        if self.read_only:
            return (esc(READ_ONLY), *self.panel())
        if refusal := self._refused("writes", request):
            return (esc(refusal), *self.panel())
        if not article_id:
            return ("Choose an article to remove.", *self.panel())
        try:
            info = self.corpus.remove(article_id)
        except Exception as exc:  # noqa: BLE001
            log.exception("removing %s failed", article_id)
            return (esc(f"Not removed: {error_line(exc)}"), *self.panel())
        message = "That article is no longer indexed." if info is None else f"Removed “{info.title}” ({info.sentences} sentences)."
        return (esc(message), *self.panel())

    def _report(self, outcomes: list[Outcome]) -> str:
        added = sum(o.status == ADDED for o in outcomes)
        failed = sum(o.status == "error" for o in outcomes)
        head = f"{added} added" + (f", {failed} failed" if failed else "") + f". {self.stats_line()}"
        return "\n".join([esc(head), ""] + [f"- {esc(o.line())}" for o in outcomes])


def build_app(
    pipeline: Pipeline,
    min_confidence: float | None = None,
    read_only: bool = False,
    limit: int | None = None,
    private_urls: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    rate_limits: RateLimits | None = None,
    readers: ReaderLog | None = None,
) -> gr.Blocks:
    """The Gradio app over ``pipeline`` and its index.

    Args:
        pipeline: What answers, with the index it answers from.
        min_confidence: Where the chat's strictness slider starts (default: the reader's threshold).
        read_only: Show the articles but offer no way to add or remove them (no ``/add_article``).
        limit: Largest file or article in bytes (default ``index.articles.max_bytes()``).
        private_urls: Let "Add from the web" read addresses that are not public.
        on_outcome: Told what became of every article or file added (a server's metrics).
        rate_limits: Questions and writes a minute for each client.
        readers: Keeps the readers' judgements of answers (default: one over the pipeline's index).
    """
    chat = ChatApp(pipeline, min_confidence, read_only, limit, private_urls, on_outcome, rate_limits)
    feedback = ChatFeedback(readers or ReaderLog(pipeline.corpus), read_only or pipeline.corpus.read_only)
    questions = chat.examples.get()
    write = {"concurrency_id": "index", "concurrency_limit": 1}
    reading = {"concurrency_id": "answer", "concurrency_limit": ANSWER_CONCURRENCY}
    private = {"api_visibility": "private"}

    # Uploads never indexed (sent to /gradio_api/upload and abandoned) are deleted after an hour.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown(f"## {TITLE}\nAsk about the indexed news articles. Answers are copied from the articles, with their source.")
        with gr.Tab("Chat", id="chat"):
            chatbot = gr.Chatbot(
                label="Chat",
                height=520,
                sanitize_html=True,
                allow_tags=False,
                render_markdown=True,
                latex_delimiters=[],
                feedback_options=None if feedback.read_only else ("Like", "Dislike"),  # a read-only app keeps none
                buttons=["copy"],
                elem_id="chat",
                elem_classes=["qa-reply"],
                placeholder="Ask a question about the articles, e.g. one of the examples below.",
            )
            with gr.Row():
                question = gr.Textbox(
                    label="Question", placeholder="Ask a question and press Enter", scale=5, elem_id="question",
                    max_length=2000, autofocus=True,
                )
                send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
            answers = gr.State({})  # the answers shown, by their message's place: what a thumbs judges
            feedback_controls(feedback, chatbot, answers)
            examples = gr.Dataset(
                components=[question], samples=[[q] for q in questions], label="Try asking", visible=bool(questions),
                elem_id="examples",
            )
            strictness = gr.Slider(
                0.0, 1.0, step=0.01, value=pipeline.threshold if min_confidence is None else min_confidence,
                label="Minimum confidence", info="Answer only when at least this sure; below it, unsure answers are "
                "shown as such. Higher is stricter.", elem_id="min-confidence",
            )
            with gr.Accordion("Filters: answer only from some articles", open=False, elem_id="filters"):
                with gr.Row():
                    since = gr.Textbox(label="From (YYYY-MM-DD)", elem_id="since", max_length=10)
                    until = gr.Textbox(label="To (YYYY-MM-DD)", elem_id="until", max_length=10)
                    source = gr.Textbox(label="Source starts with", placeholder="https://apnews.com/ or a folder",
                                        elem_id="source", max_length=2048)
        with gr.Tab("Articles", id="articles"):
            stats = gr.Markdown(esc(chat.stats_line()), elem_id="stats")
            with gr.Row(visible=not read_only):
                with gr.Column():
                    files = gr.File(
                        label=f"Upload articles ({', '.join(SUFFIXES)}; at most {megabytes(chat.limit)} each, "
                        f"{MAX_UPLOAD_FILES} at once)",
                        file_count="multiple", file_types=list(SUFFIXES), type="filepath", elem_id="upload",
                    )
                    address = gr.Textbox(label="Web page or RSS/Atom feed address", placeholder="https://…",
                                         elem_id="address", max_length=2000)
                    address_button = gr.Button("Add from the web", elem_id="address-add")
                with gr.Column():
                    paste_title = gr.Textbox(label="Title", elem_id="paste-title")
                    paste_date = gr.Textbox(label="Date (YYYY-MM-DD, optional)", elem_id="paste-date")
                    paste_text = gr.Textbox(label="Article text", lines=6, elem_id="paste-text",
                                            max_length=chat.limit)
                    paste_button = gr.Button("Add pasted article", elem_id="paste-add")
            report = gr.Markdown(elem_id="report")
            table = gr.Dataframe(
                value=chat.table(),
                headers=TABLE_HEADERS,
                datatype=["str", "str", "number", "str", "str"],
                column_widths=["39%", "13%", "13%", "17%", "18%"],
                interactive=False, label="Indexed articles", wrap=True, elem_id="articles-table",
            )
            with gr.Row(visible=not read_only):
                remove_choice = gr.Dropdown(label="Article to remove", choices=chat.choices(), value=None, scale=4, elem_id="remove-choice")
                remove_button = gr.Button("Remove", variant="stop", scale=1, elem_id="remove")
        report_tab(feedback)
        with gr.Column(visible=False):
            api_question = gr.Textbox(label="question")
            api_answer = gr.JSON(label="answer")
            api_answer_button = gr.Button("answer")
            api_file = gr.File(label="article file", file_types=list(SUFFIXES), type="filepath")
            api_report = gr.Textbox(label="report")
            api_add_button = gr.Button("add_article")

        panel = [table, remove_choice, stats]
        asked = gr.State([])  # the chat's questions as typed (the chat shows them escaped)
        chatbot.clear(lambda: ([], {}), None, [asked, answers], queue=False, **private)  # a cleared chat starts a new topic
        for trigger in (question.submit, send.click):
            trigger(chat.add_user_message, [question, chatbot, asked], [question, chatbot, asked], queue=False,
                    **private).then(
                chat.add_bot_message, [chatbot, asked, answers, strictness, since, until, source], [chatbot, answers],
                show_progress="minimal", **reading, **private
            )
        examples.click(lambda sample, history, questions: chat.add_user_message(sample[0], history, questions),
                       [examples, chatbot, asked], [question, chatbot, asked], queue=False, **private).then(
            chat.add_bot_message, [chatbot, asked, answers, strictness, since, until, source], [chatbot, answers],
            show_progress="minimal", **reading, **private
        )
        app.load(chat.panel, None, panel, **private).then(chat.example_questions, None, examples, **reading, **private)
        api_answer_button.click(chat.answer_api, api_question, api_answer, api_name="answer", **reading,
                                api_description="Answer a question: the `qa ask --json` object.")
        if not read_only:  # a read-only app has no handler that writes, so none can be called
            # Each write holds the write slot only for itself: the example questions are made anew after it.
            writes = [
                files.upload(chat.upload, files, [files, report, *panel], **write, **private),
                paste_button.click(chat.paste, [paste_title, paste_text, paste_date],
                                   [paste_title, paste_text, paste_date, report, *panel], **write, **private),
                remove_button.click(chat.remove, remove_choice, [report, *panel], **write, **private),
            ] + [trigger(chat.add_address, address, [address, report, *panel], **write, **private)
                 for trigger in (address.submit, address_button.click)]
            for event in writes:
                event.then(chat.example_questions, None, examples, **reading, **private)
            api_add_button.click(chat.add_article_api, api_file, api_report, api_name="add_article", **write,
                                 api_description=f"Index one article file ({' '.join(SUFFIXES)}); a short report.")
    app.queue(default_concurrency_limit=ANSWER_CONCURRENCY, max_size=QUEUE_SIZE)
    return app
