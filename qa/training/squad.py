"""SQuAD-format files (the shared data sets), their questions and articles, and the official scoring (EM and F1)."""

from __future__ import annotations

import collections
import gzip
import json
import os
import random
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from index.articles import Article, make_article
from index.text import normalize_answer

SHARED_DIR_VARIABLE = "QA_SHARED_DIR"


def shared_data(*parts: str) -> Path:
    """A path in the shared data sets: ``$QA_SHARED_DIR/data/...`` (default ``../shared`` beside the repository)."""
    shared = os.environ.get(SHARED_DIR_VARIABLE) or Path(__file__).resolve().parents[3] / "shared"
    return Path(shared, "data", *parts)


def load_squad(path: str | Path) -> list[dict]:
    """Read a SQuAD JSON file, gzipped or not, and return its ``data`` list."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)["data"]


# A fixed split of a file's articles by a hash of their title, in tenths: training, calibration and test.
# The news set's quizzes are split this way (qa eval --part test); SQuAD keeps its own train/dev files.
PARTS = {"train": range(0, 4), "calibration": range(4, 6), "test": range(6, 10)}


def part_of(article: dict) -> str:
    """The part (``PARTS``) a SQuAD-format article belongs to."""
    tenth = zlib.crc32(article["title"].encode()) % 10
    return next(name for name, tenths in PARTS.items() if tenth in tenths)


def article_title(article: dict) -> str:
    """A SQuAD-format article's title as a reader sees it ("Super_Bowl_50" -> "Super Bowl 50")."""
    return article["title"].replace("_", " ")


def article_date(article: dict) -> str | None:
    """A SQuAD-format article's date as ``YYYY-MM-DD`` (the news set has ``2020/01/24``); SQuAD has none."""
    day = article.get("date")
    return day.replace("/", "-") if day else None


@dataclass(frozen=True)
class Question:
    """A SQuAD question with its gold answers (empty when unanswerable), paragraph and article."""

    id: str
    text: str
    golds: list[str]
    context: str
    title: str = ""
    date: str | None = None

    @property
    def asked_on(self) -> date | None:
        """The day the question was asked: its article's date (a news quiz's), when it has one."""
        return date.fromisoformat(self.date) if self.date else None


def questions_of(data: list[dict], part: str | None = None) -> list[Question]:
    """The questions of a SQuAD ``data`` list, in file order: all, or those of the articles in one of ``PARTS``."""
    return [
        Question(qa["id"], qa["question"], [a["text"] for a in qa["answers"]], para["context"],
                 article_title(article), article_date(article))
        for article in data
        if part is None or part_of(article) == part
        for para in article["paragraphs"]
        for qa in para["qas"]
    ]


def sample(questions: list[Question], limit: int | None) -> list[Question]:
    """A fixed sample: the same ``limit`` always picks the same questions."""
    if limit is None or limit >= len(questions):
        return questions
    return random.Random(0).sample(questions, limit)


def squad_articles(data: list[dict]) -> list[Article]:
    """One article per SQuAD title, its paragraphs in order."""
    return [
        make_article(article_title(a), "\n\n".join(p["context"] for p in a["paragraphs"]), f"squad:{a['title']}",
                     article_date(a))
        for a in data
    ]


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token-level F1 between normalised strings; two empty strings score 1."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_score(metric, prediction: str, golds: list[str]) -> float:  # noqa: ANN001
    """Best score over the gold answers; an unanswerable question has ``golds == []``."""
    if not golds:
        return float(prediction == "")
    return max(metric(prediction, gold) for gold in golds)
