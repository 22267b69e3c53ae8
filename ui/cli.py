"""The ``qa`` command: index articles, ask questions, chat, evaluate, serve, train."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from datetime import date
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


def _positive(what: str) -> Callable[[str], float]:
    """An argparse type: a positive number (``what`` names it in the error)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not number > 0:
            raise argparse.ArgumentTypeError(f"{value} is not a positive {what}")
        return number

    return parse


def day(value: str) -> date:
    """An argparse type: a day as YYYY-MM-DD."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a day as YYYY-MM-DD") from None


megabytes = _positive("size")
seconds = _positive("number of seconds")


def _backend(args: argparse.Namespace):  # noqa: ANN202
    """The backend ``--backend``/``--uri`` name, else ``$QA_BACKEND``/``$QA_MILVUS_URI`` (default: FAISS)."""
    from index.store import Backend

    return Backend.from_env(args.backend, args.uri)


def _corpus(args: argparse.Namespace, check_model: bool = True):  # noqa: ANN202
    return _backend(args).open(args.index, check_model=check_model)


def _limit(args: argparse.Namespace) -> int | None:
    return None if args.max_mb is None else int(args.max_mb * 2**20)


def _print_outcome(outcome) -> None:  # noqa: ANN001
    print(outcome.line(), file=sys.stderr if outcome.status == "error" else sys.stdout, flush=True)


def _add_paths(corpus, paths: list[str], limit: int | None, cluster: str | None = None,  # noqa: ANN001
               private: bool = True) -> list:
    """Add files, folders, saved feeds and web addresses to ``corpus``, printing one line per outcome; with a
    Dask scheduler's address (or ``$QA_DASK_SCHEDULER``), the articles are embedded on its workers."""
    from index.articles import expand_paths
    from index.feeds import FEED_SUFFIXES
    from index.indexer import prepare
    from index.ingest import add_files, add_sources
    from index.web import is_address

    sources = [p for p in paths if is_address(p) or Path(p).suffix.lower() in FEED_SUFFIXES]
    files = [(path, str(path)) for path in expand_paths([Path(p) for p in paths if p not in sources])]
    prepared_by = prepare
    if cluster or os.environ.get("QA_DASK_SCHEDULER"):
        from index.cluster import ClusterPreparer

        prepared_by = ClusterPreparer.from_env(cluster)
    try:
        options = {"progress_bar": True, "on_outcome": _print_outcome, "prepared_by": prepared_by}
        outcomes = add_files(corpus, files, limit, **options) if files else []
        return outcomes + add_sources(corpus, sources, limit, **options, private=private)
    finally:
        if prepared_by is not prepare:
            prepared_by.close()


def cmd_index_sync(args: argparse.Namespace) -> int:
    from index.ingest import add_sources

    corpus = _corpus(args)
    feeds = corpus.feeds()
    if not feeds:
        raise CliError("no feeds to sync: `qa index add URL` adds a feed's articles and remembers it")
    outcomes = add_sources(corpus, feeds, _limit(args), progress_bar=True, on_outcome=_print_outcome,
                           private=args.private_urls)
    added = sum(o.status == "added" for o in outcomes)
    stats = corpus.stats()
    print(f"{added} added from {len(feeds)} feeds; index has {stats['articles']} articles, {stats['sentences']} sentences")
    return 1 if any(o.status == "error" for o in outcomes) else 0


def cmd_index_add(args: argparse.Namespace) -> int:
    corpus = _corpus(args)
    outcomes = _add_paths(corpus, args.paths, _limit(args), args.cluster, args.private_urls)
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


def cmd_index_backup(args: argparse.Namespace) -> int:
    corpus = _corpus(args, check_model=False)
    corpus.backup(Path(args.destination))
    stats = corpus.stats()
    print(f"backed up the index ({stats['articles']} articles at most, as committed when the copy began) into "
          f"{args.destination}; to restore, open it with --index {args.destination} or move it into place")
    return 0


def cmd_index_rebuild(args: argparse.Namespace) -> int:
    if args.sources:
        corpus, old = _backend(args).open_anew(args.index)
        if old:
            print(f"the old index is kept in {old}")
        outcomes = _add_paths(corpus, args.sources, _limit(args), private=args.private_urls)
        stats = corpus.stats()
        print(f"rebuilt from files: {stats['articles']} articles, {stats['sentences']} sentences")
        return 1 if any(o.status == "error" for o in outcomes) else 0
    stats = _corpus(args, check_model=False).rebuild(progress=True)
    print(f"rebuilt: {stats['articles']} articles, {stats['sentences']} sentences")
    return 0


def _folder_watch(folder: str, corpus):  # noqa: ANN001, ANN202
    """A ``FolderWatch`` of ``folder`` into ``corpus`` that prints each outcome."""
    from index.watch import FolderWatch

    if not Path(folder).is_dir():
        raise CliError(f"{folder} is not a folder")
    return FolderWatch(corpus, Path(folder), on_outcome=_print_outcome)


def cmd_index_watch(args: argparse.Namespace) -> int:
    watch = _folder_watch(args.folder, _corpus(args))
    print(f"watching {args.folder} every {args.interval:g} s: new and changed article files are indexed once they stop "
          "changing (Ctrl-C to stop)", flush=True)
    try:
        watch.run(args.interval)
    except KeyboardInterrupt:
        print("stopped watching", file=sys.stderr)
    return 0


def cmd_index_check(args: argparse.Namespace) -> int:
    corpus = _corpus(args, check_model=False)
    problems = corpus.check()
    stats = corpus.stats()
    counts = f"{stats['articles']} articles, {stats['sentences']} sentences, {stats['vectors']} vectors"
    if not problems:
        print(f"ok: {counts}")
        return 0
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"the index does not agree with itself ({counts}); `qa index rebuild` rebuilds it from its articles",
          file=sys.stderr)
    return 1


def cmd_index_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from index.articles import printable

    articles = _corpus(args).list_articles()
    if args.json:
        print(json.dumps([asdict(a) for a in articles], ensure_ascii=False))
    elif not articles:
        print("no articles indexed yet")
    for a in [] if args.json else articles:
        copy = f"  (near-duplicate of {a.duplicate_of})" if a.duplicate_of else ""
        print(printable(f"{a.id}  {a.date or '----------'}  {a.sentences:5d} sentences  {a.title}{copy}"))
    return 0


def cmd_index_stats(args: argparse.Namespace) -> int:
    stats = _corpus(args).stats()
    print(json.dumps(stats) if args.json else "\n".join(f"{k}: {v}" for k, v in stats.items() if k != "warning"))
    if "warning" in stats:
        print(f"warning: {stats['warning']}", file=sys.stderr)
    return 0


def _print_source(answer) -> None:  # noqa: ANN001
    print(f"  sentence: {answer.sentence}")
    date = f" ({answer.article.date})" if answer.article.date else ""
    print(f"  article:  {answer.article.title}{date} [{answer.article.id}] {answer.article.source}")
    for copy in answer.sources[1:]:
        date = f" ({copy.date})" if copy.date else ""
        print(f"  also in:  {copy.title}{date} [{copy.id}] {copy.source}")


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
    if result.timeline:
        print("  changed:  " + " · ".join(f"{t.text} ({t.article.date}{', newest' if n == 0 else ''})"
                                         for n, t in enumerate(result.timeline)))
    if result.message:
        print(f"  note:     {result.message}")
    for alt in result.alternatives:
        print(f"  also: {alt.text} ({alt.score:.2f}) in \"{alt.sentence}\" [{alt.article.title}]")


def cmd_ask(args: argparse.Namespace) -> int:
    from index.store.base import SearchFilter
    from qa.answer import EMPTY_INDEX
    from qa.pipeline import Pipeline

    if args.since and args.until and args.since > args.until:
        raise CliError(f"--since {args.since} is after --until {args.until}")
    where = SearchFilter(args.since, args.until, args.source)
    with Pipeline.open(args.index, backend=_backend(args)) as pipeline:
        result = pipeline.answer(args.question, top_k=args.top_k, min_confidence=args.min_confidence, where=where)
    empty = result.message.startswith(EMPTY_INDEX)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    elif empty:
        raise CliError(f"{EMPTY_INDEX}: run `qa index add data/articles` for the bundled article, or `qa index add FILES`")
    else:
        _print_answer(result)
    return 1 if empty else 0


def cmd_chat(args: argparse.Namespace) -> int:
    from qa.answer import SHOWN_ANSWERS, QuestionError
    from qa.pipeline import Pipeline

    print("Ask about the indexed articles (empty line or Ctrl-D to quit).")
    asked: list[str] = []  # the conversation's questions: a follow-up takes their topic, as in the web chat
    with Pipeline.open(args.index, backend=_backend(args)) as pipeline:
        while True:
            try:
                question = input("? ")
            except EOFError:
                print()
                return 0
            if not question.strip():
                return 0
            try:
                result = pipeline.answer(question, top_k=SHOWN_ANSWERS, min_confidence=args.min_confidence,
                                         history=asked)
                if result.question != " ".join(question.split()):
                    print(f"(read as: {result.question})")
                _print_answer(result)
                asked.append(question)
            except QuestionError as exc:
                print(f"error: {exc}")


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.training.evaluate import evaluate, format_report

    try:
        report = evaluate(args.file, limit=args.limit, reader_only=args.reader_only, out_dir=args.out,
                          index_dir=args.keep_index, part=args.part, min_confidence=args.min_confidence,
                          backend=_backend(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.server import is_loopback, serve

    login = args.auth or os.environ.get("QA_AUTH")
    if login is not None and (":" not in login or not login.split(":", 1)[0] or not login.split(":", 1)[1]):
        raise CliError("--auth (or $QA_AUTH) must be USER:PASSWORD")
    auth = tuple(login.split(":", 1)) if login else None
    if not is_loopback(args.host) and auth is None and not args.insecure_no_auth:
        raise CliError(f"refusing to serve on {args.host} without a login: anyone who can reach it could change the "
                       "index; pass --auth USER:PASSWORD (or set $QA_AUTH), or --insecure-no-auth")
    from ui.rate_limits import DEFAULT_ANSWERS_PER_MINUTE, DEFAULT_WRITES_PER_MINUTE

    beyond = not is_loopback(args.host)  # limits are on by default only where other machines can reach it
    answers = args.rate_limit if args.rate_limit is not None else DEFAULT_ANSWERS_PER_MINUTE if beyond else None
    writes = args.write_rate_limit if args.write_rate_limit is not None else DEFAULT_WRITES_PER_MINUTE if beyond else None
    if args.watch is not None:
        _watch_in_background(args)
    if args.log_questions and args.read_only:
        raise CliError("--log-questions writes each question to the index; it cannot be used with --read-only")
    serve(host=args.host, port=args.port, index_dir=args.index, min_confidence=args.min_confidence, auth=auth,
          read_only=args.read_only, extra_hosts=args.allowed_host, limit=_limit(args), backend=_backend(args),
          private_urls=args.allow_private_urls, answers_per_minute=answers or None, writes_per_minute=writes or None,
          log_questions=args.log_questions)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from qa.report import build_report, report_text

    corpus = _corpus(args)
    report = build_report(corpus, args.since.isoformat() if args.since else None)
    print(json.dumps(report, ensure_ascii=False) if args.json else report_text(report))
    return 0


def _watch_in_background(args: argparse.Namespace) -> threading.Event:
    """Index the files that appear in ``args.watch`` while the chat is served (it answers from them at once);
    returns the event that stops watching."""
    if args.read_only:
        raise CliError("--watch adds articles to the index; it cannot be used with --read-only")
    watch = _folder_watch(args.watch, _corpus(args))
    stop = threading.Event()
    threading.Thread(target=watch.run, args=(args.interval, stop), name="watch", daemon=True).start()
    print(f"watching {args.watch} every {args.interval:g} s", flush=True)
    return stop


def cmd_train_reader(args: argparse.Namespace) -> int:
    from qa.training import train_reader

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
    common.add_argument("--backend", choices=["faiss", "milvus"], default=argparse.SUPPRESS,
                        help="keep the index in FAISS and SQLite files (default) or in Milvus (default: $QA_BACKEND)")
    common.add_argument("--uri", metavar="URI", default=argparse.SUPPRESS,
                        help="with --backend milvus: the Milvus server (http://HOST:19530) or Milvus Lite file "
                             "(default: $QA_MILVUS_URI, else milvus.db in the index folder)")
    parser = argparse.ArgumentParser(prog="qa", description="Answer questions from news articles with exact spans.",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="build and inspect the index", parents=[common])
    isub = index.add_subparsers(dest="index_command", required=True)
    size = argparse.ArgumentParser(add_help=False)
    size.add_argument("--max-mb", type=megabytes, metavar="MB",
                      help="largest file or article to read (default: $QA_MAX_MB or 5)")
    fetching = argparse.ArgumentParser(add_help=False)
    fetching.add_argument("--no-private-urls", dest="private_urls", action="store_false",
                          help="read only public web addresses: not loopback, private or link-local ones")
    p = isub.add_parser("add", help="index .txt/.md/.html/.json/.jsonl/.pdf/.docx files and folders, web pages and "
                        "RSS/Atom feeds (addresses or saved .xml/.rss/.atom files)", parents=[common, size, fetching])
    p.add_argument("paths", nargs="+", metavar="PATH_OR_URL")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="embed the articles on the workers of this Dask scheduler, tcp://HOST:PORT "
                   "(default: $QA_DASK_SCHEDULER; none: here)")
    p.set_defaults(func=cmd_index_add)
    p = isub.add_parser("sync", help="add the new items of every feed added before", parents=[common, size, fetching])
    p.set_defaults(func=cmd_index_sync)
    p = isub.add_parser("remove", help="remove an article by id", parents=[common])
    p.add_argument("id")
    p.set_defaults(func=cmd_index_remove)
    p = isub.add_parser("rebuild", help="re-embed every stored article, or index files anew with --from",
                        parents=[common, size, fetching])
    p.add_argument("--from", dest="sources", nargs="+", metavar="PATH",
                   help="set the index folder aside (kept, renamed) and build a new index from these files and folders")
    p.set_defaults(func=cmd_index_rebuild)
    p = isub.add_parser("backup", help="copy the index, as committed, into a new folder while writers run",
                        parents=[common])
    p.add_argument("destination", metavar="DEST")
    p.set_defaults(func=cmd_index_backup)
    p = isub.add_parser("watch", help="index article files as they appear or change in a folder", parents=[common])
    p.add_argument("folder")
    p.add_argument("--interval", type=seconds, default=2.0, metavar="S", help="seconds between looks (default 2)")
    p.set_defaults(func=cmd_index_watch)
    p = isub.add_parser("check", help="check that the database, full-text index and vectors agree", parents=[common])
    p.set_defaults(func=cmd_index_check)
    for name, func, text in (("list", cmd_index_list, "list indexed articles"),
                             ("stats", cmd_index_stats, "article and sentence counts")):
        p = isub.add_parser(name, help=text, parents=[common])
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("ask", help="answer one question", parents=[common, strictness])
    p.add_argument("question")
    p.add_argument("--since", type=day, metavar="YYYY-MM-DD", help="only from articles dated on or after this day")
    p.add_argument("--until", type=day, metavar="YYYY-MM-DD", help="only from articles dated on or before this day")
    p.add_argument("--source", metavar="PREFIX",
                   help="only from articles whose source (address or path) starts with this, e.g. https://apnews.com/")
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

    p = sub.add_parser("serve", help="start the web chat", parents=[common, strictness, size])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (default: $QA_AUTH; needed beyond 127.0.0.1)")
    p.add_argument("--insecure-no-auth", action="store_true", help="serve beyond 127.0.0.1 without a login")
    p.add_argument("--read-only", action="store_true", help="no adding or removing articles from the web")
    p.add_argument("--rate-limit", type=int, metavar="ANSWERS_PER_MINUTE",
                   help="questions one client (its login, else its address) may ask a minute; 0: no limit "
                   "(default: none on 127.0.0.1, 60 beyond it)")
    p.add_argument("--write-rate-limit", type=int, metavar="WRITES_PER_MINUTE",
                   help="articles, files, addresses and removals one client may send a minute; 0: no limit "
                   "(default: none on 127.0.0.1, 20 beyond it)")
    p.add_argument("--allow-private-urls", action="store_true",
                   help="let the chat and the API read loopback, private and link-local addresses (default: refused)")
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="another name clients reach the server under (checked against the Host header); repeatable")
    p.add_argument("--watch", metavar="DIR", help="also index article files as they appear in this folder")
    p.add_argument("--interval", type=seconds, default=2.0, metavar="S", help="how often --watch looks (default 2 s)")
    p.add_argument("--log-questions", action="store_true",
                   help="keep every question asked, with its answer, score and time, in the index (for `qa report`)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("report", help="what readers asked and how they judged the answers", parents=[common])
    p.add_argument("--since", type=day, metavar="YYYY-MM-DD", help="only what was asked or judged from this day")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("train-reader", help="train, export or calibrate the reader", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_train_reader)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``qa`` command; returns the exit status."""
    from index.articles import IngestError
    from index.store.base import StoreError
    from qa.answer import QuestionError
    from qa.span_model import ReaderError

    args = build_parser().parse_args(argv)
    for name in ("index", "backend", "uri"):
        if not hasattr(args, name):
            setattr(args, name, None)
    try:
        return args.func(args)
    except (CliError, QuestionError, IngestError, StoreError, ReaderError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, QuestionError) else 1
    except KeyboardInterrupt:
        print("\ninterrupted" + ("; the index holds what was reported added, nothing else changed"
                                  if args.command == "index" else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
