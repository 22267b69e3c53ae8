"""Training examples for the reader, built from SQuAD-format articles.

Examples look like what the reader sees at answer time: a window of up to three sentences around a
sentence, with the answer sentence at any position of the window, read after the article's title
and date (``qa.span_model.passage_header``); plus no-answer windows from the same article (half of them
the sentences sharing the most words with the question, as retrieval would rank them; or only windows
that mention every name of the question), and, with ``foreign_examples``, the question over a window of
another article. Questions with one name or number swapped for another of the article
(``swapped_question``) can be added as no-answer examples over the window that answered the original;
the shipped reader is trained without them, as they taught it to abstain whenever a question names
something in other words than its window.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from index.sentences import sentence_at, split_sentences
from index.text import NAME_OR_NUMBER, TOPIC_STOPWORDS, WINDOW_SENTENCES, question_terms, terms
from qa.span_model import context_prefixes, encode, passage_header
from qa.training.squad import article_date, article_title

# The last training articles, kept out of training for calibration.
HOLDOUT_ARTICLES = 20
_WORD = re.compile(r"\w+")
# Names and numbers: capitalised words with a lower-case letter, and figures.


@dataclass
class Example:
    """One training input: a question, a window of text, the answer's char span in it or (-1, -1), and the
    header of the window's article (``passage_header``)."""

    question: str
    window: str
    start: int
    end: int
    header: str = ""


def _words(text: str) -> set[str]:
    return {w for w in terms(text) if w not in TOPIC_STOPWORDS}


def article_terms(article: dict) -> list[str]:
    """The distinct names and numbers of an article, in order of appearance; words the
    article also writes in lower case ("Their", "Fish") are not names.
    """
    texts = [p["context"] for p in article["paragraphs"]]
    lower = {w for t in texts for w in _WORD.findall(t) if w.islower()}
    terms = (m.group() for t in texts for m in NAME_OR_NUMBER.finditer(t))
    return list(dict.fromkeys(t for t in terms if t.lower() not in lower))


def swapped_question(question: str, window: str, terms: list[str], rng: random.Random) -> str | None:
    """The question with one name or number that ``window`` mentions replaced by one
    of ``terms`` that it does not mention: a near miss the window cannot answer,
    like SQuAD v2's unanswerable questions. None when the question has no such term.
    """
    found = [m for m in question_terms(question) if m.group() in window]
    if not found:
        return None
    match = rng.choice(found)
    lowered = window.lower()
    numeric = match.group()[0].isdigit()
    options = [t for t in terms if t[0].isdigit() == numeric and t.lower() not in lowered]
    if not options:
        return None
    return question[: match.start()] + rng.choice(options) + question[match.end() :]


def resolve_answer_start(context: str, sentences: list, question: str, text: str, given: int) -> int:
    """Pick the occurrence of ``text`` whose sentence shares the most words with the question."""
    starts = [m.start() for m in re.finditer(re.escape(text), context)]
    if len(starts) <= 1:
        return starts[0] if starts else given
    q = _words(question)

    def overlap(start: int) -> tuple[int, int]:
        s = sentences[sentence_at(sentences, start)]
        return len(q & _words(context[s.start : s.end])), -abs(start - given)

    return max(starts, key=overlap)


def _window(sentences: list, first: int) -> tuple[int, int]:
    last = min(first + WINDOW_SENTENCES, len(sentences)) - 1
    return sentences[first].start, sentences[last].end


def article_examples(
    article: dict, rng: random.Random, negative_rate: float, swap_rate: float = 0.0, names_held: bool = False
) -> list[Example]:
    """Turn one SQuAD article into positive and no-answer window examples.

    With ``names_held``, a no-answer window of the article must mention every name and number of the question
    (none is made when no window does): a window wrong for what it says, not for a name it lacks, so the reader
    is not taught that a question naming something in other words than its window goes unanswered.
    """
    terms = article_terms(article)
    header = passage_header(article_title(article), article_date(article))
    paragraphs = []
    for para in article["paragraphs"]:
        sentences = split_sentences(para["context"])
        if sentences:
            paragraphs.append((para, sentences))
    # Each sentence's window, with the words of the sentence and the window's lower-cased text.
    pool = []
    for para, sentences in paragraphs:
        ctx = para["context"]
        for i, sent in enumerate(sentences):
            cs, ce = _window(sentences, max(0, min(i - 1, len(sentences) - WINDOW_SENTENCES)))
            pool.append((ctx, cs, ce, _words(ctx[sent.start : sent.end]), ctx[cs:ce].lower()))
    examples: list[Example] = []
    for para, sentences in paragraphs:
        context = para["context"]
        for qa in para["qas"]:
            answer = qa["answers"][0]
            text = answer["text"].strip()
            if not text:
                continue
            start = resolve_answer_start(context, sentences, qa["question"], text, answer["answer_start"])
            end = start + len(text)
            g0, g1 = sentence_at(sentences, start), sentence_at(sentences, end - 1)
            if g1 - g0 >= WINDOW_SENTENCES:
                continue
            lo, hi = max(0, g1 - WINDOW_SENTENCES + 1), max(0, min(g0, len(sentences) - WINDOW_SENTENCES))
            ws, we = _window(sentences, rng.randint(min(lo, hi), hi))
            if ws <= start and end <= we:
                examples.append(Example(qa["question"], context[ws:we], start - ws, end - ws, header))
                swapped = swapped_question(qa["question"], context[ws:we], terms, rng) if rng.random() < swap_rate else None
                if swapped:
                    examples.append(Example(swapped, context[ws:we], -1, -1, header))
            if rng.random() >= negative_rate:
                continue
            lowered = text.lower()
            names = [m.group().lower() for m in question_terms(qa["question"])] if names_held else []
            candidates = [
                c for c in pool
                if not (c[0] is context and c[1] < end and start < c[2]) and lowered not in c[4]
                and all(n in c[4] for n in names)
            ]
            if not candidates:
                continue
            if rng.random() < 0.5:
                q = _words(qa["question"])
                pick = max(candidates, key=lambda c: (len(q & c[3]), rng.random()))
            else:
                pick = rng.choice(candidates)
            ctx, cs, ce = pick[:3]
            examples.append(Example(qa["question"], ctx[cs:ce], -1, -1, header))
    return examples


def foreign_examples(examples: list[Example], rng: random.Random, rate: float) -> list[Example]:
    """No-answer examples for a share ``rate`` of the answered questions: the question over a window of
    another article, with that article's header (a question about another story, as open retrieval finds)."""
    answered = [e for e in examples if e.start >= 0]
    out = []
    for example in answered:
        if rng.random() < rate:
            other = rng.choice(answered)
            if other.header != example.header:
                out.append(Example(example.question, other.window, -1, -1, other.header))
    return out


def tokenize(examples: list[Example]) -> list[tuple[list[int], list[int], int, int]]:
    """Encode examples and map answer characters to token positions (0 = no answer)."""
    out = []
    for i in range(0, len(examples), 512):
        chunk = examples[i : i + 512]
        prefixes = context_prefixes([e.header for e in chunk])
        batch = encode([e.question for e in chunk], [e.window for e in chunk], prefixes)
        for row, (ex, prefix) in enumerate(zip(chunk, prefixes)):
            n = int(batch.attention_mask[row].sum())
            ids = batch.input_ids[row, :n].tolist()
            types = batch.token_type_ids[row, :n].tolist()
            if ex.start < 0:
                out.append((ids, types, 0, 0))
                continue
            seq = batch.sequence_ids[row]
            offsets = batch.offsets[row].tolist()
            start, end = ex.start + len(prefix), ex.end + len(prefix)
            s_tok = e_tok = None
            for t in range(n):
                if seq[t] != 1:
                    continue
                a, b = offsets[t]
                if s_tok is None and b > start:
                    s_tok = t
                if a < end:
                    e_tok = t
            if s_tok is not None and e_tok is not None and s_tok <= e_tok and offsets[e_tok][1] >= end:
                out.append((ids, types, s_tok, e_tok))
    return out
