import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEED
from ui.cli import main


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_ask_json_contract(capsys: pytest.CaptureFixture, seeded_dir: Path) -> None:
    code, out, _ = run(capsys, "ask", "--json", "How many raids?", "--index", str(seeded_dir))
    assert code == 0
    data = json.loads(out)
    assert data["answer"] == "128"
    assert 0 <= data["score"] <= 1
    assert "128" in data["sentence"]
    assert data["article"]["id"] and data["article"]["title"].startswith("France")
    text = SEED.read_text()
    assert data["sentence"] in text and data["end"] - data["start"] == 3


@pytest.mark.slow
def test_ask_plain_names_sentence_and_article(capsys: pytest.CaptureFixture, seeded_dir: Path) -> None:
    code, out, _ = run(capsys, "--index", str(seeded_dir), "ask", "How many raids?")
    assert code == 0
    first, *rest = out.splitlines()
    assert first == "128"
    assert any(line.strip().startswith("sentence:") and "128" in line for line in rest)
    assert any(line.strip().startswith("article:") and "2015-11-17" in line for line in rest)


@pytest.mark.slow
def test_min_confidence_makes_answers_unsure(capsys: pytest.CaptureFixture, seeded_dir: Path) -> None:
    code, out, _ = run(capsys, "ask", "How many raids?", "--min-confidence", "1", "--index", str(seeded_dir))
    first, second, *_ = out.splitlines()
    assert code == 0 and first.startswith("Possibly: 128 (") and first.endswith("%, unsure)")
    assert second.strip().startswith("sentence:") and "128" in second and "don't say for sure" in out
    code, out, _ = run(capsys, "ask", "--json", "How many raids?", "--min-confidence", "0", "--index", str(seeded_dir))
    assert json.loads(out)["answer"] == "128" and json.loads(out)["candidate"] is None
    for bad in ("2", "much"):
        with pytest.raises(SystemExit) as exit_:
            main(["ask", "How many raids?", "--min-confidence", bad, "--index", str(seeded_dir)])
        assert exit_.value.code == 2 and "--min-confidence" in capsys.readouterr().err


def test_blank_question_exits_non_zero(capsys: pytest.CaptureFixture, seeded_dir: Path) -> None:
    code, out, err = run(capsys, "ask", "  ", "--index", str(seeded_dir))
    assert code == 2 and out == "" and err.strip() == "error: the question is empty"


@pytest.mark.slow
def test_empty_index_message(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "ask", "--json", "How many raids?", "--index", str(tmp_path / "new"))
    assert code == 1 and json.loads(out)["answer"] == "" and "no articles indexed yet" in out
    code, out, err = run(capsys, "ask", "How many raids?", "--index", str(tmp_path / "new"))
    assert code == 1 and out == ""
    assert err.strip() == "error: no articles indexed yet: run `qa index add data/articles` for the bundled article, or `qa index add FILES`"


@pytest.mark.slow
def test_add_reports_bad_files_and_keeps_good_ones(capsys: pytest.CaptureFixture, index_dir: Path, quake_file: Path) -> None:
    bad = quake_file.parent / "broken.json"
    bad.write_text("{not json")
    binary = quake_file.parent / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02")
    missing = quake_file.parent / "missing.md"
    code, out, err = run(capsys, "index", "add", str(bad), str(quake_file), str(binary), str(missing), "--index", str(index_dir))
    assert code == 1
    errors = err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert f"error: {bad}: malformed JSON" in err and f"error: {binary}: binary file" in err
    assert f"error: {missing}: no such file" in err
    assert f"added: {quake_file}: “Earthquake strikes southern Turkey”" in out
    code, out, _ = run(capsys, "index", "stats", "--json", "--index", str(index_dir))
    assert json.loads(out)["articles"] == 2
    code, out, _ = run(capsys, "index", "add", str(quake_file), "--index", str(index_dir))
    assert code == 0 and f"already indexed: {quake_file}" in out and "index unchanged" in out


@pytest.mark.slow
def test_list_remove_rebuild(capsys: pytest.CaptureFixture, index_dir: Path) -> None:
    code, out, _ = run(capsys, "index", "list", "--json", "--index", str(index_dir))
    [article] = json.loads(out)
    assert article["sentences"] > 20 and article["date"] == "2015-11-17"
    code, out, _ = run(capsys, "index", "rebuild", "--index", str(index_dir))
    assert code == 0 and f"{article['sentences']} sentences" in out
    code, out, err = run(capsys, "index", "remove", "nope", "--index", str(index_dir))
    assert code == 1 and "no article with id nope" in err
    code, out, _ = run(capsys, "index", "remove", article["id"], "--index", str(index_dir))
    assert code == 0
    code, out, err = run(capsys, "ask", "How many raids?", "--index", str(index_dir))
    assert code == 1 and "no articles indexed yet" in err


def test_console_script_never_shows_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "QA_INDEX_DIR": str(tmp_path / "index")}
    qa = [sys.executable, "-m", "ui.cli"]
    proc = subprocess.run([*qa, "index", "add", str(tmp_path / "nothing.txt")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"error: {tmp_path / 'nothing.txt'}: no such file or folder"
    proc = subprocess.run([*qa, "ask", ""], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: the question is empty"
