"""Train the extractive reader on SQuAD v1.1 windows, then calibrate it.

Examples look like what the reader sees at answer time: a window of up to
three sentences around a sentence, with the answer sentence at any position
of the window, plus no-answer windows from the same article (half of them the
sentences sharing the most words with the question, as retrieval would rank
them), and questions with one name or number swapped for another of the
article, over the window that answered the original (``swapped_question``).
The last ``HOLDOUT_ARTICLES`` training articles are kept out of training and
used for calibration.

Usage::

    python -m qa.train_reader train --minutes 100      # resumable, checkpoints in runs/reader
    python -m qa.train_reader export                   # fp16 trained weights -> qa/reader_model
    python -m qa.train_reader calibrate                # score calibration and rank penalty on held-out data
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.embedder import load_tokenizer
from index.sentences import split_sentences
from qa.reader import (
    CONFIG_FILE,
    FROZEN_PREFIX,
    READER_DIR,
    WEIGHTS_FILE,
    Reader,
    build_model,
    encode,
)
from qa.squad import best_score, f1_score, load_squad

SQUAD_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad" / "train-v1.1.json.gz"
RUN_DIR = Path("runs/reader")
HOLDOUT_ARTICLES = 20
RANK_PENALTIES = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
STOP_PROBABILITIES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# Half a point of F1 on the 800 held-out open questions is about 4 questions whose answer changes:
# noise, where each question that stops early reads a fifth of the windows (half the median latency).
STOP_F1_TOLERANCE = 0.5
WINDOW = 3
WARMUP_STEPS = 300
_WORD = re.compile(r"\w+")
# Names and numbers: capitalised words with a lower-case letter, and figures.
_TERM = re.compile(r"\b(?:[A-Z][\w'-]*[a-z][\w'-]*|\d(?:[\d,.]*\d)?)\b")
_STOP = frozenset(
    "a an the of in on at to for by with from and or is are was were be been what which who whom whose when "
    "where why how did do does many much that this these those it its as".split()
)


@dataclass
class Example:
    """One training input: a question, a window of text, the answer's char span or (-1, -1)."""

    question: str
    window: str
    start: int
    end: int


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def article_terms(article: dict) -> list[str]:
    """The distinct names and numbers of an article, in order of appearance; words the
    article also writes in lower case ("Their", "Fish") are not names.
    """
    texts = [p["context"] for p in article["paragraphs"]]
    lower = {w for t in texts for w in _WORD.findall(t) if w.islower()}
    terms = (m.group() for t in texts for m in _TERM.finditer(t))
    return list(dict.fromkeys(t for t in terms if t.lower() not in lower))


def swapped_question(question: str, window: str, terms: list[str], rng: random.Random) -> str | None:
    """The question with one name or number that ``window`` mentions replaced by one
    of ``terms`` that it does not mention: a near miss the window cannot answer,
    like SQuAD v2's unanswerable questions. None when the question has no such term.
    """
    found = [m for m in _TERM.finditer(question) if m.start() > 0 and m.group() in window]
    if not found:
        return None
    match = rng.choice(found)
    lowered = window.lower()
    numeric = match.group()[0].isdigit()
    options = [t for t in terms if t[0].isdigit() == numeric and t.lower() not in lowered]
    if not options:
        return None
    return question[: match.start()] + rng.choice(options) + question[match.end() :]


def _sentence_of(sentences: list, offset: int) -> int:
    for i, s in enumerate(sentences):
        if offset < s.end:
            return i
    return len(sentences) - 1


def resolve_answer_start(context: str, sentences: list, question: str, text: str, given: int) -> int:
    """Pick the occurrence of ``text`` whose sentence shares the most words with the question."""
    starts = [m.start() for m in re.finditer(re.escape(text), context)]
    if len(starts) <= 1:
        return starts[0] if starts else given
    q = _words(question)

    def overlap(start: int) -> tuple[int, int]:
        s = sentences[_sentence_of(sentences, start)]
        return len(q & _words(context[s.start : s.end])), -abs(start - given)

    return max(starts, key=overlap)


def _window(sentences: list, first: int) -> tuple[int, int]:
    last = min(first + WINDOW, len(sentences)) - 1
    return sentences[first].start, sentences[last].end


def article_examples(
    article: dict, rng: random.Random, negative_rate: float, swap_rate: float = 0.0
) -> list[Example]:
    """Turn one SQuAD article into positive and no-answer window examples."""
    terms = article_terms(article)
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
            cs, ce = _window(sentences, max(0, min(i - 1, len(sentences) - WINDOW)))
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
            g0, g1 = _sentence_of(sentences, start), _sentence_of(sentences, end - 1)
            if g1 - g0 >= WINDOW:
                continue
            lo, hi = max(0, g1 - WINDOW + 1), max(0, min(g0, len(sentences) - WINDOW))
            ws, we = _window(sentences, rng.randint(min(lo, hi), hi))
            if ws <= start and end <= we:
                examples.append(Example(qa["question"], context[ws:we], start - ws, end - ws))
                swapped = swapped_question(qa["question"], context[ws:we], terms, rng) if rng.random() < swap_rate else None
                if swapped:
                    examples.append(Example(swapped, context[ws:we], -1, -1))
            if rng.random() >= negative_rate:
                continue
            lowered = text.lower()
            candidates = [
                c for c in pool
                if not (c[0] is context and c[1] < end and start < c[2]) and lowered not in c[4]
            ]
            if not candidates:
                continue
            if rng.random() < 0.5:
                q = _words(qa["question"])
                pick = max(candidates, key=lambda c: (len(q & c[3]), rng.random()))
            else:
                pick = rng.choice(candidates)
            ctx, cs, ce = pick[:3]
            examples.append(Example(qa["question"], ctx[cs:ce], -1, -1))
    return examples


def tokenize(tokenizer, examples: list[Example]) -> list[tuple[list[int], list[int], int, int]]:  # noqa: ANN001
    """Encode examples and map answer characters to token positions (0 = no answer)."""
    out = []
    for i in range(0, len(examples), 512):
        chunk = examples[i : i + 512]
        batch = encode(tokenizer, [e.question for e in chunk], [e.window for e in chunk])
        for row, ex in enumerate(chunk):
            n = int(batch["attention_mask"][row].sum())
            ids = batch["input_ids"][row, :n].tolist()
            types = batch["token_type_ids"][row, :n].tolist()
            if ex.start < 0:
                out.append((ids, types, 0, 0))
                continue
            seq = batch.sequence_ids(row)
            offsets = batch["offset_mapping"][row].tolist()
            s_tok = e_tok = None
            for t in range(n):
                if seq[t] != 1:
                    continue
                a, b = offsets[t]
                if s_tok is None and b > ex.start:
                    s_tok = t
                if a < ex.end:
                    e_tok = t
            if s_tok is not None and e_tok is not None and s_tok <= e_tok and offsets[e_tok][1] >= ex.end:
                out.append((ids, types, s_tok, e_tok))
    return out


def _batches(items: list, batch_size: int, rng: random.Random) -> list[list]:
    """Length-bucketed batches in a seeded random order, to keep padding small."""
    order = list(range(len(items)))
    rng.shuffle(order)
    batches = []
    for i in range(0, len(order), batch_size * 50):
        bucket = sorted(order[i : i + batch_size * 50], key=lambda j: len(items[j][0]))
        batches += [bucket[k : k + batch_size] for k in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return [[items[j] for j in b] for b in batches]


def _collate(batch: list):  # noqa: ANN202
    import torch

    n = max(len(ids) for ids, *_ in batch)
    ids = torch.zeros(len(batch), n, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, (i, t, _, _) in enumerate(batch):
        ids[r, : len(i)] = torch.tensor(i)
        types[r, : len(t)] = torch.tensor(t)
        mask[r, : len(i)] = 1
    starts = torch.tensor([b[2] for b in batch])
    ends = torch.tensor([b[3] for b in batch])
    return ids, mask, types, starts, ends


def trainable_state(model) -> dict:  # noqa: ANN001
    """The parameters training changes: everything but the frozen word embeddings."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith(FROZEN_PREFIX)}


def train(args: argparse.Namespace) -> None:
    """Fine-tune the span model; resumes from ``RUN_DIR/checkpoint.pt`` when present."""
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "train.log", "a")
    rng = random.Random(args.seed)
    articles = load_squad(args.data)[:-HOLDOUT_ARTICLES]
    t0 = time.time()
    examples = [ex for a in articles for ex in article_examples(a, rng, args.negative_rate, args.swap_rate)]
    tokenizer = load_tokenizer()
    items = tokenize(tokenizer, examples)
    batches = _batches(items, args.batch_size, rng)
    print(f"{len(items)} examples, {len(batches)} batches, prepared in {time.time() - t0:.0f}s", file=log, flush=True)

    model = build_model()
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ckpt_path = out / "checkpoint.pt"
    step, elapsed = 0, 0.0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ckpt["model"], strict=False)
        optim.load_state_dict(ckpt["optim"])
        step, elapsed = ckpt["step"], ckpt["elapsed"]
        torch.set_rng_state(ckpt["torch_rng"])
        print(f"resumed at step {step}, {elapsed:.0f}s trained", file=log, flush=True)
    elif args.init:
        # Continue from an earlier run's weights with a fresh schedule and data order.
        model.load_state_dict(torch.load(args.init, weights_only=True), strict=False)
        print(f"initialised from {args.init}", file=log, flush=True)

    budget = args.minutes * 60 - (time.time() - t0)

    def lr_at(s: int) -> float:
        # Linear warm-up, then linear decay over the time budget (not a step count), so
        # training ends on schedule whatever else the machine is doing.
        return args.lr * min(1.0, (s + 1) / WARMUP_STEPS) * max(0.0, 1.0 - elapsed / budget)

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {"model": trainable_state(model), "optim": optim.state_dict(), "step": step, "elapsed": elapsed,
             "torch_rng": torch.get_rng_state()},
            tmp,
        )
        tmp.replace(ckpt_path)

    model.train()
    ce = torch.nn.CrossEntropyLoss()
    last_save, seen, losses = time.time(), 0, []
    while elapsed < budget and step < len(batches):
        tick = time.time()
        ids, mask, types, starts, ends = _collate(batches[step])
        for g in optim.param_groups:
            g["lr"] = lr_at(step)
        s_logits, e_logits = model(ids, mask, types)
        invalid = (types == 0) & (torch.arange(ids.shape[1]) > 0) | (mask == 0)
        s_logits = s_logits.masked_fill(invalid, -1e4)
        e_logits = e_logits.masked_fill(invalid, -1e4)
        loss = (ce(s_logits, starts) + ce(e_logits, ends)) / 2
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        step += 1
        seen += len(starts)
        losses.append(loss.item())
        elapsed += time.time() - tick
        if step % 50 == 0:
            print(f"step {step}/{len(batches)} loss {sum(losses) / len(losses):.3f} lr {lr_at(step):.2e} "
                  f"{seen / elapsed:.1f} ex/s {elapsed / 60:.1f} min", file=log, flush=True)
            losses = []
        if time.time() - last_save > 300:
            save()
            last_save = time.time()
    save()
    torch.save(trainable_state(model), out / "final.pt")
    print(f"done at step {step}", file=log, flush=True)


def export(args: argparse.Namespace) -> None:
    """Write the trained weights as fp16 safetensors into the shipped reader folder."""
    import torch
    from safetensors.torch import save_file

    final = Path(args.out) / "final.pt"
    # Before training ends, the latest checkpoint can be exported to try the pipeline.
    state = torch.load(final, weights_only=True) if final.exists() else torch.load(
        Path(args.out) / "checkpoint.pt", weights_only=False)["model"]
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(dest / WEIGHTS_FILE))
    config = dest / CONFIG_FILE
    if not config.exists():
        config.write_text(json.dumps({"calibration": {"slope": 1.0, "intercept": 0.0}, "threshold": 0.5}, indent=2))


def unanswerable_context(article: dict, para: dict, golds: list[str], rng: random.Random) -> str:
    """Text that does not answer a question: half the time its own paragraph without
    the sentences holding an answer (a near miss), else another paragraph of the article.
    """
    sentences = [para["context"][s.start : s.end] for s in split_sentences(para["context"])]
    kept = [s for s in sentences if not any(g in s for g in golds)]
    others = [p["context"] for p in article["paragraphs"] if p is not para]
    if kept and (rng.random() < 0.5 or not others):
        return " ".join(kept)
    return rng.choice(others) if others else ""


def heldout_reads(reader: Reader, articles: list[dict], rng: random.Random, limit: int) -> list[tuple]:
    """Read held-out questions over their own paragraph, or, for half of them, in a
    way the paragraph cannot answer: a third of those with a name or number swapped
    (``swapped_question``), the others over ``unanswerable_context``.

    Returns:
        (windows as passages, the reader's span in each, gold answers, answerable) per question.
    """
    from qa.answer import read_passages
    from qa.evaluate import paragraph_passages

    reads = []
    items = [(a, p, qa) for a in articles for p in a["paragraphs"] for qa in p["qas"]]
    rng.shuffle(items)
    terms = {id(a): article_terms(a) for a in articles}
    for article, para, qa in items[:limit]:
        golds = [a["text"] for a in qa["answers"]]
        question, context = qa["question"], para["context"]
        answerable = rng.random() < 0.5
        if not answerable:
            swapped = swapped_question(question, context, terms[id(article)], rng) if rng.random() < 1 / 3 else None
            if swapped:
                question = swapped
            else:
                context = unanswerable_context(article, para, golds, rng)
        passages = paragraph_passages(context, qa["id"])
        reads.append((passages, read_passages(question, passages, reader), golds, answerable))
    return reads


def _f1(text: str, golds: list[str], answerable: bool) -> float:
    return best_score(f1_score, text, golds) if answerable else 0.0


def heldout_open_reads(reader: Reader, articles: list[dict], rng: random.Random, limit: int) -> list[tuple]:
    """Retrieve and read the top ``WINDOWS`` windows of held-out questions, the held-out articles indexed together.

    Returns:
        (gold answers, passages, the reader's span in each passage) per question.
    """
    from qa.answer import WINDOWS, read_passages
    from qa.evaluate import build_corpus, questions_of
    from qa.retriever import retrieve

    questions = questions_of(articles)
    questions = rng.sample(questions, min(limit, len(questions)))
    with tempfile.TemporaryDirectory(prefix="qa-calibrate-") as tmp:
        corpus = build_corpus(articles, Path(tmp))
        reads = []
        for q in questions:
            passages = retrieve(corpus, q.text, k=WINDOWS)
            reads.append((q.golds, passages, read_passages(q.text, passages, reader)))
        corpus.close()
    return reads


def open_f1(reads: list[tuple], reader: Reader, windows: int, penalty: float, stop_at: float | None = None) -> float:
    """F1 (0-100) of the best answers of ``heldout_open_reads``, never abstaining, ranked as ``answer()`` ranks them.

    Args:
        reads: What ``heldout_open_reads`` returned.
        reader: The reader, for its calibration.
        windows: How many of the retrieved windows to read.
        penalty: Rank penalty.
        stop_at: Stop after the first window when its span reaches this
            probability (``answer(top_k=1)``).
    """
    from qa.answer import merge_spans, score_spans

    total = 0.0
    for golds, passages, found in reads:
        ranked = score_spans(passages[:1], found[:1], reader, penalty) if stop_at is not None else []
        if not (ranked and ranked[0].score >= stop_at):
            ranked = merge_spans(score_spans(passages[:windows], found[:windows], reader, penalty))
        text = ranked[0].text if ranked else ""
        total += best_score(f1_score, text, golds)
    return 100 * total / len(reads)


def reliability(scores: np.ndarray, right: np.ndarray, bins: int = 5) -> list[dict]:
    """How often answers are right per score band: calibrated scores match the share right."""
    band = np.minimum((scores * bins).astype(int), bins - 1)
    return [
        {"scores": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "answers": int((band == b).sum()),
         "mean_score": round(float(scores[band == b].mean()), 3), "right": round(float(right[band == b].mean()), 3)}
        for b in range(bins) if (band == b).any()
    ]


def calibrate(args: argparse.Namespace) -> None:
    """Fit P(correct | margin) on held-out training articles, pick the abstention
    threshold, the rank penalty that ranks held-out open-corpus answers best, and
    the probability at which a first window's answer ends reading.
    """
    from sklearn.linear_model import LogisticRegression

    from qa.answer import WINDOWS, merge_spans, score_spans

    articles = load_squad(args.data)[-HOLDOUT_ARTICLES:]
    reader = Reader(Path(args.dest))
    paragraph_reads = heldout_reads(reader, articles, random.Random(args.seed), args.limit)
    # Fit P(right | margin) on each question's best single span ...
    rows = []
    for passages, found, golds, answerable in paragraph_reads:
        spans = [(s.margin, p.text[s.start : s.end]) for p, s in zip(passages, found) if s is not None]
        if spans:
            margin, text = max(spans)
            rows.append((margin, _f1(text, golds, answerable) >= 0.5))
    margins = np.array([[m] for m, _ in rows])
    correct = np.array([c for _, c in rows])
    fit = LogisticRegression().fit(margins, correct)
    slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    reader.config["calibration"] = {"slope": slope, "intercept": intercept, "questions": len(rows)}
    # ... and pick the threshold on the scores answer() compares with it: spans merged, readings combined.
    ranked = [merge_spans(score_spans(passages, found, reader, 0.0)) for passages, found, _, _ in paragraph_reads]
    probs = np.array([r[0].score if r else 0.0 for r in ranked])
    f1 = np.array([_f1(r[0].text, golds, answerable) if r else 0.0
                   for r, (_, _, golds, answerable) in zip(ranked, paragraph_reads)])
    answerable = np.array([a for _, _, _, a in paragraph_reads])
    # The threshold maximises the F1 of a SQuAD v2-style mix: abstaining scores 1 on
    # unanswerable questions and 0 on answerable ones.
    best_t, best_mix = 0.5, -1.0
    for t in np.linspace(0.05, 0.95, 91):
        answered = probs >= t
        score = np.where(answered, f1, (~answerable).astype(float)).mean()
        if score > best_mix:
            best_t, best_mix = float(t), float(score)
    reads = heldout_open_reads(reader, articles, random.Random(args.seed), args.open_limit)
    by_windows = {k: {p: open_f1(reads, reader, k, p) for p in RANK_PENALTIES} for k in range(1, WINDOWS + 1)}
    by_penalty = by_windows[WINDOWS]  # reading as many windows as answer() does
    penalty = max(by_penalty, key=lambda p: (round(by_penalty[p], 1), -p))  # ties go to the smaller penalty
    by_stop = {t: open_f1(reads, reader, WINDOWS, penalty, stop_at=t) for t in STOP_PROBABILITIES}
    # Stop reading at the lowest probability that costs at most STOP_F1_TOLERANCE against reading
    # every window (1.0, never, when none does).
    stop = min((t for t, f in by_stop.items() if f >= by_penalty[penalty] - STOP_F1_TOLERANCE), default=1.0)
    config = Path(args.dest) / CONFIG_FILE
    # Written whole, so nothing a previous calibration left behind survives.
    data = dict(
        calibration=reader.config["calibration"],
        threshold=round(best_t, 2),
        rank_penalty=penalty,
        stop_probability=stop,
        heldout={"answerable_f1": float(f1[answerable].mean()), "mixed_f1_at_threshold": best_mix,
                 "open_f1_by_windows_and_rank_penalty": by_windows, "open_f1_by_stop_probability": by_stop,
                 "open_questions": len(reads), "reliability": reliability(probs, f1 >= 0.5)},
    )
    config.write_text(json.dumps(data, indent=2))
    print(json.dumps(data, indent=2))


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m qa.train_reader`` and ``qa train-reader``."""
    parser = argparse.ArgumentParser(prog="qa train-reader", description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["train", "export", "calibrate"])
    parser.add_argument("--data", default=str(SQUAD_TRAIN), help="SQuAD v1.1 training file")
    parser.add_argument("--out", default=str(RUN_DIR), help="checkpoint folder")
    parser.add_argument("--dest", default=str(READER_DIR), help="shipped reader folder")
    parser.add_argument("--minutes", type=float, default=100.0, help="training time budget")
    parser.add_argument("--init", help="start training from these trained weights (a final.pt)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--negative-rate", type=float, default=0.5)
    parser.add_argument("--swap-rate", type=float, default=0.25, help="share of questions also asked with a name swapped")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=3000, help="held-out questions for calibration")
    parser.add_argument("--open-limit", type=int, default=800, help="held-out questions for the rank penalty")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    {"train": train, "export": export, "calibrate": calibrate}[args.step](args)


if __name__ == "__main__":
    main()
