"""`graphdiff codegen EXPR [--grad] [--wrt a,b] [-o FILE]`: prints or writes the generated
module; mistakes are one line on stderr and exit code 2."""

from __future__ import annotations

import ast
import importlib.util
import math
import subprocess
import sys

import pytest

from graphdiff.cli import main

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _load(path, name: str = "generated"):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _function(source: str) -> ast.FunctionDef:
    (fn,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)
             and not n.name.startswith("_")]
    return fn


def _generated(source: str):
    """The public function of a printed module (graphdiff's own output, run as a user would)."""
    namespace: dict = {}
    exec(compile(source, "<codegen>", "exec"), namespace)  # noqa: S102
    return namespace[_function(source).name]


def test_prints_the_forward_module(capsys):
    code, out, err = _run(capsys, "codegen", LOGNORMAL)
    assert code == 0 and err == ""
    assert out.startswith("import numpy as np\n")
    fn = _function(out)
    assert [a.arg for a in fn.args.args] == ["y", "mu", "sigma"]
    assert "    v4 = y - mu" in out.splitlines()
    value = _generated(out)(1.5, 0.5, 2.0)
    assert value == pytest.approx(-0.125 - math.log(2.0) - 0.5 * math.log(2 * math.pi))


def test_grad_prints_the_value_and_gradient_module(capsys):
    code, out, _ = _run(capsys, "codegen", "x1*x2 + sin(x1)", "--grad")
    assert code == 0
    assert "bar_" in out or "grad_" in out
    value, (g1, g2) = _generated(out)(2.0, 3.0)
    assert value == pytest.approx(6 + math.sin(2.0))
    assert (g1, g2) == (pytest.approx(3 + math.cos(2.0)), pytest.approx(2.0))


def test_wrt_selects_the_gradients_in_order(capsys):
    code, out, _ = _run(capsys, "codegen", LOGNORMAL, "--grad", "--wrt", "sigma, mu")
    assert code == 0
    _, grads = _generated(out)(1.5, 0.5, 2.0)
    assert grads == (pytest.approx(-0.375), pytest.approx(0.25))


def test_wrt_alone_implies_grad(capsys):
    assert _run(capsys, "codegen", LOGNORMAL, "--wrt", "mu")[1] == \
        _run(capsys, "codegen", LOGNORMAL, "--grad", "--wrt", "mu")[1]


def test_output_file_is_a_module_that_imports_and_runs(capsys, tmp_path):
    path = tmp_path / "lognormal_grad.py"
    code, out, err = _run(capsys, "codegen", LOGNORMAL, "--grad", "-o", str(path))
    assert code == 0 and err == ""
    assert out.count("\n") == 1 and str(path) in out  # one line saying what was written
    module = _load(path)
    value, (dy, dmu, dsigma) = module.value_and_grad(y=1.5, mu=0.5, sigma=2.0)
    assert value == pytest.approx(-0.125 - math.log(2.0) - 0.5 * math.log(2 * math.pi))
    assert (dy, dmu, dsigma) == (pytest.approx(-0.25), pytest.approx(0.25),
                                 pytest.approx(-0.375))
    # the file holds exactly what the command prints without -o
    assert path.read_text() == _run(capsys, "codegen", LOGNORMAL, "--grad")[1]


@pytest.mark.parametrize("argv, message", [
    (["codegen", "x1*x2", "--wrt", "x3"], "'x3'"),
    (["codegen", "x1*x2", "--grad", "--wrt", "x1,nope"], "'nope'"),
    (["codegen", "x1*x2", "--wrt", " , "], "--wrt"),
    (["codegen", "x1*x2 +"], "column"),
    (["codegen", "__import__('os')"], "column"),
    (["codegen"], "expr"),
    (["codegen", "x", "--bogus"], "--bogus"),
])
def test_mistakes_are_one_line_with_exit_code_2(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("graphdiff: error:") and message in err


def test_unwritable_output_is_one_line(capsys, tmp_path):
    code, out, err = _run(capsys, "codegen", "x*y", "-o", str(tmp_path / "missing" / "f.py"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "cannot write" in err


def test_listed_in_the_help(capsys):
    assert main([]) == 0
    assert "codegen" in capsys.readouterr().out


def test_runs_as_a_command():
    done = subprocess.run([sys.executable, "-m", "graphdiff", "codegen", "x*y", "--wrt", "q"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "'q'" in done.stderr
