"""Printing traces, graphs and the activation table: golden files for the lecture's examples,
the notation rules, 80-column text, LaTeX that parses (and compiles where LaTeX is
installed), valid HTML, well-formed Markdown and DOT.

Golden files live in tests/golden/; regenerate them only on purpose, with
``GRAPHDIFF_REGEN_GOLDEN=1 python -m pytest tests/test_render.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import render
from graphdiff.render import (format_value, formula_latex, formula_text, latex_to_text,
                              width)

from corpus import LOGNORMAL

GOLDEN = Path(__file__).parent / "golden"


def lognormal() -> gd.Trace:
    return gd.trace(LOGNORMAL, y=1.5, mu=0.5, sigma=2.0)


def intro() -> gd.Trace:
    return gd.trace("x1*x2 + sin(x1)", x1=2.0, x2=3.0, direction={"x1": 1.0})


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GRAPHDIFF_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


# --- golden files ----------------------------------------------------------------------------

def test_golden_lognormal_text():
    check_golden("lognormal.txt", lognormal().to_text() + "\n")


def test_golden_intro_text():
    check_golden("intro.txt", intro().to_text() + "\n")


def test_golden_lognormal_latex():
    check_golden("lognormal.tex", lognormal().to_latex())


def test_golden_intro_markdown_and_html():
    check_golden("intro.md", intro().to_markdown())
    check_golden("intro.html", intro().to_html() + "\n")


def test_golden_activations():
    check_golden("activations.txt", render.activations_table("text"))
    check_golden("activations.md", render.activations_table("markdown"))


# --- the lecture's notation -------------------------------------------------------------------

# The lecture's table (section "Automatic differentiation"), cell by cell.  One change: the
# lecture writes (v_5)^2 for v6 but v_3^{-2} in v5's partial; graphdiff writes both as
# subscripted bases with superscripts, v_5^2 and v_3^{-2}.
LECTURE_ROWS = [
    ("v_1", "y", []),
    ("v_2", r"\mu", []),
    ("v_3", r"\sigma", []),
    ("v_4", "v_1 - v_2", [r"\partial v_4 / \partial v_1 = 1", r"\partial v_4 / \partial v_2 = -1"]),
    ("v_5", "v_4 / v_3", [r"\partial v_5 / \partial v_4 = 1 / v_3",
                          r"\partial v_5 / \partial v_3 = -v_4 v_3^{-2}"]),
    ("v_6", "v_5^2", [r"\partial v_6 / \partial v_5 = 2v_5"]),
    ("v_7", "(-0.5)v_6", [r"\partial v_7 / \partial v_6 = -0.5"]),
    ("v_8", r"\log v_3", [r"\partial v_8 / \partial v_3 = 1 / v_3"]),
    ("v_9", "v_7 - v_8", [r"\partial v_9 / \partial v_7 = 1", r"\partial v_9 / \partial v_8 = -1"]),
    ("v_{10}", r"v_9 - (0.5 \log 2\pi)", [r"\partial v_{10} / \partial v_9 = 1"]),
]


def test_lognormal_latex_cells_are_the_lectures():
    t = lognormal()
    latex = render.LATEX
    got = []
    for r in t.rows:
        definition = latex.input(r.input) if r.definition is None else formula_latex(r.definition)
        partials = [f"{latex.partial(latex.var(r.name), latex.var(k))} = "
                    f"{formula_latex(p.formula)}" for k, p in r.partials.items()]
        got.append((latex.var(r.name), definition, partials))
    assert got == LECTURE_ROWS
    # and the LaTeX table carries them, each partial followed by its number
    table = t.to_latex("values")
    assert r"$v_5$ & $v_4 / v_3$ & $0.5$ & $\partial v_5 / \partial v_4 = 1 / v_3 = 0.5 " \
           r"\quad \partial v_5 / \partial v_3 = -v_4 v_3^{-2} = -0.25$ \\" in table


def test_lognormal_text_rows():
    text = lognormal().to_text("values")
    for line in ["v5   v4/v3              0.5        ∂v5/∂v4 = 1/v3 = 0.5",
                 "                                   ∂v5/∂v3 = -v4·v3⁻² = -0.25",
                 "v6   v5²                0.25       ∂v6/∂v5 = 2·v5 = 1",
                 "v7   -0.5·v6            -0.125     ∂v7/∂v6 = -0.5",
                 "v8   log v3             0.693147   ∂v8/∂v3 = 1/v3 = 0.5",
                 "v10  v9 - (0.5 log 2π)  -1.73709   ∂v10/∂v9 = 1"]:
        assert line in text.splitlines()


def test_intro_sweeps_read_like_the_textbook():
    lines = intro().to_text().splitlines()
    assert any(line.split()[2:] == ["v̇3", "=", "v̇1·v2", "+", "v1·v̇2", "3"] for line in lines
               if line.startswith("v3 "))
    assert "v4   0.909297  v̇4 = cos(v1)·v̇1     -0.416147" in lines
    assert "v1   v̄1 = v̄3·v2 + v̄4·cos v1  2.58385" in lines
    assert "directional derivative = v̇5 = 2.58385" in lines
    assert "gradient: ∂f/∂x1 = v̄1 = 2.58385, ∂f/∂x2 = v̄2 = 2" in lines


@pytest.mark.parametrize("expr, text", [
    ("a + (-b)", "a - b"),
    ("a - (b - c)", "a - (b - c)"),
    ("a - (-b)", "a - (-b)"),
    ("a*(-b)", "a·(-b)"),
    ("-(a + b)", "-(a + b)"),
    ("(a + b)**2", "(a + b)²"),
    ("(-a)**-3", "(-a)⁻³"),
    ("a**0.5 + a**b + a**(b + 1)", "a^0.5 + a^b + a^(b + 1)"),
    ("sin(a)*b + b*sin(a)", "sin(a)·b + b·sin a"),
    ("sin(a)**2 + log(2*pi)/a", "(sin a)² + (log 2π)/a"),  # a folded constant: one value
    ("sqrt(a) + exp(a)", "sqrt(a) + exp a"),
    ("a/(b*c) + a/b*c", "a/(b·c) + a/b·c"),
    ("sigmoid(a) + isru(a, alpha=0.5) + hypot(a, b)", "sigmoid(a) + isru(a, alpha=0.5) + hypot(a, b)"),
    ("2*pi*a", "(2π)·a"),
])
def test_text_notation(expr, text):
    assert render.expression(gd.parse(expr)) == text


@pytest.mark.parametrize("expr, latex", [
    ("-0.5*a", "(-0.5)a"),
    ("2*a + a*2", r"2a + a \cdot 2"),
    ("a**-2 + a**10", "a^{-2} + a^{10}"),
    ("sqrt(a) + log(a) + softsign(a)", r"\sqrt{a} + \log a + \operatorname{softsign}(a)"),
    ("x1*sigma", r"x_1 \sigma"),
    ("1e-05*a", r"10^{-5}a"),
])
def test_latex_notation(expr, latex):
    assert render.expression(gd.parse(expr), render.LATEX) == latex


def test_formula_printers_share_the_rows_formulas():
    r = intro()["v3"]
    assert formula_text(r.tangent_formula) == "v̇1·v2 + v1·v̇2"
    assert formula_latex(r.tangent_formula) == r"\dot{v}_1 v_2 + v_1 \dot{v}_2"
    assert render.formula_html(r.tangent_formula) == \
        "v̇<sub>1</sub>·v<sub>2</sub> + v<sub>1</sub>·v̇<sub>2</sub>"


def test_format_value():
    assert format_value(-1.737085713764618) == "-1.73709"
    assert format_value(-0.0) == "0"
    assert format_value(float("nan")) == "nan"
    assert format_value(2.0, digits=3) == "2"
    assert format_value(np.arange(3.0)) == "[0 1 2] (3,)"
    assert format_value(np.arange(12.0).reshape(3, 4)) == "[0 1 … 11] (3, 4)"
    assert format_value(1.5e-7, nota=render.LATEX) == r"1.5 \times 10^{-7}"


# --- layout -----------------------------------------------------------------------------------

def _columns(line: str) -> list[int]:
    """Display columns where a character follows a run of two spaces (cell starts)."""
    cols, col, spaces = [], 0, 0
    for c in line:
        w = width(c)
        if w == 0:
            continue
        if c != " " and spaces >= 2:
            cols.append(col)
        spaces = spaces + 1 if c == " " else 0
        col += w
    return cols


@pytest.mark.parametrize("make", [lognormal, intro])
@pytest.mark.parametrize("mode", ["values", "forward", "reverse", "all"])
def test_text_fits_80_columns_and_aligns(make, mode):
    t = make()
    if mode == "forward" and t.direction is None:
        t = gd.trace(t.graph, direction={t.graph.inputs[0]: 1.0}, **t.point)
    text = t.to_text(mode)
    lines = text.splitlines()
    assert max(width(line) for line in lines) <= 80
    # in every table, each cell starts where its column's rule starts
    for k, line in enumerate(lines):
        if line.startswith("───"):
            starts = set(_columns(line.replace("─", "x")))
            for row in lines[k + 1:]:
                if not row:
                    break
                assert set(_columns(row)) <= starts | {0}, row


# --- LaTeX ------------------------------------------------------------------------------------

def check_latex(doc: str) -> None:
    """Balanced braces and environments; in each table every row has the header's cells."""
    plain = doc.replace(r"\{", "").replace(r"\}", "").replace(r"\\", "")
    depth = 0
    for c in plain:
        depth += (c == "{") - (c == "}")
        assert depth >= 0
    assert depth == 0
    envs = re.findall(r"\\(begin|end)\{(\w+)\}", doc)
    stack = []
    for kind, env in envs:
        if kind == "begin":
            stack.append(env)
        else:
            assert stack.pop() == env
    assert not stack
    for m in re.finditer(r"\\begin\{(tabular|array)\}\{(l+)\}(.*?)\\end\{\1\}", doc, re.S):
        cols = len(m.group(2))
        body = m.group(3)
        if "\\begin{array}" in body or "\\begin{cases}" in body:
            continue
        for row in body.split(r"\\"):
            row = row.replace(r"\hline", "").strip()
            if row:
                assert row.count("&") == cols - 1, row
                assert row.count("$") % 2 == 0, row


@pytest.mark.parametrize("make", [lognormal, intro])
def test_latex_parses(make):
    t = make()
    check_latex(t.to_latex())
    check_latex(t._repr_latex_())
    assert t._repr_latex_().startswith("$$\\begin{array}")
    check_latex(render.activations_table("latex"))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles(tmp_path):
    x = np.linspace(0.0, 1.0, 7)
    body = "\n\n".join([lognormal().to_latex(), intro().to_latex(),
                        gd.trace("sigmoid(w*x + b) + isru(x, 0.5)", w=x, x=0.3,
                                 b=1e-5).to_latex(),
                        render.activations_table("latex")])
    (tmp_path / "t.tex").write_text(
        "\\documentclass{article}\n\\usepackage{amsmath}\n"
        "\\usepackage[margin=5mm,paperwidth=60cm,paperheight=40cm]{geometry}\n"
        "\\begin{document}\n" + body + "\n\\end{document}\n", encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


# --- HTML and Markdown ------------------------------------------------------------------------

class _TableChecker(HTMLParser):
    """Nesting of tags, and the same number of cells in every row of a table."""

    VOID = {"br"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.rows: list[int] = []
        self.tables: list[list[int]] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self.tables[-1].append(0)
        if tag in ("td", "th"):
            assert self.stack[-1] == "tr"
            self.tables[-1][-1] += 1
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack.pop() == tag, f"unexpected </{tag}>"


def check_html(doc: str) -> int:
    checker = _TableChecker()
    checker.feed(doc)
    checker.close()
    assert not checker.stack, f"unclosed {checker.stack}"
    for rows in checker.tables:
        assert rows and len(set(rows)) == 1, rows
    return len(checker.tables)


def test_html_is_valid():
    assert check_html(lognormal().to_html()) == 2
    assert check_html(intro().to_html()) == 3
    assert check_html(intro()._repr_html_()) == 3
    assert check_html(gd.parse(LOGNORMAL)._repr_html_()) == 1
    assert check_html(render.activations_table("html")) == 1
    assert "<td>v<sub>5</sub></td><td>v<sub>4</sub>/v<sub>3</sub></td>" in lognormal().to_html()


def test_markdown_tables_are_well_formed():
    for doc in [lognormal().to_markdown(), intro().to_markdown(),
                render.activations_table("markdown")]:
        tables = [line for line in doc.splitlines() if line.startswith("|")]
        counts = {len(re.findall(r"(?<!\\)\|", line)) for line in tables}
        assert len(tables) > 3
        assert all(len(re.findall(r"(?<!\\)\|", line)) in counts for line in tables)
        # one count per table: headers and rows agree
        for block in doc.split("\n\n"):
            rows = [line for line in block.splitlines() if line.startswith("|")]
            assert len({len(re.findall(r"(?<!\\)\|", r)) for r in rows}) <= 1


# --- the activation table -----------------------------------------------------------------

# The lecture's rows (section "Activation functions"), without the citation marks; the
# softsign cells keep the |x| that the lecture's typesetting shows.
LECTURE_ACTIVATIONS = [
    ("Identity", "f(x) = x", "f'(x) = 1", r"(-\infty, \infty)", r"C^\infty", "Yes", "Yes", "Yes"),
    ("Binary step",
     r"f(x) = \begin{cases} 0 & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
     r"f'(x) = \begin{cases} 0 & \text{for } x \neq 0 \\ ? & \text{for } x = 0 \end{cases}",
     r"\{0, 1\}", "C^{-1}", "Yes", "No", "No"),
    ("Logistic (a.k.a. Soft step)", r"f(x) = \frac{1}{1 + e^{-x}}", "f'(x) = f(x)(1 - f(x))",
     "(0, 1)", r"C^\infty", "Yes", "No", "No"),
    ("TanH", r"f(x) = \tanh(x) = \frac{2}{1 + e^{-2x}} - 1", "f'(x) = 1 - f(x)^2", "(-1, 1)",
     r"C^\infty", "Yes", "No", "Yes"),
    ("ArcTan", r"f(x) = \tan^{-1}(x)", r"f'(x) = \frac{1}{x^2 + 1}",
     r"\left(-\frac{\pi}{2}, \frac{\pi}{2}\right)", r"C^\infty", "Yes", "No", "Yes"),
    ("Softsign", r"f(x) = \frac{x}{1 + |x|}", r"f'(x) = \frac{1}{(1 + |x|)^2}", "(-1, 1)",
     "C^1", "Yes", "No", "Yes"),
    ("Inverse square root unit (ISRU)", r"f(x) = \frac{x}{\sqrt{1 + \alpha x^2}}",
     r"f'(x) = \left(\frac{1}{\sqrt{1 + \alpha x^2}}\right)^3",
     r"\left(-\frac{1}{\sqrt{\alpha}}, \frac{1}{\sqrt{\alpha}}\right)", r"C^\infty",
     "Yes", "No", "Yes"),
    ("Rectified linear unit (ReLU)",
     r"f(x) = \begin{cases} 0 & \text{for } x < 0 \\ x & \text{for } x \geq 0 \end{cases}",
     r"f'(x) = \begin{cases} 0 & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
     r"[0, \infty)", "C^0", "Yes", "Yes", "No"),
    ("Leaky rectified linear unit (Leaky ReLU)",
     r"f(x) = \begin{cases} 0.01x & \text{for } x < 0 \\ x & \text{for } x \geq 0 \end{cases}",
     r"f'(x) = \begin{cases} 0.01 & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
     r"(-\infty, \infty)", "C^0", "Yes", "Yes", "No"),
    ("Parametric rectified linear unit (PReLU)",
     r"f(\alpha, x) = \begin{cases} \alpha x & \text{for } x < 0 \\ x & \text{for } x \geq 0 \end{cases}",
     r"f'(\alpha, x) = \begin{cases} \alpha & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
     r"(-\infty, \infty)", "C^0", r"Yes iff $\alpha \geq 0$", "Yes", r"Yes iff $\alpha = 1$"),
]


def test_activation_rows_are_the_lectures():
    # the lecture's ten, then GELU (exact and tanh), which the lecture's table lacks
    rows = render.activation_rows()
    assert [r[:8] for r in rows[:10]] == LECTURE_ACTIVATIONS
    assert [r[8] for r in rows[10:]] == ["gelu", "gelu_tanh"]
    md = render.activations_table("markdown")
    for row in LECTURE_ACTIVATIONS:
        assert f"| {row[0]} |" in md
    assert render.activations_table("latex").count(r"\\") >= len(LECTURE_ACTIVATIONS)


@pytest.mark.parametrize("latex, text", [
    (r"f(x) = \frac{1}{1 + e^{-x}}", "f(x) = 1/(1 + e⁻ˣ)"),
    (r"f'(x) = \left(\frac{1}{\sqrt{1 + \alpha x^2}}\right)^3", "f'(x) = (1/√(1 + α x²))³"),
    (r"\left(-\frac{\pi}{2}, \frac{\pi}{2}\right)", "(-π/2, π/2)"),
    (r"f(x) = \begin{cases} 0 & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
     "f(x) = 0 for x < 0, 1 for x ≥ 0"),
    (r"C^{-1}", "C⁻¹"),
    (r"Yes iff $\alpha \geq 0$", "Yes iff α ≥ 0"),
])
def test_latex_to_text(latex, text):
    assert latex_to_text(latex) == text


# --- graphs -----------------------------------------------------------------------------------

def test_dot_output():
    dot = gd.parse(LOGNORMAL).to_dot()
    assert dot.startswith("digraph graphdiff {") and dot.rstrip().endswith("}")
    assert 'v5 [label="v5 = v4/v3"];' in dot
    assert 'v10 [label="v10 = v9 - (0.5 log 2π)", peripheries=2];' in dot
    assert 'c3 [label="0.5 log 2π", shape=plaintext];' in dot
    assert dot.count("->") == 13
    assert dot.count("{") == dot.count("}")
    # x*x has one edge, not two
    assert gd.parse("x*x").to_dot().count("->") == 1


def test_node_labels_follow_the_table():
    labels = render.node_labels(gd.parse("x1*x2 + sin(x1)"))
    assert labels == ["v1 = x1", "v2 = x2", "v3 = v1·v2", "v4 = sin v1", "v5 = v3 + v4"]


def test_drawings(tmp_path):
    pytest.importorskip("matplotlib")
    from graphdiff.plot import draw_graph, layers, plot_activations

    g = gd.parse(LOGNORMAL)
    # y, mu, sigma, -0.5, v4, v5, 2, v6, v7, v8, v9, 0.5 log 2π, v10
    assert layers(g) == [0, 0, 0, 3, 1, 2, 2, 3, 4, 1, 5, 5, 6]
    draw_graph(g, tmp_path / "g.png")
    draw_graph(gd.parse("x1*x2 + sin(x1)"), tmp_path / "g.svg")
    plot_activations(tmp_path / "a.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "g.svg").read_bytes()[:400]
    assert (tmp_path / "a.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="too many to draw"):
        draw_graph(gd.parse(" + ".join(f"x{k}" for k in range(300))))
