"""The ``qa`` command: index articles, ask questions, chat, evaluate, serve, train."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def confidence(value: str) -> float:
    """An argparse type: a minimum confidence in [0, 1]."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return number


def _corpus(args: argparse.Namespace, check_model: bool = True):  # noqa: ANN202
    from index.corpus import Corpus

    return Corpus(args.index, check_model=check_model)


def cmd_index_add(args: argparse.Namespace) -> int:
    from index.articles import expand_paths
    from index.ingest import add_files

    corpus = _corpus(args)
    files = [(path, str(path)) for path in expand_paths([Path(p) for p in args.paths])]
    outcomes = add_files(corpus, files, progress_bar=True)
    for outcome in outcomes:
        print(outcome.line(), file=sys.stderr if outcome.status == "error" else sys.stdout)
    added = sum(o.status == "added" for o in outcomes)
    stats = corpus.stats()
    print(
        f"{added} added; index has {stats['articles']} articles, {stats['sentences']} sentences"
        if added
        else f"nothing new: index unchanged ({stats['articles']} articles)"
    )
    return 1 if any(o.status == "error" for o in outcomes) else 0


def cmd_index_remove(args: argparse.Namespace) -> int:
    info = _corpus(args).remove(args.id)
    if info is None:
        raise CliError(f"no article with id {args.id} (see `qa index list`)")
    print(f"removed {info.id}  {info.title}  ({info.sentences} sentences)")
    return 0


def cmd_index_rebuild(args: argparse.Namespace) -> int:
    stats = _corpus(args, check_model=False).rebuild(progress=True)
    print(f"rebuilt: {stats['articles']} articles, {stats['sentences']} sentences")
    return 0


def cmd_index_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    articles = _corpus(args).list_articles()
    if args.json:
        print(json.dumps([asdict(a) for a in articles], ensure_ascii=False))
    elif not articles:
        print("no articles indexed yet")
    for a in [] if args.json else articles:
        print(f"{a.id}  {a.date or '----------'}  {a.sentences:5d} sentences  {a.title}")
    return 0


def cmd_index_stats(args: argparse.Namespace) -> int:
    stats = _corpus(args).stats()
    print(json.dumps(stats) if args.json else "\n".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


def _print_source(answer) -> None:  # noqa: ANN001
    print(f"  sentence: {answer.sentence}")
    date = f" ({answer.article.date})" if answer.article.date else ""
    print(f"  article:  {answer.article.title}{date} [{answer.article.id}] {answer.article.source}")


def _print_answer(result) -> None:  # noqa: ANN001
    if result.candidate is not None:
        print(f"Possibly: {result.candidate.text} ({result.candidate.score:.0%}, unsure)")
        _print_source(result.candidate)
        print(f"  note:     {result.message}")
        return
    if not result.found:
        print(result.message)
        for ev in result.closest:
            print(f"  closest: {ev.sentence}\n           [{ev.article.title}]")
        return
    print(result.text)
    _print_source(result)
    print(f"  score:    {result.score:.2f}")
    if result.message:
        print(f"  note:     {result.message}")
    for alt in result.alternatives:
        print(f"  also: {alt.text} ({alt.score:.2f}) in \"{alt.sentence}\" [{alt.article.title}]")


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.answer import answer

    result = answer(args.question, top_k=args.top_k, index_dir=args.index, min_confidence=args.min_confidence)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        _print_answer(result)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from qa.answer import SHOWN_ANSWERS, QuestionError, answer

    print("Ask about the indexed articles (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = input("? ")
        except EOFError:
            print()
            return 0
        if not question.strip():
            return 0
        try:
            _print_answer(answer(question, top_k=SHOWN_ANSWERS, index_dir=args.index, min_confidence=args.min_confidence))
        except QuestionError as exc:
            print(f"error: {exc}")


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluate import evaluate, format_report

    try:
        report = evaluate(args.file, limit=args.limit, reader_only=args.reader_only, out_dir=args.out,
                          index_dir=args.keep_index, part=args.part, min_confidence=args.min_confidence)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.app import serve

    serve(host=args.host, port=args.port, index_dir=args.index, min_confidence=args.min_confidence)
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from qa import train_reader

    train_reader.main(args.rest)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``qa`` argument parser."""
    strictness = argparse.ArgumentParser(add_help=False)
    strictness.add_argument("--min-confidence", type=confidence, metavar="P",
                            help="answer only at this calibrated confidence or above, 0-1 (default: the reader's threshold; "
                                 "higher is stricter)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", metavar="DIR", default=argparse.SUPPRESS,
                        help="index folder (default: $QA_INDEX_DIR or data/index)")
    parser = argparse.ArgumentParser(prog="qa", description="Answer questions from news articles with exact spans.",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="build and inspect the index", parents=[common])
    isub = index.add_subparsers(dest="index_command", required=True)
    p = isub.add_parser("add", help="index .txt/.md/.html/.json/.jsonl files and folders", parents=[common])
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_index_add)
    p = isub.add_parser("remove", help="remove an article by id", parents=[common])
    p.add_argument("id")
    p.set_defaults(func=cmd_index_remove)
    p = isub.add_parser("rebuild", help="re-embed every stored article", parents=[common])
    p.set_defaults(func=cmd_index_rebuild)
    for name, func, text in (("list", cmd_index_list, "list indexed articles"),
                             ("stats", cmd_index_stats, "article and sentence counts")):
        p = isub.add_parser(name, help=text, parents=[common])
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("ask", help="answer one question", parents=[common, strictness])
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--top-k", type=int, default=3, help="best answer plus alternatives (1 reads fastest)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="ask questions in the terminal", parents=[common, strictness])
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("eval", help="score on a SQuAD-format file", parents=[common, strictness])
    p.add_argument("file")
    p.add_argument("--limit", type=int, help="score a fixed sample of N questions")
    p.add_argument("--json", action="store_true")
    p.add_argument("--reader-only", action="store_true", help="read each question's own paragraph, no retrieval")
    p.add_argument("--out", default="reports", help="folder for the JSON report and plot")
    p.add_argument("--keep-index", metavar="DIR", help="build the file's index here once and reuse it")
    p.add_argument("--part", choices=["train", "calibration", "test"],
                   help="ask only the questions of this fixed part of the file's articles (all stay indexed)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="start the web chat", parents=[common, strictness])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("train-reader", help="train, export or calibrate the reader", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_train_reader)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``qa`` command; returns the exit status."""
    from index.articles import IngestError
    from index.corpus import IndexMismatchError
    from qa.answer import QuestionError
    from qa.reader import ReaderError

    args = build_parser().parse_args(argv)
    if not hasattr(args, "index"):
        args.index = None
    try:
        return args.func(args)
    except (CliError, QuestionError, IngestError, IndexMismatchError, ReaderError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, QuestionError) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
