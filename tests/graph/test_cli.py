"""The `deepmmsearch` CLI: the demo, `ask` with good and bad input, machine-readable output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from graph.cli import main

BAD = "What country is this?"


def test_demo_prints_trace(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for part in ("reason", "crop", "image_search", "text_search", "reflect", "answer", "Paris", "refining"):
        assert part in out
    assert (tmp_path / "demo.png").is_file()
    assert list(tmp_path.glob("crop-1-*.png"))


def test_ask_json(capsys, demo_path):
    assert (
        main(
            [
                "ask",
                "--world",
                "fixture",
                "--image",
                str(demo_path),
                "--json",
                "What is the capital of the country whose flag is on the right?",
            ]
        )
        == 0
    )
    state = json.loads(capsys.readouterr().out)
    assert state["stop_reason"] == "answered"
    assert "Berlin" in state["answer"]
    assert [o["tool"] for o in state["observations"]] == ["crop", "image_search", "text_search"]


def test_ask_with_script_file(capsys, demo_path, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["<reason>I know it.</reason><answer>Tokyo</answer>"]))
    assert (
        main(["ask", "--world", "fixture", "--image", str(demo_path), "--script", str(script), "--json", "Capital?"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["answer"] == "Tokyo"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _bad_images(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 48), "red").save(good)
    tiff = tmp_path / "img.tiff"
    Image.new("RGB", (64, 48), "red").save(tiff)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)
    return {
        "missing": (tmp_path / "nope.png", "no such file"),
        "empty": (_write(tmp_path, "empty.png", b""), "file is empty"),
        "not an image": (_write(tmp_path, "text.png", b"hello, this is text"), "not an image"),
        "truncated": (_write(tmp_path, "cut.png", good.read_bytes()[:60]), "corrupt or truncated"),
        "unsupported": (tiff, "unsupported image format"),
        "bomb": (bomb, "large"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "not an image", "truncated", "unsupported", "bomb"])
def test_ask_bad_image_is_one_line_error(case, tmp_path, capsys):
    path, expected = _bad_images(tmp_path)[case]
    assert main(["ask", "--world", "fixture", "--image", str(path), BAD]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_ask_empty_question(demo_path, capsys):
    assert main(["ask", "--world", "fixture", "--image", str(demo_path), "   "]) == 2
    assert "question is empty" in capsys.readouterr().err


def test_ask_bad_script(demo_path, tmp_path, capsys):
    script = _write(tmp_path, "s.json", b"{not json")
    assert main(["ask", "--world", "fixture", "--image", str(demo_path), "--script", str(script), BAD]) == 2
    assert "cannot read the script" in capsys.readouterr().err


def test_console_script_exit_code(tmp_path):
    exe = Path(sys.executable).parent / "deepmmsearch"
    if not exe.exists():
        pytest.skip("console script not installed (run `make install`)")
    res = subprocess.run(
        [str(exe), "ask", "--image", str(tmp_path / "missing.png"), BAD], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "no such file" in res.stderr


def test_ask_with_a_missing_checkpoint(demo_path, tmp_path, capsys):
    assert main(["ask", "--world", "fixture", "--image", str(demo_path), "--policy", f"hf:{tmp_path}", BAD]) == 2
    assert "is not a model folder" in capsys.readouterr().err


def test_ask_script_and_policy_conflict(demo_path, tmp_path, capsys):
    script = _write(tmp_path, "s.json", b'["<answer>x</answer>"]')
    argv = ["ask", "--world", "fixture", "--image", str(demo_path), "--script", str(script), "--policy", "oracle", BAD]
    assert main(argv) == 2
    assert "cannot be combined" in capsys.readouterr().err


def test_ask_defaults_to_the_trained_policy_once_it_exists(demo_path, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from policy.tiny import init_tiny

    trained = tmp_path / "runs" / "main" / "rl" / "final"
    init_tiny(trained, size="test")
    monkeypatch.setattr("policy.default.TRAINED_POLICY", trained)
    argv = ["ask", "--world", "fixture", "--image", str(demo_path), "--json", "--max-turns", "2"]
    assert main([*argv, "--max-new-tokens", "8", "Capital?"]) == 0
    state = json.loads(capsys.readouterr().out)
    # the untrained tiny model writes no valid turn; the scripted plan (the fallback) would have answered
    assert state["counters"]["parse_errors"] >= 1 and state["counters"]["turns"] == 2
