"""What readers asked and thought, for the newsroom (``qa report``, ``GET /api/v1/report``, the chat's Report tab):
the most asked questions, what the articles could not answer grouped by topic, how often answers were judged
helpful at each confidence, the answers judged wrong, and the articles no answer came from.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence

import numpy as np

from index.embedder import Embedder
from index.store.base import AskedQuestion, Feedback, Store
from index.text import content_words

TOP = 10  # entries of each list
SAME_TOPIC = 0.6  # cosine similarity at which two unanswered questions are about one topic (all-MiniLM-L6-v2)
BANDS = 10  # confidence bands of the reliability table


def question_key(question: str) -> str:
    """Questions asked in the same words, whatever their case, spacing and final punctuation, count as one."""
    return " ".join(question.casefold().split()).rstrip(" ?!.")


def latest_judgements(feedback: Sequence[Feedback]) -> list[Feedback]:
    """One judgement per answer: a reader's latest on an answer id stands (those without an id each count)."""
    latest: dict[object, Feedback] = {}
    for position, judged in enumerate(feedback):
        latest[judged.answer_id or position] = judged
    return list(latest.values())


def unanswered_topics(questions: list[str], embedder: Embedder, top: int = TOP) -> list[dict]:
    """The questions the articles could not answer, grouped by topic (their embeddings' communities), biggest
    first: each topic's most common words, its size and its questions."""
    if not questions:
        return []
    from sentence_transformers.util import community_detection  # a few seconds to import: only when needed

    distinct = list({question_key(q): q for q in questions}.values())
    groups = community_detection(embedder.embed(distinct), threshold=SAME_TOPIC, min_community_size=1)
    asked = Counter(map(question_key, questions))
    topics = []
    for members in groups:
        texts = [distinct[i] for i in members]
        words = Counter(word.lower() for text in texts for word in content_words(text))
        topics.append({"topic": " ".join(w for w, _ in words.most_common(3)), "asked": sum(asked[question_key(t)] for t in texts),
                       "questions": texts[:5]})
    return sorted(topics, key=lambda t: -t["asked"])[:top]


def reliability(judged: list[Feedback]) -> list[dict]:
    """Per confidence band, how many judged answers it holds and the share judged helpful (answers whose score
    the server knew)."""
    scored = [(j.score, j.helpful) for j in judged if j.score is not None and j.answer]
    rows = []
    for band in range(BANDS):
        low, high = band / BANDS, (band + 1) / BANDS
        inside = [helpful for score, helpful in scored if low <= score < high or (band == BANDS - 1 and score == 1.0)]
        if inside:
            rows.append({"band": f"{low:.1f}-{high:.1f}", "answers": len(inside), "helpful": round(float(np.mean(inside)), 3)})
    return rows


def build_report(store: Store, since: str | None = None, top: int = TOP) -> dict:
    """The report of the questions and judgements kept since ``since`` (ISO 8601 day or time; ``None``: all);
    unanswered questions are grouped with the index's own embedder."""
    asked: list[AskedQuestion] = store.asked_questions(since)
    judged = latest_judgements(store.feedback(since))
    counts = Counter(question_key(q.question) for q in asked)
    wording = {question_key(q.question): q.question for q in asked}
    unanswered = [q.question for q in asked if not q.answer]
    used = {q.article_id for q in asked if q.answer} | {j.article_id for j in judged if j.answer}
    unused = [a for a in store.list_articles() if a.id not in used]
    return {
        "since": since,
        "questions": len(asked),
        "answered": sum(bool(q.answer) for q in asked),
        "most_asked": [{"question": wording[key], "asked": n} for key, n in counts.most_common(top)],
        "unanswered_topics": unanswered_topics(unanswered, store.embedder, top),
        "judged": len(judged),
        "helpful": sum(j.helpful for j in judged),
        "reliability": reliability(judged),
        "judged_wrong": [{"question": j.question, "answer": j.answer, "comment": j.comment, "article_id": j.article_id,
                          "score": j.score, "time": j.time} for j in reversed(judged) if not j.helpful][:top],
        "unused_articles": [{"id": a.id, "title": a.title} for a in unused[:top]],
        "unused_article_count": len(unused),
    }


def report_text(report: dict) -> str:
    """The report as plain text (``qa report``)."""
    lines = [f"Questions kept: {report['questions']} ({report['answered']} answered)"
             + (f" since {report['since']}" if report["since"] else ""),
             "", "Most asked:"]
    lines += [f"  {row['asked']:>4}  {row['question']}" for row in report["most_asked"]] or ["  (none kept)"]
    lines += ["", "What the articles don't say, by topic:"]
    lines += [f"  {t['asked']:>4}  {t['topic']}: " + " | ".join(t["questions"][:3]) for t in report["unanswered_topics"]] or ["  (none)"]
    lines += ["", f"Judged answers: {report['judged']}, {report['helpful']} helpful. Helpful by confidence:"]
    lines += [f"  {row['band']}  {row['answers']:>4} answers  {100 * row['helpful']:.0f}% helpful" for row in report["reliability"]] or ["  (none)"]
    lines += ["", "Judged wrong:"]
    lines += [f"  {row['question']} -> {row['answer'] or '(no answer)'}" + (f"  [{row['comment']}]" if row["comment"] else "")
              for row in report["judged_wrong"]] or ["  (none)"]
    lines += ["", f"Articles no answer came from: {report['unused_article_count']}"]
    lines += [f"  {row['id']}  {row['title']}" for row in report["unused_articles"]]
    return "\n".join(lines)


def report_html(report: dict) -> str:
    """The report as a small HTML fragment (the chat's Report tab); every text from readers or articles escaped."""
    e = html.escape

    def table(headers: list[str], rows: list[list[object]]) -> str:
        if not rows:
            return "<p>(none)</p>"
        head = "".join(f"<th>{e(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{e(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    since = f" since {e(report['since'])}" if report["since"] else ""
    return "".join([
        f"<p>{report['questions']} questions kept{since}, {report['answered']} answered; {report['judged']} answers "
        f"judged, {report['helpful']} helpful.</p>",
        "<h4>Most asked</h4>", table(["Asked", "Question"], [[r["asked"], r["question"]] for r in report["most_asked"]]),
        "<h4>What the articles don't say, by topic</h4>",
        table(["Asked", "Topic", "Questions"], [[t["asked"], t["topic"], " | ".join(t["questions"][:3])]
                                                for t in report["unanswered_topics"]]),
        "<h4>Helpful by confidence</h4>",
        table(["Confidence", "Answers", "Helpful"], [[r["band"], r["answers"], f"{100 * r['helpful']:.0f}%"]
                                                     for r in report["reliability"]]),
        "<h4>Judged wrong</h4>",
        table(["Question", "Answer", "Comment"], [[r["question"], r["answer"], r["comment"]] for r in report["judged_wrong"]]),
        f"<h4>Articles no answer came from ({report['unused_article_count']})</h4>",
        table(["Article", "Title"], [[r["id"], r["title"]] for r in report["unused_articles"]]),
    ])
