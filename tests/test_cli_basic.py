"""The command line's basics: --help both ways, `parse` with and without a point, and bad
input reported in one line on stderr with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from graphdiff.cli import main


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("command", [["graphdiff"], [sys.executable, "-m", "graphdiff"]],
                         ids=["graphdiff", "python -m graphdiff"])
def test_help_works_both_ways(command):
    done = _run(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: graphdiff")
    for sub in ("demo", "parse"):
        assert sub in done.stdout
    assert done.stderr == ""


def test_installed_command_reports_errors_in_one_line():
    done = _run("graphdiff", "parse", "x.real")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("graphdiff: error:")
    assert "'.'" in done.stderr and "column 2" in done.stderr


def test_parse_prints_the_numbered_graph(capsys):
    assert main(["parse", "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"]) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == "inputs: y, mu, sigma"
    assert lines[1:] == ["v1 = y", "v2 = mu", "v3 = sigma", "v4 = v1 - v2", "v5 = v4/v3",
                         "v6 = v5**2", "v7 = -0.5*v6", "v8 = log(v3)", "v9 = v7 - v8",
                         "v10 = v9 - 0.9189385332046727"]


def test_parse_at_a_point_prints_the_value(capsys):
    assert main(["parse", "x1*x2 + sin(x1)", "--at", "x1=2", "x2=3"]) == 0
    out = capsys.readouterr().out
    assert "v3 = v1*v2" in out and "v4 = sin(v1)" in out and "v5 = v3 + v4" in out
    assert out.splitlines()[-1] == "value: 6.909297426825682"


def test_an_expression_starting_with_minus_after_double_dash(capsys):
    assert main(["parse", "--", "-x**2"]) == 0
    assert "v3 = -v2" in capsys.readouterr().out


def test_an_expression_starting_with_minus(capsys):
    assert main(["parse", "-0.5*x**2"]) == 0
    assert main(["table", "-0.5*((y - mu)/sigma)**2 - log(sigma)", "--at", "y=1", "mu=0",
                 "sigma=2"]) == 0
    assert main(["parse", "-x", "--at", "x=-2"]) == 0
    assert "value: 2.0" in capsys.readouterr().out


MISTAKES = [
    (["parse", "x +"], "end of input"),
    (["parse", "foo(x)"], "unknown function 'foo' at column 1"),
    (["parse", "__import__('os').system('echo pwned')"], "__import__"),
    (["parse", "(x"], "unclosed '(' at column 1"),
    (["parse", ""], "empty expression"),
    (["parse", "x*y", "--at", "x=1"], "missing value for input 'y'"),
    (["parse", "x", "--at", "z=1"], "unknown name 'z'"),
    (["parse", "x", "--at", "x"], "expected NAME=VALUE"),
    (["parse", "x", "--at", "x=abc"], "'abc' is not a number"),
    (["parse", "x", "--at", "x=1", "x=2"], "given twice"),
    (["parse"], "required: expr"),
    (["no-such-command"], "invalid choice"),
]


@pytest.mark.parametrize("argv,message", MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES])
def test_mistakes_are_one_line_with_exit_code_2(capsys, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("graphdiff: error: ")
    assert message in err
    assert "pwned" not in out


def test_no_command_prints_the_help(capsys):
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("usage: graphdiff")
