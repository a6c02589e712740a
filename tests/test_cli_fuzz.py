"""The command line under random and mutated arguments: every run ends with exit code 0 or 2,
at most one line on stderr and never a traceback (issue 10)."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from graphdiff.cli import main

EXPRESSIONS = [
    "x1*x2 + sin(x1)", "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)", "-x**2",
    "softmax_xent(x, y)", "one_hot(x, y)", "bce_with_logits_grad(x, y)",
    "sum(x, axis=10**30)", "sum(x, axis=0)", "x/0", "log(-x)", "x**y**z", "relu(x) - tanh(y)",
    "exp(exp(exp(x)))", "sqrt(x) @ y", "mean(x, keepdims=True)", "sigmoid(x)*softplus(x)",
    "__import__('os')", "x.real", "lambda: 0", "1e308*10", "x" * 200, "(" * 50 + "x" + ")" * 50,
]
OPTIONS = ["--at", "--direction", "--mode", "--format", "--digits", "--grad", "--wrt", "-o",
           "--output", "--plot", "--version", "--help", "--", "--dirction", "-x", "--show",
           "--standalone"]
VALUES = ["x=1", "x1=2", "x2=3", "y=0", "y=-1.5", "mu=0.5", "sigma=2", "z=nan", "x=inf",
          "x=1e400", "x=", "=1", "x", "x=1=2", "forward", "reverse", "values", "all", "text",
          "latex", "html", "markdown", "dot", "svg", "tikz", "tangents", "adjoints", "6", "0", "-3", "10**9", "x1,x2", ",",
          "é=1", "x\u0304=1", "\x00", " ", ""]
COMMANDS = ["demo", "parse", "table", "activations", "graph", "codegen", "tabel", ""]


def _mutate(rng: random.Random, text: str) -> str:
    """Delete, duplicate or replace a few characters, or blow a token up."""
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(chars) + 1)
        roll = rng.random()
        if roll < 0.3 and chars:
            del chars[min(k, len(chars) - 1)]
        elif roll < 0.6:
            chars.insert(k, rng.choice("()*+-/,.=x0123456789e _'\"\\ \u2202\U0001f600"))
        elif roll < 0.8 and chars:
            chars[min(k, len(chars) - 1)] = rng.choice("()*^@!%$#")
        else:
            chars.insert(k, rng.choice(["x" * 5000, "9" * 400, "(" * 300, "é" * 100]))
    return "".join(chars)


NAMES = ("x1", "x2", "mu", "sigma", "x", "y", "z")


def _valid(rng: random.Random, tmp: str) -> list[str]:
    """A command line that would mostly work: an expression and a value for its names."""
    command = rng.choice(["table", "table", "table", "parse", "codegen", "graph", "demo",
                          "activations"])
    expr = rng.choice(EXPRESSIONS)
    names = [n for n in NAMES if n in expr.replace("x1", "").replace("x2", "") or
             n in ("x1", "x2") and n in expr]
    point = [f"{n}={rng.choice(['0', '1', '-2.5', '0.5', '3e2'])}" for n in names]
    if command == "table":
        argv = [command, expr, "--at", *point]
        if names and rng.random() < 0.5:
            argv += ["--direction", f"{rng.choice(names)}=1", "--mode",
                     rng.choice(["forward", "all", "reverse", "values"])]
        if rng.random() < 0.5:
            argv += ["--format", rng.choice(["text", "markdown", "latex", "html"])]
        if rng.random() < 0.3:
            argv += ["--digits", str(rng.randint(1, 17))]
    elif command == "parse":
        argv = [command, expr] + (["--at", *point] if rng.random() < 0.5 else [])
    elif command == "codegen":
        argv = [command, expr] + (["--grad"] if rng.random() < 0.5 else [])
        if names and rng.random() < 0.3:
            argv += ["--wrt", ",".join(rng.sample(names, 1))]
        if rng.random() < 0.3:
            argv += ["-o", f"{tmp}/f.py"]
    elif command == "graph":
        argv = [command, expr] + (["-o", f"{tmp}/g.dot"] if rng.random() < 0.3 else [])
        if rng.random() < 0.5:  # text pictures only: matplotlib is slow
            argv += ["--format", rng.choice(["svg", "tikz"])]
            if rng.random() < 0.5:
                argv += ["--show", rng.choice(["values", "tangents", "adjoints"]), "--at",
                         *point] + (["--direction", f"{names[0]}=1"] if names else [])
    else:
        argv = [command]
    if rng.random() < 0.3:  # options before the expression
        argv = argv[:1] + argv[2:] + argv[1:2]
    return argv


def _argv(rng: random.Random, tmp: str) -> list[str]:
    """A valid command line, often broken: tokens dropped, added, swapped or mutated."""
    argv = _valid(rng, tmp)
    pool = EXPRESSIONS + OPTIONS + VALUES + COMMANDS
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        # the command itself is kept, but for one run in ten
        roll, k = rng.random(), rng.randrange(0 if rng.random() < 0.1 else 1, len(argv) + 1)
        if roll < 0.2 and len(argv) > 1:
            del argv[min(k, len(argv) - 1)]
        elif roll < 0.45:
            token = rng.choice(pool)
            if token in ("-o", "--output", "--plot"):
                # files only in the test's folder, and no drawings (matplotlib is slow)
                token = f"{token}={tmp}/out{rng.choice(['.py', '.dot', '.jpg', '', '.t'])}"
            argv.insert(k, token)
        elif roll < 0.55 and len(argv) > 2:
            i, j = rng.sample(range(1, len(argv)), 2)
            argv[i], argv[j] = argv[j], argv[i]
        elif argv:
            k = min(k, len(argv) - 1)
            argv[k] = _mutate(rng, argv[k])
    return argv


def _check(code: int, out: str, err: str, argv: list[str]) -> None:
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err and "Traceback" not in out, argv
    assert err.count("\n") <= 1, (argv, err)
    assert len(err) < 600, (argv, len(err))  # a bad token is quoted in part only
    if code == 2:
        assert err.startswith("graphdiff: error: "), (argv, err)


@pytest.mark.parametrize("seed", range(4))
def test_random_and_mutated_arguments_end_in_0_or_2(capsys, tmp_path, monkeypatch, seed):
    monkeypatch.chdir(tmp_path)  # a swapped -o may name a file after an expression
    rng = random.Random(seed)
    for _ in range(100):
        argv = _argv(rng, str(tmp_path))
        code = main(argv)
        out, err = capsys.readouterr()
        _check(code, out, err, argv)


REPRODUCTIONS = [
    ["table", "softmax_xent(x, y)", "--at", "x=0.5", "y=0"],
    ["table", "one_hot(x, y)", "--at", "x=0", "y=0"],
    ["codegen", "bce_with_logits_grad(x, y)", "--grad"],
    ["table", "sum(x, axis=10**30)", "--at", "x=1"],
]


@pytest.mark.parametrize("argv", REPRODUCTIONS, ids=lambda a: a[1])
def test_the_reported_tracebacks_are_one_line(capsys, argv):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    _check(2, out, err, argv)
    assert out == ""


def test_the_subprocess_exit_codes_and_streams():
    """The installed entry point, as a shell sees it: a traceback would show here."""
    for argv, code in [(REPRODUCTIONS[0], 2), (["--version"], 0),
                       (["table", "x", "--at", "x=1", "--digits", "99"], 2),
                       (["parse", "x" * 10**5], 0)]:
        done = subprocess.run([sys.executable, "-m", "graphdiff", *argv], capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == code, (argv, done.stderr)
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") <= 1
