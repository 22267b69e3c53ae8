"""Reader training throughput: examples/s and tokens/s of the training step, on the same batches.

Run alone on the machine: .venv/bin/python bench/train_throughput.py [--steps 20] [--compile]
Builds the training examples of the first SQuAD training articles as ``qa train-reader train``
does (title headers included), then times the same training step on them, side by side, each on a
fresh model: as runs 1-9 trained (dropout 0.1, every layer but the word embeddings trained, AdamW
unfused; timed first and last, so drift over the run shows), each speed-up alone (inputs cut to 128
tokens, the length of an earlier feasibility run; dropout off; a fused AdamW; the lowest layers
frozen; ``torch.compile``), and as ``qa train-reader train`` trains now (``train_reader.speed_up``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from qa.span_model import build_model
from qa.training.examples import article_examples, foreign_examples, tokenize
from qa.training.squad import load_squad, shared_data
from qa.training.train_reader import collate, length_batches, span_loss, speed_up

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


def variant_rate(batches: list[list], dropout: float = 0.1, frozen_layers: int = 0, fused: bool = False,
                 compiled: bool = False) -> dict:
    """``step_rate`` of a fresh model set up by ``speed_up`` (the defaults: as runs 1-9 trained)."""
    import torch

    torch.manual_seed(0)
    model = build_model()
    speed_up(model, dropout, frozen_layers)
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=fused)
    return step_rate(torch.compile(model, dynamic=True) if compiled else model, optim, batches)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (compiling takes minutes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    examples = [e for a in load_squad(SQUAD_TRAIN)[:40] for e in article_examples(a, rng, 0.5)]
    examples += foreign_examples(examples, rng, 0.25)
    items = tokenize(examples)
    batches = length_batches(items, 32, rng)[: args.steps + 2]
    cut = [[(ids[:127] + ids[-1:], types[:127] + types[-1:], min(s, 127), min(e, 127)) if len(ids) > 128
            else (ids, types, s, e) for ids, types, s, e in batch] for batch in batches]
    report = {"steps": args.steps, "batch": 32, "threads": args.threads,
              "mean_tokens": round(statistics.fmean(len(i[0]) for b in batches for i in b), 1),
              "runs_1_to_9": variant_rate(batches),
              "cut_to_128_tokens": variant_rate(cut),
              "dropout_off": variant_rate(batches, dropout=0.0),
              "fused_adamw": variant_rate(batches, fused=True),
              "lower_2_layers_frozen": variant_rate(batches, frozen_layers=2),
              "lower_3_layers_frozen": variant_rate(batches, frozen_layers=3),
              "as_trained_now": variant_rate(batches, dropout=0.0, frozen_layers=2, fused=True)}
    if args.compile:
        for name, dropout in (("compiled", 0.1), ("compiled_dropout_off", 0.0)):
            try:
                report[name] = variant_rate(batches, dropout=dropout, compiled=True)
            except Exception as e:  # noqa: BLE001 - a compiler that fails here is a result to report
                report[name] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
    report["runs_1_to_9_again"] = variant_rate(batches)
    base = (report["runs_1_to_9"]["examples_per_s"] + report["runs_1_to_9_again"]["examples_per_s"]) / 2
    report["speedup_over_runs_1_to_9"] = {k: round(v["examples_per_s"] / base, 2) for k, v in report.items()
                                         if isinstance(v, dict) and "examples_per_s" in v}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
