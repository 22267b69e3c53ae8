"""The chat's part in learning from its readers: a thumbs up or down on every answer, a line on what was right,
and the Report tab (``qa.report``). The judgements are kept by ``qa.readers.ReaderLog``."""

from __future__ import annotations

from datetime import date

import gradio as gr

from index.store.base import StoreError
from index.text import error_line
from qa.answer import Answer
from qa.readers import MAX_COMMENT_CHARS, ReaderLog, UnknownArticleError
from qa.report import build_report, report_html

THANKS = {True: "Thanks: marked helpful.", False: "Thanks: marked not helpful. What was the right answer? Say below."}


class ChatFeedback:
    """The handlers of the chat's thumbs, comment box and Report tab."""

    def __init__(self, readers: ReaderLog, read_only: bool = False) -> None:
        """Handlers keeping judgements in ``readers`` (none when ``read_only``)."""
        self.readers = readers
        self.read_only = read_only

    def judge(self, answers: dict[int, Answer], like: gr.LikeData) -> tuple[str, Answer | None]:
        """Keep a thumbs up or down on the chat's answer at ``like.index``; a line for the reader, and the answer
        judged (which a comment then explains)."""
        result = answers.get(like.index if isinstance(like.index, int) else like.index[0])
        if result is None:
            return "Only answers can be judged.", None
        if not isinstance(like.liked, bool):  # a thumbs clicked again, to take it back: nothing new to keep
            return "", None
        return self._keep(result, like.liked, "") or THANKS[like.liked], result

    def comment(self, judged: Answer | None, text: str) -> tuple[str, str]:
        """Keep what the reader says was right about the answer they last judged; a line for them, and the box
        emptied."""
        if judged is None:
            return "Give an answer a thumbs down first, then say what was right.", text
        if not text.strip():
            return "Type what the right answer was.", text
        return self._keep(judged, False, text) or "Thanks: your note was kept with the answer.", ""

    def _keep(self, result: Answer, helpful: bool, comment: str) -> str | None:
        """Keep a judgement; ``None``, or why it was not kept (one line)."""
        if self.read_only:
            return "This app is read-only: it keeps no judgements."
        article = result.article.id if result.article and result.text else None
        try:
            self.readers.judge(helpful, result.id, result.question, result.text, article, comment)
        except UnknownArticleError:  # removed since: the judgement is still worth keeping without it
            self.readers.judge(helpful, result.id, result.question, result.text, None, comment)
        except StoreError as exc:
            return f"Could not keep that: {error_line(exc)}"
        return None

    def report(self, since: str) -> str:
        """The report as HTML, of what was kept since the day ``since`` (YYYY-MM-DD; blank: everything)."""
        try:
            day = date.fromisoformat(since.strip()).isoformat() if since.strip() else None
        except ValueError:
            return "<p>Give the first day as YYYY-MM-DD.</p>"
        try:
            return report_html(build_report(self.readers.store, day))
        except StoreError as exc:
            return f"<p>Could not read the index: {error_line(exc)}</p>"


def feedback_controls(feedback: ChatFeedback, chatbot: gr.Chatbot, answers: gr.State) -> None:
    """Below the chat: the line that answers a thumbs, and the box for what was right (inside a ``gr.Blocks``)."""
    judged = gr.State(None)
    note = gr.Markdown(elem_id="feedback-note")
    with gr.Row(visible=not feedback.read_only):
        comment = gr.Textbox(label="What was the right answer? (after a thumbs down; optional)", scale=5,
                             max_length=MAX_COMMENT_CHARS, elem_id="feedback-comment")
        send = gr.Button("Send", scale=1, elem_id="feedback-send")
    private = {"api_visibility": "private", "queue": False}
    chatbot.like(feedback.judge, answers, [note, judged], **private)
    for trigger in (comment.submit, send.click):
        trigger(feedback.comment, [judged, comment], [note, comment], **private)


def report_tab(feedback: ChatFeedback) -> None:
    """The Report tab: what readers asked and thought (inside a ``gr.Blocks``)."""
    with gr.Tab("Report", id="report"):
        gr.Markdown("What readers asked (when the server keeps questions: `qa serve --log-questions`) and how they "
                    "judged the answers.")
        with gr.Row():
            since = gr.Textbox(label="Since (YYYY-MM-DD; blank: everything)", max_length=10, scale=4, elem_id="report-since")
            show = gr.Button("Show the report", scale=1, elem_id="report-show")
        shown = gr.HTML(elem_id="report-html")
        show.click(feedback.report, since, shown, api_visibility="private")
