import gzip
import json
from pathlib import Path

import pytest

from index.text import normalize_answer
from qa.training.evaluate import coverage_curve, evaluate
from qa.training.squad import Question, best_score, exact_match, f1_score, sample

SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Paris_raids",
            "paragraphs": [
                {
                    "context": "Mr Cazeneuve said 128 more raids on suspected militants were carried out. "
                    "French air strikes also hit Islamic State in Syria overnight.",
                    "qas": [
                        {"id": "a", "question": "How many raids were carried out?",
                         "answers": [{"text": "128", "answer_start": 18}], "is_impossible": False},
                        {"id": "b", "question": "What is the capital of Peru?", "answers": [], "is_impossible": True},
                    ],
                }
            ],
        },
        {
            "title": "Quake",
            "paragraphs": [
                {
                    "context": "A magnitude 7.8 earthquake struck southern Turkey on Monday. "
                    "Rescue teams from 24 countries pulled survivors from collapsed buildings.",
                    "qas": [
                        {"id": "c", "question": "How many countries sent rescue teams?",
                         "answers": [{"text": "24", "answer_start": 79}], "is_impossible": False},
                    ],
                }
            ],
        },
    ],
}


@pytest.fixture
def squad_file(tmp_path: Path) -> Path:
    path = tmp_path / "mini-v2.0.json.gz"
    with gzip.open(path, "wt") as fh:
        json.dump(SQUAD, fh)
    return path


def test_official_normalisation_and_scores() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert exact_match("the 128", "128") == 1.0
    assert f1_score("128 more raids", "128 raids") == pytest.approx(0.8)
    assert best_score(f1_score, "", []) == 1.0 and best_score(f1_score, "x", []) == 0.0


@pytest.mark.slow
def test_open_corpus_report(squad_file: Path, tmp_path: Path) -> None:
    report = evaluate(squad_file, out_dir=tmp_path / "reports")
    assert report["questions"] == 3 and report["mode"] == "open-corpus"
    assert report["em"] == pytest.approx(100.0) and report["f1"] == pytest.approx(100.0)
    assert report["has_ans_f1"] == 100.0 and report["no_ans_accuracy"] == 100.0
    assert report["recall_at_1"] == report["recall_at_5"] == 1.0
    assert 0 < report["p50_ms"] <= report["p95_ms"]
    assert json.loads(Path(report["report"]).read_text())["f1"] == report["f1"]
    assert Path(report["report"]).with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    stem = Path(report["report"]).with_suffix("")
    assert json.loads(Path(f"{stem}-predictions.json").read_text()) == {"a": "128", "b": "", "c": "24"}
    na_probs = json.loads(Path(f"{stem}-na-probs.json").read_text())
    assert set(na_probs) == {"a", "b", "c"} and na_probs["b"] > max(na_probs["a"], na_probs["c"])


@pytest.mark.slow
def test_kept_index_is_reused_and_checked(squad_file: Path, tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    first = evaluate(squad_file, index_dir=kept)
    built = (kept / "index.sqlite").stat().st_mtime_ns
    assert evaluate(squad_file, index_dir=kept)["f1"] == first["f1"]
    assert (kept / "index.sqlite").stat().st_mtime_ns == built
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"version": "1.1", "data": SQUAD["data"][:1]}))
    with pytest.raises(ValueError, match="another corpus"):
        evaluate(other, index_dir=kept)


@pytest.mark.slow
def test_reader_only_report(squad_file: Path) -> None:
    report = evaluate(squad_file, reader_only=True)
    assert report["mode"] == "reader-only" and "recall_at_5" not in report
    assert report["has_ans_f1"] == 100.0 and report["no_ans_accuracy"] == 100.0


def test_limit_is_a_fixed_sample() -> None:
    questions = [Question(str(i), f"q{i}", ["a"], "c") for i in range(100)]
    assert sample(questions, 10) == sample(questions, 10)
    assert len({q.id for q in sample(questions, 10)}) == 10 and sample(questions, 10) != questions[:10]
    assert sample(questions, None) == questions


def test_coverage_curve() -> None:
    curve = coverage_curve([(0.9, 1.0), (0.2, 0.0), (0.5, 1.0), (0.1, 0.0)])
    assert curve == [(0.25, 1.0), (0.5, 1.0), (0.75, 2 / 3), (1.0, 0.5)]


@pytest.mark.slow
def test_parts_are_a_fixed_split_and_only_their_questions_are_asked(squad_file: Path) -> None:
    from qa.training.squad import PARTS, part_of

    counts = {name: 0 for name in PARTS}
    for i in range(2000):
        counts[part_of({"title": f"CNN news quiz {i}"})] += 1
    assert 0.35 < counts["train"] / 2000 < 0.45 and 0.15 < counts["calibration"] / 2000 < 0.25
    for name in {part_of(a) for a in SQUAD["data"]}:
        asked = sum(len(p["qas"]) for a in SQUAD["data"] if part_of(a) == name for p in a["paragraphs"])
        report = evaluate(squad_file, part=name)
        assert report["questions"] == asked and report["part"] == name
    with pytest.raises(ValueError, match="part must be one of"):
        evaluate(squad_file, part="dev")


@pytest.mark.slow
def test_report_has_calibration_and_a_kept_index_counts_repeated_texts_once(tmp_path: Path) -> None:
    repeated = tmp_path / "repeated.json"
    repeated.write_text(json.dumps({"version": "1.1", "data": SQUAD["data"] + [dict(SQUAD["data"][1], title="Quake again")]}))
    first = evaluate(repeated, index_dir=tmp_path / "kept")
    assert evaluate(repeated, index_dir=tmp_path / "kept")["f1"] == first["f1"]  # reused, not "another corpus"
    assert 0 <= first["ece"] <= 1 and sum(row["answers"] for row in first["reliability"]) == first["questions"]
    assert first["threshold"] > 0


def test_the_shared_data_sets_are_found_beside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.training.squad import SHARED_DIR_VARIABLE, shared_data
    from tests.conftest import ROOT

    monkeypatch.delenv(SHARED_DIR_VARIABLE, raising=False)
    assert shared_data("squad", "dev-v1.1.json.gz") == ROOT.parent / "shared" / "data" / "squad" / "dev-v1.1.json.gz"
    monkeypatch.setenv(SHARED_DIR_VARIABLE, "/data/qa")
    assert shared_data("news") == Path("/data/qa/data/news")
