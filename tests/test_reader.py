import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import qa.reader
from qa import answer
from qa.ranking import ANSWER_FEATURES, rank_answers, readings
from qa.reader import CONFIG_FILE, Reader
from qa.retriever import Passage
from qa.span_model import (
    READER_DIR,
    WEIGHTS_FILE,
    ReaderError,
    best_spans,
    passage_header,
    reader_graph_key,
    trim_unpaired_marks,
)

SEED_WINDOW = (
    "He vowed to boost funding for police equipment, which he said had fallen by 17% in 2007-12. "
    "The interior minister added that 128 raids on suspected Islamist militants had been carried out "
    "overnight on Monday to Tuesday."
)


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()


def test_best_span_respects_length_context_and_sentences() -> None:
    start = np.array([[5.0, 0.0, 9.0, 1.0, 0.0, 0.0]])
    end = np.array([[5.0, 0.0, 0.0, 1.0, 0.0, 8.0]])
    one_sentence = np.array([[-1, -1, 0, 0, 0, 0]])
    [s], [e], [margin] = best_spans(start, end, one_sentence, max_tokens=4)
    assert (int(s), int(e)) == (2, 5) and float(margin) == pytest.approx(9 + 8 - 10)
    [s], [e], _ = best_spans(start, end, one_sentence, max_tokens=2)
    assert int(e) - int(s) < 2 and (int(s), int(e)) == (2, 3)
    # Position 0 (the no-answer token) and question tokens are never part of a span.
    [s], [e], _ = best_spans(start, end, np.array([[-1, -1, -1, 0, 0, -1]]), max_tokens=4)
    assert (int(s), int(e)) == (3, 3)
    # A span never runs from one sentence into the next.
    [s], [e], _ = best_spans(start, end, np.array([[-1, -1, 0, 0, 1, 1]]), max_tokens=4)
    assert (int(s), int(e)) == (2, 3)


@pytest.mark.parametrize(
    ("span", "trimmed"),
    [
        ("“Arthur", "Arthur"),
        ("The Simpsons”", "The Simpsons"),
        ('"A Machine to End War', "A Machine to End War"),
        ("‘Great Pestilence", "Great Pestilence"),
        ("“Arthur”", "“Arthur”"),
        ('to "ensure that the law is observed"', 'to "ensure that the law is observed"'),
        ("400 m (1,300 ft)", "400 m (1,300 ft)"),
        ("Dunkin’", "Dunkin’"),
        ("“", "“"),
    ],
)
def test_a_span_loses_a_quote_mark_or_bracket_whose_partner_it_lacks(span: str, trimmed: str) -> None:
    text = f"He said {span} again."
    start, end = trim_unpaired_marks(text, 8, 8 + len(span))
    assert text[start:end] == trimmed


@pytest.mark.slow
def test_a_quoted_title_is_answered_without_a_stray_quote_mark(reader: Reader) -> None:
    windows = ["The children's series “Arthur” aired its final episode on Monday after 25 seasons on PBS.",
               "“Succession” won outstanding drama series at the Emmys on Monday, beating “Severance”."]
    questions = ["Which beloved animated TV series came to an end this week after 25 seasons?",
                 "Which show won outstanding drama series?"]
    # Without the trimming the shipped readers' spans here have been "“Arthur" and "“Succession".
    found = [reader.read(q, [w])[0] for q, w in zip(questions, windows)]
    spans = [w[s.start : s.end] for w, s in zip(windows, found)]
    assert [span.strip("“”") for span in spans] == ["Arthur", "Succession"]
    assert all(span.count("“") == span.count("”") for span in spans)  # a mark is kept only with its partner


@pytest.mark.slow
def test_spans_stay_inside_their_window(reader: Reader) -> None:
    windows = [SEED_WINDOW, "Seven people were detained in Belgium over the weekend.", "x"]
    spans = reader.read("How many raids were carried out?", windows)
    assert len(spans) == 3
    for window, span in zip(windows, spans):
        assert span is not None and 0 <= span.start < span.end <= len(window)
        assert window[span.start : span.end] == window[span.start : span.end].strip()
    assert windows[0][spans[0].start : spans[0].end] == "128"
    for window, span in zip(windows, spans):
        assert ". " not in window[span.start : span.end]  # within one sentence
    assert spans[0].margin > spans[1].margin


@pytest.mark.slow
def test_spans_never_cross_the_sentence_bounds_they_are_given(reader: Reader) -> None:
    window = "Police carried out 128 raids overnight, the minister said."
    question = "What did police carry out overnight?"
    [free] = reader.read(question, [window])
    assert window[free.start : free.end] == "128 raids"
    cut = window.index("raids")  # a bound inside the answer the window would give
    [bounded] = reader.read(question, [window], [[0, cut]])
    assert bounded.end <= cut or bounded.start >= cut


@pytest.mark.slow
def test_header_is_read_but_never_answered_from(reader: Reader) -> None:
    question = "Who is the mayor of Port Ellis?"
    window = "Mayor Ana Reyes cut the ribbon on Saturday."
    header = passage_header("Harbour bridge reopens in Port Ellis", "2026-06-12")
    [plain], [titled] = reader.read(question, [window]), reader.read(question, [window], headers=[header])
    assert window[titled.start : titled.end] == "Ana Reyes"
    assert titled.margin > plain.margin  # the title says where the window is
    # The header can hold a better-looking answer: spans still come from the window only.
    for header in ("The mayor of Port Ellis is Tom Baker", "x " * 200):
        [span] = reader.read(question, [window], headers=[header])
        assert 0 <= span.start < span.end <= len(window)


@pytest.mark.slow
def test_onnx_reader_matches_the_torch_model(reader: Reader) -> None:
    # Windows of different lengths: the torch reader pads them into one batch, ONNX Runtime reads each unpadded.
    windows = [SEED_WINDOW, "Seven people were detained in Belgium over the weekend.", "x"]
    question = "How many raids were carried out?"
    onnx = reader.read(question, windows)
    torch_spans = Reader(backend="torch").read(question, windows)
    assert [(s.start, s.end) for s in onnx] == [(s.start, s.end) for s in torch_spans]
    assert [s.margin for s in onnx] == pytest.approx([s.margin for s in torch_spans], abs=1e-3)


@pytest.mark.slow
def test_a_cached_graph_needs_no_pytorch_model(reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    question, windows = "How many raids were carried out?", [SEED_WINDOW]
    exported = reader.read(question, windows)  # the module's reader exported the graph and cached it

    def no_export(model_dir: Path) -> None:
        raise AssertionError("the cached graph should have been used")

    monkeypatch.setattr(qa.reader, "load_span_model", no_export)
    assert Reader().read(question, windows) == exported


@pytest.mark.slow
def test_a_damaged_cached_graph_is_exported_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    cached = tmp_path / f"{reader_graph_key()}.onnx"
    cached.write_bytes(b"half a graph")
    [span] = Reader().read("How many raids were carried out?", [SEED_WINDOW])
    assert SEED_WINDOW[span.start : span.end] == "128"
    assert cached.stat().st_size > 1_000_000 and not list(tmp_path.glob("*.tmp"))


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        Reader(backend="tensorflow")


def _score(reader: Reader, question: str, window: str) -> float:
    passage = Passage("a", 0, 0, len(window), 0, len(window), ((0, len(window)),), 1.0, window)
    [best] = rank_answers(question, readings([passage], reader.read(question, [window])), reader)
    return best.score


@pytest.mark.slow
def test_window_without_the_answer_is_not_answered(reader: Reader) -> None:
    question = "How many raids were carried out?"
    assert _score(reader, question, "Seven people were detained in Belgium over the weekend.") < reader.threshold
    assert _score(reader, question, SEED_WINDOW) >= reader.threshold


@pytest.mark.slow
def test_calibration_is_monotonic_and_bounded(reader: Reader) -> None:
    base = {name: 0.0 for name in ANSWER_FEATURES}
    probs = [reader.probability({**base, "margin": m}) for m in range(-20, 21)]
    assert all(0 <= p <= 1 for p in probs)
    assert all(a < b for a, b in zip(probs, probs[1:]))
    # A later retrieval rank never raises an answer's score; more places giving it never lower it.
    assert reader.probability({**base, "log_rank": 1.0}) <= reader.probability(base)
    assert reader.probability({**base, "log_places": 1.0}) >= reader.probability(base)
    assert 0 < reader.threshold < 1


@pytest.mark.slow
def test_unanswerable_question_comes_back_empty(seeded_dir: Path) -> None:
    result = answer("What is the capital of Peru?", index_dir=seeded_dir)
    assert result.text == "" and not result.found and result.candidate is None  # said plainly, no unsure guess
    assert result.closest and all(ev.sentence for ev in result.closest)
    assert "don't say" in result.message


@pytest.mark.slow
def test_missing_weights_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="not found"):
        Reader(tmp_path).read("q", ["w"])


@pytest.mark.slow
def test_corrupt_or_mismatched_weights_are_a_clear_error(tmp_path: Path) -> None:
    shutil.copy(READER_DIR / CONFIG_FILE, tmp_path / CONFIG_FILE)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ReaderError, match="cannot be read"):
        Reader(tmp_path).read("q", ["w"])
    state = load_file(str(READER_DIR / WEIGHTS_FILE))
    state["span.weight"] = torch.zeros(2, 10, dtype=torch.float16)
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(ReaderError, match="do not match"):
        Reader(tmp_path).read("q", ["w"])


def test_shipped_config_is_complete() -> None:
    config = json.loads((READER_DIR / CONFIG_FILE).read_text())
    assert set(config["calibration"]["weights"]) == set(ANSWER_FEATURES) and config["calibration"]["weights"]["margin"] > 0
    assert 0 < config["threshold"] < 1 and 0 < config["stop_probability"] <= 1
