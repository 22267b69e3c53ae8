"""Reader training throughput: examples/s and tokens/s of the training step, on the same batches.

Run alone on the machine: .venv/bin/python bench/train_throughput.py [--steps 20]
Builds the training examples of the first SQuAD training articles as ``qa train-reader train``
does (title headers included), then times the same training step on them as they are and with
every input cut to 128 tokens (the length an earlier feasibility run used), side by side. The step
is compute-bound, so examples/s follows tokens per example.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from qa.reader import build_model
from qa.reader_examples import article_examples, foreign_examples, tokenize
from qa.squad import load_squad, shared_data
from qa.train_reader import collate, length_batches, span_loss

SQUAD_TRAIN = shared_data("squad", "train-v1.1.json.gz")


def step_rate(model, optim, batches: list[list]) -> dict:  # noqa: ANN001
    """Examples and tokens per second of ``batches``' training steps (the first two warm up, untimed)."""
    examples = tokens = 0
    elapsed = 0.0
    for i, batch in enumerate(batches):
        ids, mask, types, starts, ends = collate(batch)
        tick = time.perf_counter()
        loss = span_loss(model, ids, mask, types, starts, ends)
        optim.zero_grad()
        loss.backward()
        optim.step()
        if i >= 2:
            elapsed += time.perf_counter() - tick
            examples += len(batch)
            tokens += int(mask.sum())
    return {"examples_per_s": round(examples / elapsed, 1), "tokens_per_s": round(tokens / elapsed),
            "tokens_per_example": round(tokens / examples, 1)}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    examples = [e for a in load_squad(SQUAD_TRAIN)[:40] for e in article_examples(a, rng, 0.5)]
    examples += foreign_examples(examples, rng, 0.25)
    items = tokenize(examples)
    batches = length_batches(items, 32, rng)[: args.steps + 2]
    cut = [[(ids[:127] + ids[-1:], types[:127] + types[-1:], min(s, 127), min(e, 127)) if len(ids) > 128
            else (ids, types, s, e) for ids, types, s, e in batch] for batch in batches]
    model = build_model()
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    report = {"steps": args.steps, "batch": 32, "threads": args.threads,
              "mean_tokens": round(statistics.fmean(len(i[0]) for b in batches for i in b), 1),
              "as_trained": step_rate(model, optim, batches), "cut_to_128_tokens": step_rate(model, optim, cut)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
