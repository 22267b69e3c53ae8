"""Follow-up questions in a chat: fold the previous question's topic into a short follow-up.

"And how many were arrested?" after "How many raids were there?" is read as
"How many were arrested (raids)?" when the follow-up alone would not find the
raids: the previous question's key content words are added to the question
that is retrieved and read. No generative model: the rules are

* a *continuation* ("and ...", "also ...", a pronoun such as "he" or "they",
  or a question with no content words of its own) takes the previous topic
  unless the question alone already lands on a sentence about it;
* a *topic switch* ("what about X?", "how about X?") reuses the previous
  question's frame ("How many", "When did", ...) with X, and takes the
  previous topic only when X alone retrieves poorly;
* a question with fewer than ``SHORT`` content words ("How many arrested?")
  takes the previous topic only when it retrieves poorly alone (none of its
  words is in the index, or the best sentence lacks some of them);
* a complete question is never rewritten, however poorly it retrieves: a
  rewritten new question ("How many passengers did the ferry carry (parks
  council approve)?") reads worse than the question asked.

Without a corpus the retrieval checks are skipped and every continuation takes
the previous topic.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

from index.text import PRONOUNS, content_words, word_key, words

if TYPE_CHECKING:
    from index.store.base import Store

MAX_CONTEXT_WORDS = 4
SHORT = 2  # content words; a question with fewer may lean on the previous one
MAX_DEPTH = 4  # previous questions resolved in a chain
LOOKAHEAD = 3  # keyword hits checked for the earlier topic
_CONTINUATION = re.compile(r"^\s*(?:and|also|but|so|then|plus|or)\b[\s,]*", re.I)
_SWITCH = re.compile(r"^\s*(?:and\s+|but\s+|so\s+)?(?:what|how)\s+about\b[\s,]*|^\s*what\s+of\b[\s,]*", re.I)
_FRAME = re.compile(
    r"^\s*(how\s+(?:many|much|long|old|far|often)|what\s+(?:year|date|day|time|percentage|number)|"
    r"which\s+(?:year|country|city)|when|where|who|whom|whose|why|how|what|which)\b"
    r"(?:\s+(?:is|are|was|were|did|do|does|has|have|had|will|would|can|could))?",
    re.I,
)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)


def _has_pronoun(text: str) -> bool:
    return any(w.lower() in PRONOUNS for w in words(text))


def _hits(question: str, corpus: "Store", k: int = LOOKAHEAD) -> list[str]:
    """The sentences of the question's best keyword hits, best first."""
    ids = [i for i, _ in corpus.keyword_search(question, k)]
    rows = corpus.sentence_rows(ids)
    return [corpus.article_text(rows[i].article_id)[rows[i].start : rows[i].end] for i in ids if i in rows]


def _covers(sentence: str, terms: Sequence[str]) -> bool:
    found = {word_key(w) for w in words(sentence)}
    return all(word_key(t) in found for t in terms)


def _mentions(sentence: str, terms: Sequence[str]) -> bool:
    found = {word_key(w) for w in words(sentence)}
    return any(word_key(t) in found for t in terms)


def retrieves_well(question: str, corpus: "Store") -> bool:
    """Whether the question's best keyword hit holds all of its content words."""
    own = content_words(question)
    hits = _hits(question, corpus, 1) if own else []
    return bool(hits) and _covers(hits[0], own)


def finds_topic(question: str, topic: Sequence[str], corpus: "Store") -> bool:
    """Whether one of the question's best keyword hits holds all its content words and one of ``topic``."""
    own = content_words(question)
    return bool(own) and any(_covers(s, own) and _mentions(s, topic) for s in _hits(question, corpus))


def _with_context(question: str, context: Sequence[str]) -> str:
    core = question.strip().rstrip("?!. ").strip()
    core = core[:1].upper() + core[1:]
    return f"{core} ({' '.join(context)})?" if context else f"{core}?"


def context_words(question: str, previous: str) -> list[str]:
    """The previous question's key content words that the question does not already use."""
    mine = {word_key(w) for w in content_words(question)}
    return [w for w in content_words(previous) if word_key(w) not in mine][:MAX_CONTEXT_WORDS]


def frame(question: str) -> str:
    """The question word phrase opening a question ("How many", "When did"), or ""."""
    match = _FRAME.match(question)
    return match.group(0).strip() if match else ""


def is_followup(question: str) -> bool:
    """Whether a question looks like it leans on an earlier one (without looking at the index)."""
    return bool(
        _SWITCH.match(question)
        or _CONTINUATION.match(question)
        or _has_pronoun(question)
        or len(content_words(question)) < SHORT
    )


def resolve_followup(question: str, previous: Sequence[str], corpus: "Store | None" = None) -> str:
    """The question to answer, with the topic of earlier questions added when it is a follow-up.

    Args:
        question: The new question, as typed.
        previous: Earlier questions of the chat, oldest first (as typed; they are
            resolved in turn, so a chain of follow-ups keeps its topic).
        corpus: The index, used to check whether the question retrieves well
            alone; ``None`` skips those checks.

    Returns:
        ``question`` unchanged when it stands on its own, otherwise a question
        that carries the earlier topic, e.g. "How many were arrested (raids)?".
    """
    previous = [p for p in previous if isinstance(p, str) and p.strip()]
    if not isinstance(question, str) or not question.strip() or not previous:
        return question
    return _resolve(question, previous[-MAX_DEPTH:], corpus)[0]


def _resolve(question: str, previous: Sequence[str], corpus: "Store | None") -> tuple[str, str]:
    """The resolved question and its topic (its words, then the earlier topic when it took it)."""
    if not previous:
        return question, question
    before, topic = _resolve(previous[-1], previous[:-1], corpus)
    resolved = _resolve_one(question, before, topic, corpus)
    # A short question that stood on its own ("How many raids were there?") starts a new topic.
    return resolved, f"{resolved} {topic}" if is_followup(question) and resolved != question else resolved


def _resolve_one(question: str, before: str, topic: str, corpus: "Store | None") -> str:
    continuation = _CONTINUATION.match(question)
    switch = _SWITCH.match(question)
    if continuation and not switch and not frame(question[continuation.end() :]):
        switch = continuation  # "And the member states?": the earlier question about something else
    if switch:
        rest = _ARTICLE.sub("", question[switch.end() :].strip())
        opening = frame(before)
        target = f"{opening} {rest}" if opening and rest else (rest or question)
        context = context_words(target, topic)
        if corpus is not None and retrieves_well(target, corpus):
            context = []
        return _with_context(target, context) if (context or target != question) else question

    context = context_words(question, topic)
    if not context:
        return question
    own = content_words(question)
    if continuation or (_has_pronoun(question) and len(own) <= SHORT) or not own:
        core = question[continuation.end() :] if continuation else question
        if corpus is not None and finds_topic(core, context, corpus):
            return question  # the question alone already finds the earlier topic
        return _with_context(core, context)
    if len(own) < SHORT and corpus is not None and not retrieves_well(question, corpus):
        return _with_context(question, context)
    return question  # a complete question is never rewritten
