"""Docs that cannot drift (issue 10): every page's Python blocks run in order, every REPL
line (`>>> ...`) and command line (`$ graphdiff ...`) in README.md and docs/ must print what
the page shows, and the report of each example a page quotes (`python examples/NAME.py`,
then its output) is rerun."""

from __future__ import annotations

import doctest
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from graphdiff.cli import main

ROOT = Path(__file__).resolve().parents[1]
# pages that are doctest files of their own tests (which also clean up what they register)
OWN_TESTS = {"graph-and-primitives.md": "tests/test_graph.py",
             "your-own-primitives.md": "tests/test_custom_primitives.py",
             "estimators.md": "tests/test_nn_estimators.py",  # needs the sklearn extra
             # its cluster block starts worker processes over 10^8 points
             "backends.md": "tests/test_backends.py"}
# pages whose blocks need an optional extra: skipped with the reason when it is missing
NEEDS = {"numba.md": "numba"}
ALL_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGES = [p for p in ALL_PAGES if p.name not in OWN_TESTS]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def blocks(page: Path) -> list[tuple[int, str, str]]:
    """(line, language, text) of each fenced block, in order."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1), m.group(2))
            for m in _FENCE.finditer(text)]


def is_session(text: str) -> bool:
    return any(line.startswith(">>> ") for line in text.splitlines())


@pytest.mark.parametrize("page", [p for p in PAGES if any(
    is_session(b[2]) for b in blocks(p))], ids=lambda p: p.name)
def test_every_repl_line_prints_what_the_page_shows(page, tmp_path, monkeypatch):
    if page.name in NEEDS:
        extra = NEEDS[page.name]
        pytest.importorskip(extra, reason=f"{page.name} needs the {extra} extra")
    monkeypatch.chdir(tmp_path)  # snippets may save files
    namespace: dict = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for line, language, text in blocks(page):
        if is_session(text):
            test = parser.get_doctest(text, namespace, page.name, str(page), line - 1)
            runner.run(test, clear_globs=False)
            namespace = test.globs  # a DocTest works on a copy
        elif language == "python":
            exec(compile(text, f"{page.name}:{line}", "exec"), namespace)
    assert runner.failures == 0, f"{runner.failures} REPL lines in {page.name} print " \
                                 "something else now (see the report above)"


_EXAMPLE = re.compile(r"`python examples/(\w+)\.py`")


def quoted_examples() -> list[tuple[Path, str, str]]:
    """(page, example, the output block after the sentence that names it)."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in _EXAMPLE.finditer(text):
            block = _FENCE.search(text, m.end())
            if block is not None:
                found.append((page, m.group(1), block.group(2)))
    return found


@pytest.mark.parametrize("page, name, shown", quoted_examples(),
                         ids=lambda v: v.name if isinstance(v, Path) else str(v)[:20])
def test_the_quoted_example_reports_are_what_the_examples_print(page, name, shown):
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}",
                                                  ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.report(module.run()) == shown.rstrip("\n"), \
        f"{page.name} quotes another report of examples/{name}.py than it prints now"


def shell_sessions() -> list[tuple[Path, int, str, str]]:
    """(page, line, command, the output shown) for each `$ graphdiff ...` line."""
    found = []
    for page in ALL_PAGES:
        if page.name == "your-own-primitives.md":  # its commands need its primitives
            continue
        for line, _, text in blocks(page):
            lines = text.splitlines()
            starts = [k for k, s in enumerate(lines) if s.startswith("$ ")] + [len(lines)]
            for k, end in zip(starts, starts[1:]):
                if lines[k].startswith("$ graphdiff "):
                    found.append((page, line + k, lines[k][2:], "\n".join(lines[k + 1:end])))
    return found


@pytest.mark.parametrize("page, line, command, shown", shell_sessions(),
                         ids=lambda v: v.name if isinstance(v, Path) else str(v)[:30])
def test_the_shown_command_lines_print_what_the_page_shows(capsys, page, line, command,
                                                           shown):
    main(shlex.split(command)[1:])
    out, err = capsys.readouterr()
    printed = [s.rstrip() for s in (out + err).rstrip("\n").splitlines()]
    assert printed == [s.rstrip() for s in shown.splitlines()], f"{page.name}:{line}"
