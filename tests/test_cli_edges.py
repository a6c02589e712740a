"""The command line at its edges (issue 10): option order, --version, --debug, clipped
quotes, bounded --digits, graph formats and sizes, and terminals without Unicode."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import graphdiff
from graphdiff import cli
from graphdiff.cli import ascii_notation, main
from graphdiff.render import text_grid


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_options_may_come_before_the_expression(capsys):
    after = run(capsys, "table", "x*y", "--at", "x=2", "y=3", "--direction", "x=1")
    before = run(capsys, "table", "--at", "x=2", "y=3", "--direction", "x=1", "x*y")
    between = run(capsys, "table", "--at", "x=2", "y=3", "x*y", "--direction", "x=1")
    assert after[0] == 0 and after == before == between
    assert run(capsys, "parse", "--at", "x=-2", "-x")[1].endswith("value: 2.0\n")


def test_a_misspelled_option_after_the_point_is_named(capsys):
    code, out, err = run(capsys, "table", "x*y", "--at", "x=1", "y=2", "--dirction", "x=1")
    assert code == 2 and out == ""
    assert err == "graphdiff: error: unrecognized arguments: --dirction x=1\n"


def test_version(capsys):
    assert run(capsys, "--version") == (0, f"graphdiff {graphdiff.__version__}\n", "")


def test_a_huge_token_is_quoted_in_part(capsys):
    name = "q" * 10**6
    code, _, err = run(capsys, "parse", "x", "--at", f"{name}=1")
    assert code == 2 and err.count("\n") == 1 and len(err) < 300
    assert "characters]" in err and err.endswith("qqq'; the inputs are x\n")


@pytest.mark.parametrize("digits, ok", [("1", True), ("17", True), ("0", False), ("18", False),
                                        ("10**9", False), ("-3", False)])
def test_digits_are_bounded(capsys, digits, ok):
    code, out, err = run(capsys, "table", "x", "--at", "x=1", "--digits", digits)
    assert (code == 0) == ok
    if not ok:
        assert code == 2 and "--digits" in err and out == ""


def test_an_internal_error_points_to_debug(capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "demo", ("help", cli._args_none, broken))
    code, out, err = run(capsys, "demo")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "internal error" in err and "--debug" in err
    with pytest.raises(RuntimeError, match="a bug"):
        main(["demo", "--debug"])


@pytest.mark.parametrize("name", ["g.jpg", "g.jpeg", "g.gif", "g.txt"])
def test_graph_refuses_a_format_it_cannot_write(capsys, tmp_path, name):
    code, _, err = run(capsys, "graph", "x*y", "-o", str(tmp_path / name))
    assert code == 2 and "cannot write ." in err
    assert not (tmp_path / name).exists()


def test_graph_format_and_suffix_must_agree(capsys, tmp_path):
    code, _, err = run(capsys, "graph", "x*y", "--format", "png", "-o", str(tmp_path / "g.svg"))
    assert code == 2 and "does not match" in err
    assert run(capsys, "graph", "x*y", "-o", str(tmp_path / "g.gv"))[0] == 0
    assert (tmp_path / "g.gv").read_text().startswith("digraph")


def test_graph_refuses_a_huge_picture_and_says_how_to_get_dot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    chain = "x" + "".join(f" * sin(x + {k})" for k in range(40))  # ~120 layers deep
    code, _, err = run(capsys, "graph", chain, "-o", str(tmp_path / "g.png"))
    assert code == 2 and "pixels" in err and "-o graph.dot" in err
    assert not (tmp_path / "g.png").exists()


def test_unencodable_output_falls_back_to_ascii(capsys, monkeypatch):
    stream = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    monkeypatch.setattr(sys, "stdout", stream)
    assert main(["table", "x1*x2 + sin(x1)", "--at", "x1=2", "x2=3"]) == 0
    stream.seek(0)
    text = stream.read()
    assert text.isascii()
    assert "dv4/dv1 = cos v1 = -0.416147" in text and "bar_v3 = bar_v5" in text


def test_ascii_notation_keeps_the_columns_aligned():
    rows = [[["v2"], ["v̄2 = v̄3"], ["1"]], [["v1"], ["v̄1 = v2⁻²·∂v3/∂v1", "…"], ["-1"]]]
    lines = ascii_notation("\n".join(text_grid(["var", "adjoint", "v̄i"], rows))).splitlines()
    assert lines == ["var  adjoint                 bar_vi",
                     "---  ----------------------  ------",
                     "v2   bar_v2 = bar_v3         1",
                     "v1   bar_v1 = v2^-2*dv3/dv1  -1",
                     "     ..."]


def test_a_cp1252_terminal_in_a_subprocess():
    env = dict(os.environ, PYTHONIOENCODING="cp1252")
    done = subprocess.run([sys.executable, "-m", "graphdiff", "demo"], capture_output=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.isascii() and b"df/dsigma = bar_v3 = -0.375" in done.stdout
