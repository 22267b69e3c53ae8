"""Train the extractive reader (examples: ``qa.reader_examples``), export it, and calibrate it
(``qa.calibrate``).

Training reads SQuAD v1.1 training articles, less the last ``HOLDOUT_ARTICLES`` (kept for
calibration), plus the training part of the news set (``qa.squad.PARTS``), repeated.

Usage::

    python -m qa.training.train_reader train --minutes 100      # resumable, checkpoints in runs/reader
    python -m qa.training.train_reader train --minutes 200 --epochs 2   # stopped and run again, it goes on
    python -m qa.training.train_reader export                   # fp16 trained weights -> qa/reader_model
    python -m qa.training.train_reader calibrate                # answer scores, threshold and early stop on held-out data
    python -m qa.training.train_reader calibrate --feedback     # ... with the readers' judgements kept in the index
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from qa.reader import CONFIG_FILE
from qa.span_model import FROZEN_PREFIX, READER_DIR, WEIGHTS_FILE, build_model
from qa.training.examples import HOLDOUT_ARTICLES, article_examples, foreign_examples, tokenize
from qa.training.squad import load_squad, part_of, shared_data

SQUAD_TRAIN = shared_data("squad", "train-v1.1.json.gz")
NEWS = shared_data("news", "realtimeqa-dev-v1.1.json.gz")
RUN_DIR = Path("runs/reader")
WARMUP_STEPS = 300
# The settings that decide a run's batches: a resumed run must be given the same.
RECIPE = ("data", "news", "news_repeat", "epochs", "seed", "batch_size", "negative_rate", "swap_rate", "foreign_rate",
          "names_held")


def learning_rate(peak: float, step: int, steps: int, elapsed: float, budget: float) -> float:
    """Linear warm-up, then linear decay to zero at whichever comes first: the end of the time budget
    (training ends on schedule whatever else the machine is doing) or the last batch.

    Args:
        peak: The learning rate after warm-up.
        step: Steps done.
        steps: Steps in the whole run (its batches).
        elapsed: Seconds of training so far.
        budget: Seconds of training allowed.
    """
    return peak * min(1.0, (step + 1) / WARMUP_STEPS) * max(0.0, 1.0 - max(elapsed / budget, step / steps))


def length_batches(items: list, batch_size: int, rng: random.Random) -> list[list]:
    """Length-bucketed batches in a seeded random order, to keep padding small."""
    order = list(range(len(items)))
    rng.shuffle(order)
    batches = []
    for i in range(0, len(order), batch_size * 50):
        bucket = sorted(order[i : i + batch_size * 50], key=lambda j: len(items[j][0]))
        batches += [bucket[k : k + batch_size] for k in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return [[items[j] for j in b] for b in batches]


def run_batches(articles: list[dict], args: argparse.Namespace, rng: random.Random) -> list[list]:
    """The batches of a whole run, ``args.epochs`` passes over ``articles``, each with windows and negatives
    drawn anew. The same seed gives the same batches, so a resumed run goes on where it stopped."""
    batches = []
    for _ in range(args.epochs):
        examples = [ex for a in articles for ex in article_examples(a, rng, args.negative_rate, args.swap_rate,
                                                                     args.names_held)]
        examples += foreign_examples(examples, rng, args.foreign_rate)
        batches += length_batches(tokenize(examples), args.batch_size, rng)
    return batches


def collate(batch: list):  # noqa: ANN202
    """A batch of tokenized examples as padded tensors: ids, attention mask, token types, start and end positions."""
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


def span_loss(model, ids, mask, types, starts, ends):  # noqa: ANN001, ANN201
    """The mean start/end cross-entropy of a collated batch; question and padding tokens are never a span
    (position 0 stands for no answer)."""
    import torch

    s_logits, e_logits = model(ids, mask, types)
    invalid = (types == 0) & (torch.arange(ids.shape[1]) > 0) | (mask == 0)
    ce = torch.nn.functional.cross_entropy
    return (ce(s_logits.masked_fill(invalid, -1e4), starts) + ce(e_logits.masked_fill(invalid, -1e4), ends)) / 2


def trainable_state(model) -> dict:  # noqa: ANN001
    """The parameters training changes: everything but the frozen word embeddings."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith(FROZEN_PREFIX)}


def speed_up(model, dropout: float, frozen_layers: int) -> None:  # noqa: ANN001
    """Set what makes the training step cheaper: the word embeddings are always frozen; ``dropout`` replaces
    the encoder's (drawing dropout masks is a large share of a CPU step); the lowest ``frozen_layers``
    encoder layers and the embeddings are frozen too (no backward pass through them)."""
    import torch

    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = dropout
    if frozen_layers:
        model.encoder.embeddings.requires_grad_(False)
        for layer in model.encoder.encoder.layer[:frozen_layers]:
            layer.requires_grad_(False)


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
    # The news set's training part, repeated (with other windows and negatives each time): quiz-style
    # questions about news, which SQuAD lacks.
    if args.news_repeat:
        articles += [a for a in load_squad(args.news) if part_of(a) == "train"] * args.news_repeat
    t0 = time.time()
    batches = run_batches(articles, args, rng)
    print(f"{sum(map(len, batches))} examples in {args.epochs} epoch(s), {len(batches)} batches, prepared in "
          f"{time.time() - t0:.0f}s", file=log, flush=True)

    model = build_model()
    speed_up(model, args.dropout, args.freeze_layers)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, fused=True)
    ckpt_path = out / "checkpoint.pt"
    step, elapsed = 0, 0.0
    recipe = {name: getattr(args, name) for name in RECIPE}
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        changed = {k: v for k, v in ckpt.get("recipe", recipe).items() if recipe[k] != v}
        if changed:  # other batches: resuming would train on a different run's data order
            raise SystemExit(f"qa train-reader train: {ckpt_path} continues a run made with "
                             + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in changed.items())
                             + "; give the same settings, or another --out")
        model.load_state_dict(ckpt["model"], strict=False)
        optim.load_state_dict(ckpt["optim"])
        step, elapsed = ckpt["step"], ckpt["elapsed"]
        torch.set_rng_state(ckpt["torch_rng"])
        print(f"resumed at step {step}, {elapsed:.0f}s trained", file=log, flush=True)
    elif args.init:
        # Continue from an earlier run's weights (a final.pt, or shipped safetensors) with a fresh schedule and data order.
        if args.init.endswith(".safetensors"):
            from safetensors.torch import load_file

            init = {k: v.float() for k, v in load_file(args.init).items()}
        else:
            init = torch.load(args.init, weights_only=True)
        model.load_state_dict(init, strict=False)
        print(f"initialised from {args.init}", file=log, flush=True)

    budget = args.minutes * 60 - (time.time() - t0)

    def lr_at(s: int) -> float:
        return learning_rate(args.lr, s, len(batches), elapsed, budget)

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {"model": trainable_state(model), "optim": optim.state_dict(), "step": step, "elapsed": elapsed,
             "torch_rng": torch.get_rng_state(), "recipe": recipe},
            tmp,
        )
        tmp.replace(ckpt_path)

    model.train()
    last_save, seen, losses = time.time(), 0, []
    while elapsed < budget and step < len(batches):
        tick = time.time()
        ids, mask, types, starts, ends = collate(batches[step])
        for g in optim.param_groups:
            g["lr"] = lr_at(step)
        loss = span_loss(model, ids, mask, types, starts, ends)
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
        # Until `calibrate` runs: the margin alone, as a logit.
        config.write_text(json.dumps({"calibration": {"weights": {"margin": 1.0}, "intercept": 0.0}, "threshold": 0.5}, indent=2))


def calibrate(args: argparse.Namespace) -> None:
    """Fit the answer scores, threshold and early stop of the reader in ``args.dest`` on held-out data (with
    ``--feedback``, and the readers' judgements kept in the index)."""
    from qa.training.calibrate import calibrate as fit
    from qa.training.calibrate import calibrate_with_feedback

    cache = Path(args.reads_cache) if args.reads_cache else None
    if not args.feedback:
        print(json.dumps(fit(Path(args.data), Path(args.news), Path(args.dest), args.limit, args.seed, cache), indent=2))
        return
    from index.store import Backend

    store = Backend.from_env().open(args.index, check_model=False)  # as written, the server's last judgements too
    try:
        feedback = store.feedback()
    finally:
        store.close()
    try:
        outcome = calibrate_with_feedback(Path(args.data), Path(args.news), Path(args.dest), args.limit, args.seed, cache,
                                          feedback)
    except ValueError as exc:
        raise SystemExit(f"qa train-reader calibrate --feedback: {exc}") from None
    print(json.dumps(outcome, indent=2))


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m qa.training.train_reader`` and ``qa train-reader``."""
    parser = argparse.ArgumentParser(prog="qa train-reader", description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["train", "export", "calibrate"])
    parser.add_argument("--data", default=str(SQUAD_TRAIN), help="SQuAD v1.1 training file")
    parser.add_argument("--out", default=str(RUN_DIR), help="checkpoint folder")
    parser.add_argument("--dest", default=str(READER_DIR), help="shipped reader folder")
    parser.add_argument("--minutes", type=float, default=100.0, help="training time budget")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training articles, each with new "
                        "windows and negatives; the learning rate reaches zero at the last one's end or the budget's")
    parser.add_argument("--init", help="start training from these trained weights (a final.pt or shipped .safetensors)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--negative-rate", type=float, default=0.5)
    parser.add_argument("--swap-rate", type=float, default=0.0, help="share of questions also asked with a name swapped")
    parser.add_argument("--names-held", action="store_true",
                        help="no-answer windows of the same article mention every name and number of the question")
    parser.add_argument("--foreign-rate", type=float, default=0.25,
                        help="share of questions also asked over another article's window")
    parser.add_argument("--news", default=str(NEWS), help="news set in SQuAD format; its training part is trained on")
    parser.add_argument("--news-repeat", type=int, default=4, help="times the news training part is used (0: not at all)")
    # Dropout off and the two lowest layers frozen: more examples a second, and as good a reader for the same
    # time (the model card, qa/reader_model/README.md, has the runs).
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout in the encoder while training")
    parser.add_argument("--freeze-layers", type=int, default=2, help="lowest encoder layers left as they are")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=800, help="held-out SQuAD questions for calibration")
    parser.add_argument("--reads-cache", help="calibrate: keep the held-out reads in this file and reuse them")
    parser.add_argument("--feedback", action="store_true", help="calibrate: add the readers' judgements kept in the "
                        "index; the new calibration is written only when it scores a third of them, kept out, better")
    parser.add_argument("--index", help="calibrate --feedback: the index (default: $QA_INDEX_DIR or data/index)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    {"train": train, "export": export, "calibrate": calibrate}[args.step](args)


if __name__ == "__main__":
    main()
