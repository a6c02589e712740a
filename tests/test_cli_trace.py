"""The `graphdiff table`, `activations`, `graph` and `demo` commands: output, and one-line
errors with exit code 2 for what a user can get wrong."""

from __future__ import annotations

import doctest
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import graphdiff as gd
from graphdiff import render
from graphdiff.cli import main

from corpus import LOGNORMAL

INTRO = "x1*x2 + sin(x1)"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_prints_the_trace(capsys):
    code, out, err = run(capsys, "table", INTRO, "--at", "x1=2", "x2=3", "--direction", "x1=1")
    expected = gd.trace(INTRO, x1=2.0, x2=3.0, direction={"x1": 1.0})
    assert (code, err) == (0, "")
    assert out == expected.to_text() + "\n"


@pytest.mark.parametrize("fmt, marker", [("markdown", "| var | definition |"),
                                         ("latex", r"\begin{tabular}"),
                                         ("html", "<table")])
def test_table_formats(capsys, fmt, marker):
    code, out, _ = run(capsys, "table", LOGNORMAL, "--at", "y=1.5", "mu=0.5", "sigma=2",
                       "--format", fmt, "--mode", "values")
    assert code == 0 and marker in out
    assert "Reverse sweep" not in out


def test_table_modes_and_digits(capsys):
    _, out, _ = run(capsys, "table", INTRO, "--at", "x1=2", "x2=3", "--direction", "x2=1",
                    "--mode", "forward", "--digits", "3")
    assert out.startswith("Forward sweep") and "direction x1 = 0, x2 = 1" in out
    assert "v4   0.909  v̇4 = cos(v1)·v̇1     0" in out
    _, out, _ = run(capsys, "table", INTRO, "--at", "x1=2", "x2=3", "--mode", "reverse")
    assert out.startswith("Reverse sweep")


@pytest.mark.parametrize("argv, message", [
    (["table", INTRO, "--at", "x1=2"], "--at: missing value for x2 (e.g. --at x2=1)"),
    (["table", INTRO], "--at: missing value for x1, x2"),
    (["table", INTRO, "--at", "x1=2", "x3=1"], "--at: unknown name 'x3'; the inputs are x1, x2"),
    (["table", INTRO, "--at", "x1=2", "x2"], "--at: expected NAME=VALUE, got 'x2'"),
    (["table", INTRO, "--at", "x1=2", "x2=three"], "--at: 'three' is not a number"),
    (["table", INTRO, "--at", "x1=2", "x1=3", "x2=1"], "--at: 'x1' given twice"),
    (["table", INTRO, "--at", "x1=2", "x2=3", "--direction", "z=1"],
     "--direction: unknown name 'z'"),
    (["table", INTRO, "--at", "x1=2", "x2=3", "--mode", "forward"],
     "--mode forward needs --direction"),
    (["table", INTRO, "--at", "x1=2", "x2=3", "--mode", "sideways"], "invalid choice"),
    (["table", "x1*x2 +", "--at", "x1=2"], "at column 8"),
    (["table", INTRO, "--at", "x1=2", "x2=3", "--digits", "0"], "--digits must be between 1 and 17"),
    (["graph", INTRO, "--format", "png"], "--format png needs an output file"),
    (["graph", INTRO, "-o", "/nonexistent/dir/g.dot"], "cannot write /nonexistent/dir/g.dot"),
])
def test_errors_are_one_line_with_exit_code_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("graphdiff: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_activations(capsys):
    code, out, _ = run(capsys, "activations")
    assert code == 0 and out == render.activations_table("text")
    assert "Logistic (a.k.a. Soft step)  [sigmoid]" in out
    for fmt in ("markdown", "latex", "html"):
        code, out, _ = run(capsys, "activations", "--format", fmt)
        assert code == 0 and out == render.activations_table(fmt)


def test_activations_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "act.png"
    code, out, err = run(capsys, "activations", "--plot", str(path))
    assert code == 0 and path.stat().st_size > 10_000
    assert "plotted" in err


def test_graph_dot(capsys, tmp_path):
    code, out, _ = run(capsys, "graph", INTRO)
    assert code == 0 and out == gd.parse(INTRO).to_dot()
    path = tmp_path / "g.dot"
    code, out, _ = run(capsys, "graph", INTRO, "-o", str(path))
    assert code == 0 and out == "" and path.read_text(encoding="utf-8") == gd.parse(INTRO).to_dot()


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_graph_drawings(capsys, tmp_path, fmt, magic):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"g.{fmt}"
    code, _, _ = run(capsys, "graph", LOGNORMAL, "--format", fmt, "-o", str(path))
    assert code == 0 and path.read_bytes().startswith(magic)
    # the format can also come from the file's suffix
    other = tmp_path / f"h.{fmt}"
    assert run(capsys, "graph", INTRO, "-o", str(other))[0] == 0
    assert other.read_bytes().startswith(magic)


def test_demo_prints_the_lognormal_table(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "v10  v9 - (0.5 log 2π)  -1.73709   ∂v10/∂v9 = 1" in out
    assert "v3   v̄3 = v̄5·(-v4·v3⁻²) + v̄8/v3  -0.375" in out
    assert "gradient: ∂f/∂y = v̄1 = -0.25, ∂f/∂mu = v̄2 = 0.25, ∂f/∂sigma = v̄3 = -0.375" in out


def test_the_installed_command_runs():
    run_ = subprocess.run([sys.executable, "-m", "graphdiff", "table", INTRO, "--at", "x1=2"],
                          capture_output=True, text=True, timeout=60)
    assert run_.returncode == 2
    assert run_.stderr == "graphdiff: error: --at: missing value for x2 (e.g. --at x2=1)\n"


DOCS = Path(__file__).resolve().parents[1] / "docs" / "reading-a-derivative-table.md"


def test_docs_page_shows_what_the_tool_prints(capsys):
    """Every `$ graphdiff ...` (or `$ python -c ...`) in the docs page is followed by
    exactly what it prints."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(\$ (?:graphdiff|python) .*?)```", text, re.S)
    assert len(blocks) >= 6
    for block in blocks:
        for session in re.split(r"^(?=\$ )", block, flags=re.M):
            if not session:
                continue
            command, _, shown = session.partition("\n")
            argv = shlex.split(command[2:])
            if argv[0] == "python":
                done = subprocess.run([sys.executable, *argv[1:]], capture_output=True,
                                      text=True, timeout=60)
                out, err = done.stdout, done.stderr
            else:
                _, out, err = run(capsys, *argv[1:])
            assert out + err == shown, command


def test_docs_page_python_examples():
    failures, tried = doctest.testfile(str(DOCS), module_relative=False,
                                       optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= 5 and failures == 0
