"""Printers for people: traces, graphs and the registry's activation table as aligned text,
Markdown, LaTeX and HTML, in the lecture's notation (v5², -0.5·v6, log v3, v̇1·v2, v̄3).

Printers only read: every number and formula comes from `trace`, `graph` or the registry.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .graph import Graph, format_number, node_keys
from .primitives import (PREC_ADD, PREC_ATOM, PREC_CMP, PREC_MUL, PREC_POW, PREC_UNARY, REGISTRY,
                         Primitive, activations)
from .trace import MODES, Formula, Trace, TraceRow

__all__ = ["trace_text", "trace_markdown", "trace_latex", "trace_html", "formula_text",
           "formula_latex", "formula_html", "format_value", "activations_table",
           "graph_to_dot", "graph_html", "node_labels", "latex_to_text", "FORMATS"]

FORMATS = ("text", "markdown", "latex", "html")
MOST_TERMS = 8  # a longer adjoint sum (a variable with many uses) is shortened in tables

_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa mu nu xi omicron rho "
          "sigma tau upsilon phi chi psi omega").split()
_GREEK_CHARS = dict(zip(_GREEK, "αβγδεζηθικμνξορστυφχψω"))
_CONSTANT_NAMES = {"pi": ("π", r"\pi"), "e": ("e", "e")}
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_MARK = "\x00"


# --- formulas in three notations -----------------------------------------------------------

class Piece(NamedTuple):
    """A printed subexpression: its text, precedence and kind, which decide the parentheses
    and the product sign around it.  kind: var, num, negnum, name (π), juxt (2π), app (a
    function applied without parentheses: log v3; `call` holds log(v3)), neg, folded (a
    constant folded from an expression, shown in parentheses as one value), op."""

    text: str
    prec: int
    kind: str
    call: str | None = None
    inner: Any = None  # the number of a num or negnum


class Notation:
    """Plain Unicode text: v̇1·v2 + v1·v̇2, v3⁻², log 2π."""

    name = "text"

    def esc(self, s: str) -> str:
        return s

    def var(self, key: str) -> str:
        """A table variable: v4, its tangent dot_v4 (v̇4) or its adjoint bar_v4 (v̄4)."""
        kind, _, k = key.rpartition("_v")
        return self.decorated(kind, "v", key[1:] if not kind else k)

    def decorated(self, kind: str, letter: str, index: str) -> str:
        mark = {"dot": "\u0307", "bar": "\u0304"}.get(kind, "")
        return f"{letter}{mark}{index}"

    def input(self, name: str) -> str:
        return self.esc(name)

    def number(self, x: float) -> str:
        return self.esc(format_number(x)[0])

    def constant(self, name: str) -> str:
        return _CONSTANT_NAMES.get(name, (name, name))[0]

    def paren(self, s: str) -> str:
        return f"({s})"

    def times(self, left: Piece, right: Piece) -> str:
        if left.kind == "num" and right.kind == "name":
            return ""
        if left.kind in ("num", "negnum") and right.kind == "app":
            return " "
        return "·"

    def left_factor(self, piece: Piece, text: str) -> str:
        return text

    def over(self, num: str, den: str) -> str:
        return f"{num}/{den}"

    def power(self, base: str, exponent: Piece) -> str:
        if exponent.kind in ("num", "negnum") and float(exponent.inner).is_integer() \
                and abs(exponent.inner) < 1000:
            return base + str(int(exponent.inner)).translate(_SUPERSCRIPT)
        exp = exponent.text if exponent.kind in ("var", "num", "name") else \
            self.paren(exponent.text)
        return f"{base}^{exp}"

    def juxtaposed(self, prim: Primitive, arg: str) -> str:
        return f"{prim.name} {arg}"

    def call(self, prim: Primitive, args: list[str], params: tuple) -> str:
        extra = [f"{self.param(k)}={self.setting(v)}" for k, v in _shown(prim, params)]
        return f"{self.esc(prim.name)}({', '.join(args + extra)})"

    def setting(self, v: Any) -> str:
        """A parameter's value: a number, or None/True/an axis as Python writes it."""
        return self.number(v) if isinstance(v, float) else self.esc(repr(v))

    def infix(self, prim: Primitive) -> str:
        """An infix operator the arithmetic rules do not cover (a @ b)."""
        return f" {self.esc(prim.symbol)} "

    def param(self, name: str) -> str:
        return name

    def partial(self, of: str, wrt: str) -> str:
        return f"∂{of}/∂{wrt}"

    def text(self, s: str) -> str:
        """Words among formulas (every LaTeX string here is math mode)."""
        return s

    def header(self, s: str) -> str:
        return s

    def ellipsis(self) -> str:
        return "…"

    def sweep(self, kind: str) -> str:
        """The recursion a sweep computes."""
        return {"forward": "v̇ᵢ = Σⱼ (∂vᵢ/∂vⱼ)·v̇ⱼ", "reverse": "v̄ⱼ = Σᵢ v̄ᵢ·∂vᵢ/∂vⱼ"}[kind]


class LatexNotation(Notation):
    r"""LaTeX math, as the lecture writes it: v_4 / v_3, -v_4 v_3^{-2}, (-0.5)v_6, \log v_3."""

    name = "latex"

    def esc(self, s: str) -> str:
        return s.replace("\\", r"\backslash ").replace("_", r"\_").replace("&", r"\&") \
            .replace("%", r"\%").replace("#", r"\#").replace("$", r"\$") \
            .replace("{", r"\{").replace("}", r"\}")

    def decorated(self, kind: str, letter: str, index: str) -> str:
        base = {"dot": rf"\dot{{{letter}}}", "bar": rf"\bar{{{letter}}}"}.get(kind, letter)
        return f"{base}_{index}" if len(index) == 1 else f"{base}_{{{index}}}"

    def input(self, name: str) -> str:
        # x1 -> x_1, sigma -> \sigma, x_max -> x_{max}, rate -> \mathrm{rate}
        m = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name)
        base, sub = (m.group(1), m.group(2)) if m else (name, "")
        if not m and "_" in name.strip("_"):
            base, sub = name.split("_", 1)
        if base in _GREEK or base.lower() in _GREEK and base[0].isupper():
            base = "\\" + base
        elif len(base) > 1:
            base = rf"\mathrm{{{self.esc(base)}}}"
        else:
            base = self.esc(base)
        if not sub:
            return base
        sub = self.esc(sub)
        return f"{base}_{sub}" if len(sub) == 1 else f"{base}_{{{sub}}}"

    def number(self, x: float) -> str:
        if math.isnan(x):
            return r"\mathrm{nan}"
        if math.isinf(x):
            return r"\infty" if x > 0 else r"-\infty"
        return _latex_number(format_number(x)[0])

    def constant(self, name: str) -> str:
        return _CONSTANT_NAMES.get(name, (name, name))[1]

    def times(self, left: Piece, right: Piece) -> str:
        if right.kind in ("num", "negnum") or right.text[:1].isdigit():
            return r" \cdot "
        if left.kind in ("num", "negnum") and right.kind in ("var", "name", "juxt"):
            return ""
        return " "

    def left_factor(self, piece: Piece, text: str) -> str:
        # (-0.5)v_6: a negative number before a juxtaposed factor keeps its parentheses
        return self.paren(text) if piece.kind == "negnum" else text

    def over(self, num: str, den: str) -> str:
        return f"{num} / {den}"

    def power(self, base: str, exponent: Piece) -> str:
        exp = exponent.text
        return f"{base}^{exp}" if len(exp) == 1 else f"{base}^{{{exp}}}"

    def juxtaposed(self, prim: Primitive, arg: str) -> str:
        return f"{prim.latex} {arg}"

    def call(self, prim: Primitive, args: list[str], params: tuple) -> str:
        if prim.latex == r"\sqrt" and not params:
            return rf"\sqrt{{{', '.join(args)}}}"
        extra = [f"{self.param(k)} = {self.setting(v)}" for k, v in _shown(prim, params)]
        return f"{prim.latex}({', '.join(args + extra)})"

    def setting(self, v: Any) -> str:
        return self.number(v) if isinstance(v, float) else rf"\mathrm{{{self.esc(repr(v))}}}"

    def infix(self, prim: Primitive) -> str:
        return prim.latex

    def param(self, name: str) -> str:
        return "\\" + name if name in _GREEK else rf"\mathrm{{{self.esc(name)}}}"

    def partial(self, of: str, wrt: str) -> str:
        return rf"\partial {of} / \partial {wrt}"

    def text(self, s: str) -> str:
        return rf"\text{{{self.esc(s)}}}"

    def header(self, s: str) -> str:
        return rf"\textit{{{self.esc(s)}}}"

    def ellipsis(self) -> str:
        return r"\cdots"

    def sweep(self, kind: str) -> str:
        return {"forward": r"\dot{v}_i = \sum_j (\partial v_i / \partial v_j)\, \dot{v}_j",
                "reverse": r"\bar{v}_j = \sum_i \bar{v}_i\, \partial v_i / \partial v_j"}[kind]


class HtmlNotation(Notation):
    """HTML: v<sub>4</sub>, v<sub>3</sub><sup>-2</sup>, with the text notation's signs."""

    name = "html"

    def esc(self, s: str) -> str:
        return html.escape(s, quote=False)

    def decorated(self, kind: str, letter: str, index: str) -> str:
        mark = {"dot": "\u0307", "bar": "\u0304"}.get(kind, "")
        return f"{letter}{mark}<sub>{index}</sub>"

    def input(self, name: str) -> str:
        m = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name)
        base, sub = (m.group(1), m.group(2)) if m else (name, "")
        base = _GREEK_CHARS.get(base, self.esc(base))
        return f"{base}<sub>{sub}</sub>" if sub else base

    def power(self, base: str, exponent: Piece) -> str:
        return f"{base}<sup>{exponent.text}</sup>"

    def param(self, name: str) -> str:
        return _GREEK_CHARS.get(name, self.esc(name))

    def text(self, s: str) -> str:
        return self.esc(s)

    def header(self, s: str) -> str:
        return self.esc(s)

    def sweep(self, kind: str) -> str:
        return {"forward": "v̇<sub>i</sub> = Σ<sub>j</sub> (∂v<sub>i</sub>/∂v<sub>j</sub>)"
                           "·v̇<sub>j</sub>",
                "reverse": "v̄<sub>j</sub> = Σ<sub>i</sub> v̄<sub>i</sub>·∂v<sub>i</sub>"
                           "/∂v<sub>j</sub>"}[kind]


TEXT, LATEX, HTML = Notation(), LatexNotation(), HtmlNotation()


def _shown(prim: Primitive, params: tuple) -> list[tuple[str, Any]]:
    """The parameters worth printing: numbers always, other settings when not the default."""
    defaults = dict(prim.params)
    return [(k, v) for k, v in params if isinstance(v, float) or v != defaults.get(k)]


def _latex_number(text: str) -> str:
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = rf"10^{{{int(exponent)}}}"
        return power if mantissa == "1" else rf"{mantissa} \times {power}"
    return text


def _number_piece(nota: Notation, x: float) -> Piece:
    text = nota.number(x)
    if x < 0 or text.startswith("-"):
        return Piece(text, PREC_UNARY, "negnum", inner=x)
    return Piece(text, PREC_ATOM, "num", inner=x)


# LaTeX's operator names (\log, \sin, ...): written without parentheses before a simple
# argument, as in the lecture's "log v3"
_OPERATOR_NAMES = set("arccos arcsin arctan cos cosh cot coth exp ln log sin sinh tan tanh"
                      .split())


def _standard_function(prim: Primitive) -> bool:
    return prim.arity == 1 and not prim.params and prim.latex == "\\" + prim.name \
        and prim.name in _OPERATOR_NAMES


def _operand(nota: Notation, p: Piece, paren: bool, juxtaposed: bool = True) -> str:
    if p.kind == "folded":
        return nota.paren(p.text)
    if p.kind == "app" and not juxtaposed:
        return p.call
    return nota.paren(p.text) if paren else p.text


def _signed(p: Piece) -> bool:
    """Whether a piece starts with a minus sign (-v4·v3⁻², -0.5, -(a + b))."""
    return p.text.startswith("-")


def piece(nota: Notation, op: str, parts: list[Piece], params: tuple = ()) -> Piece:
    """Print op(parts) in a notation, with parentheses only where they are needed."""
    prim = REGISTRY[op]
    if prim.syntax is not None:  # v1[1:3]: the subscripted operand binds tightest
        texts = [_operand(nota, p, k == 0 and p.prec < PREC_ATOM, False)
                 for k, p in enumerate(parts)]
        return Piece(prim.syntax(*texts, **dict(params)), PREC_ATOM, "op")
    if prim.symbol is None:
        return _function(nota, prim, parts, params)
    if prim.arity == 1:  # negation
        (x,) = parts
        if x.kind == "num":
            return _number_piece(nota, -x.inner)
        inner = _operand(nota, x, x.prec <= PREC_ADD or _signed(x), False)
        return Piece("-" + inner, PREC_UNARY, "neg")
    left, right = parts
    if prim.prec == PREC_POW:
        base = _operand(nota, left, left.prec <= PREC_POW or left.kind == "app" or _signed(left))
        return Piece(nota.power(base, right), PREC_POW, "op")
    if prim.prec == PREC_ADD:
        lt = _operand(nota, left, left.prec < PREC_ADD)  # (a < b) + c
        if prim.symbol == "+" and _signed(right) and right.prec > PREC_ADD \
                and right.kind not in ("folded", "app"):
            return Piece(f"{lt} - {right.text[1:]}", PREC_ADD, "op")  # a + (-b) reads a - b
        paren = right.prec < PREC_ADD or prim.symbol == "-" and (right.prec <= PREC_ADD
                                                                  or _signed(right))
        return Piece(f"{lt} {prim.symbol} {_operand(nota, right, paren)}", PREC_ADD, "op")
    if prim.symbol == "/":
        lt = _operand(nota, left, left.prec < PREC_MUL, False)
        rt = _operand(nota, right, right.prec <= PREC_MUL or _signed(right), False)
        return Piece(nota.over(lt, rt), PREC_MUL, "op")
    if prim.symbol != "*":  # another infix operator: a @ b, a % b, a < b (never chained)
        lt = _operand(nota, left, left.prec < prim.prec or left.prec == prim.prec == PREC_CMP,
                      False)
        rt = _operand(nota, right, right.prec <= prim.prec or _signed(right), False)
        return Piece(f"{lt}{nota.infix(prim)}{rt}", prim.prec, "op")
    lt = nota.left_factor(left, _operand(nota, left, left.prec < PREC_MUL, False))
    rt = _operand(nota, right, right.prec < PREC_MUL or _signed(right))
    kind = "juxt" if left.kind == "num" and right.kind == "name" else "op"
    return Piece(f"{lt}{nota.times(left, right)}{rt}", PREC_MUL, kind)


def _function(nota: Notation, prim: Primitive, parts: list[Piece], params: tuple) -> Piece:
    args = [p.call if p.kind == "app" else p.text for p in parts]
    call = nota.call(prim, args, params)
    if _standard_function(prim) and parts[0].kind in ("var", "num", "name", "juxt"):
        return Piece(nota.juxtaposed(prim, parts[0].text), PREC_MUL, "app", call=call)
    return Piece(call, PREC_ATOM, "op")


def constant_piece(nota: Notation, value: float, origin: Any) -> Piece:
    """A constant: its number, or the expression it was folded from, e.g. (0.5 log 2π)."""
    if origin is None:
        return _number_piece(nota, value)
    p = _origin_piece(nota, origin)
    return p if p.kind in ("num", "negnum", "name") else Piece(p.text, PREC_ATOM, "folded")


def _origin_piece(nota: Notation, origin: Any) -> Piece:
    if isinstance(origin, str):
        return Piece(nota.constant(origin), PREC_ATOM, "name")
    if not isinstance(origin, tuple):
        return _number_piece(nota, float(origin))
    op, args, params = origin
    return piece(nota, op, [_origin_piece(nota, a) for a in args], params)


class _Printer:
    """Prints formulas in one notation; each template is printed once and reused."""

    def __init__(self, nota: Notation):
        self.nota = nota
        self.cache: dict[int, tuple[list[str], Piece]] = {}

    def template(self, template: Graph) -> tuple[list[str], Piece]:
        found = self.cache.get(id(template))
        if found is None:
            nota = self.nota
            pieces: list[Piece] = []
            for n in template.nodes:
                if n.op == "input":
                    pieces.append(Piece(_MARK + n.name + _MARK, PREC_ATOM, "var"))
                elif n.op == "const":
                    pieces.append(constant_piece(nota, n.value, n.origin))
                else:
                    pieces.append(piece(nota, n.op, [pieces[a] for a in n.args], n.params))
            root = pieces[template.outputs[0]]
            found = self.cache[id(template)] = (root.text.split(_MARK), root)
        return found

    def formula(self, formula: Formula, most: int | None = None) -> str:
        """A sum of terms; a term that reads -b joins as "a - b".  With `most`, a longer sum
        shows its first and last terms around "…" and says how many there are."""
        terms = formula.terms
        skip = None
        if most is not None and len(terms) > most:
            skip = (most - 2, len(terms) - 2)  # terms[skip[0]:skip[1]] become "…"
        out = []
        for k, term in enumerate(terms):
            if skip and skip[0] <= k < skip[1]:
                if k == skip[0]:
                    out.append(" + " + self.nota.ellipsis())
                continue
            split, root = self.template(term.template)
            names = dict(term.binding)
            text = "".join(self.nota.var(names[s]) if i % 2 else s
                           for i, s in enumerate(split))
            if k and text.startswith("-") and root.prec > PREC_ADD:
                out.append(" - " + text[1:])
            else:
                out.append(text if not k else " + " + text)
        if skip:
            out.append(self.nota.text(f" ({len(terms)} terms)"))
        return "".join(out) or self.nota.number(0.0)

    def is_number(self, formula: Formula) -> bool:
        """Whether the formula is a bare number (then the table shows it only once)."""
        if len(formula.terms) != 1:
            return False
        return self.template(formula.terms[0].template)[1].kind in ("num", "negnum")


def formula_text(formula: Formula) -> str:
    """A formula in the text notation: ``v̇1·v2 + v1·v̇2``."""
    return _Printer(TEXT).formula(formula)


def formula_latex(formula: Formula) -> str:
    r"""A formula in LaTeX: ``-v_4 v_3^{-2}``."""
    return _Printer(LATEX).formula(formula)


def formula_html(formula: Formula) -> str:
    """A formula in HTML: ``v<sub>4</sub>/v<sub>3</sub>``."""
    return _Printer(HTML).formula(formula)


# --- numbers --------------------------------------------------------------------------------

def format_value(v: Any, digits: int = 6, nota: Notation = TEXT) -> str:
    """A value for a table cell: a number to `digits` significant digits, or for an array
    its shape and a few entries, e.g. ``[0.1 0.2 … 0.9] (100,)``."""
    if v is None:
        return ""
    a = np.asarray(v)
    if a.ndim == 0:
        return _scalar(a[()], digits, nota)
    flat = a.ravel()
    k = min(digits, 4)
    if flat.size <= 4:
        items = [_scalar(x, k, nota) for x in flat]
    else:
        items = [_scalar(x, k, nota) for x in flat[:2]] + \
                [r"\ldots" if nota is LATEX else "…"] + [_scalar(flat[-1], k, nota)]
    shape = "(" + ", ".join(str(n) for n in a.shape) + ("," if a.ndim == 1 else "") + ")"
    sep = r"\ " if nota is LATEX else " "
    return f"[{sep.join(items)}]{sep}{shape}"


def _scalar(x: Any, digits: int, nota: Notation) -> str:
    if isinstance(x, (complex, np.complexfloating)):
        text = f"{complex(x):.{digits}g}"
        return nota.text(text) if nota is LATEX else nota.esc(text)
    x = float(x)
    if x == 0:
        x = 0.0  # no "-0" in a table
    if nota is LATEX:
        if math.isnan(x) or math.isinf(x):
            return nota.number(x)
        return _latex_number(f"{x:.{digits}g}")
    return nota.esc(f"{x:.{digits}g}")


# --- trace tables ---------------------------------------------------------------------------

class _Section(NamedTuple):
    """One table of a trace, in one notation (LaTeX strings are all math mode)."""

    title: list[str]
    header: list[str]
    rows: list[list[list[str]]]  # rows of cells; a cell is a list of lines
    footer: list[str]


def expression(g: Graph, nota: Notation = TEXT, limit: int = 400) -> str | None:
    """A graph written out in a notation (several outputs in parentheses), or None past
    `limit` characters."""
    pieces: list[Piece] = []
    for n in g.nodes:
        if n.op == "input":
            pieces.append(Piece(nota.input(n.name), PREC_ATOM, "var"))
        elif n.op == "const":
            pieces.append(constant_piece(nota, n.value, n.origin))
        else:
            pieces.append(piece(nota, n.op, [pieces[a] for a in n.args], n.params))
            if len(pieces[-1].text) > limit:
                return None
    if len(g.outputs) > 1:
        return "(" + ", ".join(pieces[o].text for o in g.outputs) + ")"
    return pieces[g.outputs[0]].text


def _sections(t: Trace, mode: str, digits: int, nota: Notation,
              limit: int | None = None) -> list[_Section]:
    """The trace's tables; with `limit`, each shows its first `limit` rows and says how
    many it leaves out (Jupyter's display: a 50,000-row table is megabytes of markup)."""
    sections = _all_sections(t, mode, digits, nota, limit)
    if limit is None or len(t.rows) <= limit:
        return sections
    more = nota.ellipsis() + nota.text(f" {len(t.rows) - limit} more rows (to_html() or "
                                       "to_latex() shows all)")
    return [s._replace(footer=[more] + s.footer) for s in sections]


def _all_sections(t: Trace, mode: str, digits: int, nota: Notation,
                  limit: int | None) -> list[_Section]:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "forward" and t.direction is None:
        raise ValueError("the forward sweep needs a direction, e.g. "
                         "trace(..., direction={'x': 1.0}) or --direction x=1")
    pr = _Printer(nota)
    out = []
    if mode in ("values", "all"):
        out.append(_values_section(t, pr, digits, limit))
    if mode == "forward" or (mode == "all" and t.direction is not None):
        out.append(_forward_section(t, pr, digits, limit))
    if mode in ("reverse", "all"):
        out.append(_reverse_section(t, pr, digits, limit))
    notes = _rewrite_notes(t, nota)
    if notes:
        last = out[-1]
        out[-1] = last._replace(footer=list(last.footer) + notes)
    return out


def _rewrite_notes(t: Trace, nota: Notation) -> list[str]:
    """The note under the table: what was rewritten for stability before tracing."""
    rewrites = getattr(t, "rewrites", ())
    if not rewrites:
        return []
    return [nota.text("Rewritten for numerical stability before tracing "
                      "(stable=False keeps the expression as written):")] + \
        [nota.text(f"  {r.before} -> {r.after}  ({r.rule})") for r in rewrites]


def _point(values: dict[str, Any], digits: int, nota: Notation) -> str:
    return ", ".join(f"{nota.input(k)} = {format_value(v, digits, nota)}"
                     for k, v in values.items())


def _values_section(t: Trace, pr: _Printer, digits: int,
                    limit: int | None = None) -> _Section:
    nota = pr.nota
    names = ", ".join(nota.input(n) for n in t.graph.inputs)
    pretty = expression(t.graph, nota)
    if pretty is None:
        short = t.expr if len(t.expr) <= 60 else t.expr[:57] + "..."
        pretty = nota.text(f"{short} ({len(t.rows)} variables)")
    title = [f"f({names}) = {pretty}"]
    if t.point:
        title.append(nota.text("at ") + _point(t.point, digits, nota))
    rows = []
    for r in t.rows[:limit]:
        definition = nota.input(r.input) if r.definition is None else pr.formula(r.definition)
        rows.append([[nota.var(r.name)], [definition], [format_value(r.value, digits, nota)],
                     _partials(r, pr, digits)])
    if len(t.outputs) > 1:  # several outputs: f = (v3, v4) = (6, 5)
        names = ", ".join(nota.var(r.name) for r in t.outputs)
        values = ", ".join(format_value(v, digits, nota) for v in t.value)
        footer = [f"f = ({names}) = ({values})"]
    else:
        value = format_value(t.value, digits, nota)
        footer = [f"f = {nota.var(t.output.name)} = {value}" if t.output else f"f = {value}"]
    header = [nota.header(h) for h in ("var", "definition", "value", "partials")]
    return _Section(title, header, rows, footer)


def _partials(r: TraceRow, pr: _Printer, digits: int) -> list[str]:
    nota = pr.nota
    if r.op != "input" and REGISTRY[r.op].vjp is not None:
        return [nota.text("(a vector rule: see the sweeps)")]
    lines = []
    for wrt, p in r.partials.items():
        head = f"{nota.partial(nota.var(r.name), nota.var(wrt))} = {pr.formula(p.formula)}"
        if not pr.is_number(p.formula) or np.ndim(p.value):
            head += f" = {format_value(p.value, digits, nota)}"
        lines.append(head)
    return lines


def _seed(nota: Notation, lhs: str, value: Any, digits: int) -> str:
    if np.ndim(value) == 0:
        return f"{lhs} = {format_value(value, digits, nota)}{nota.text(' (seed)')}"
    return lhs + nota.text(" (seed)")


def _forward_section(t: Trace, pr: _Printer, digits: int,
                     limit: int | None = None) -> _Section:
    nota = pr.nota
    title = [nota.text("Forward sweep: tangents ") + nota.sweep("forward"),
             nota.text("direction ") + _point(t.direction, digits, nota)]
    rows = []
    for r in t.rows[:limit]:
        lhs = nota.var("dot_" + r.name)
        cell = _seed(nota, lhs, r.tangent, digits) if r.tangent_formula is None \
            else f"{lhs} = {pr.formula(r.tangent_formula)}"
        rows.append([[nota.var(r.name)], [format_value(r.value, digits, nota)], [cell],
                     [format_value(r.tangent, digits, nota)]])
    value = format_value(t.directional_derivative, digits, nota)
    last = f" = {nota.var('dot_' + t.output.name)}" if t.output else ""
    footer = [nota.text("directional derivative") + f"{last} = {value}"]
    header = [nota.header(h) for h in ("var", "value", "tangent")] + [nota.var("dot_vi")]
    return _Section(title, header, rows, footer)


def _reverse_section(t: Trace, pr: _Printer, digits: int,
                     limit: int | None = None) -> _Section:
    nota = pr.nota
    title = [nota.text("Reverse sweep: adjoints ") + nota.sweep("reverse")]
    if t.output:
        title.append(nota.text("seeded with ") + f"{nota.var('bar_' + t.output.name)} = 1")
    rows = []
    for r in t.rows[::-1][:limit]:
        lhs = nota.var("bar_" + r.name)
        cell = _seed(nota, lhs, 1.0 if np.ndim(r.adjoint) == 0 else r.adjoint, digits) \
            if r.adjoint_formula is None else \
            f"{lhs} = {pr.formula(r.adjoint_formula, MOST_TERMS)}"
        rows.append([[nota.var(r.name)], [cell], [format_value(r.adjoint, digits, nota)]])
    # with several outputs, the gradient is the seeded output's: ∂v4/∂a rather than ∂f/∂a
    f = nota.var(t.output.name) if len(t.outputs) > 1 else "f"
    grads = [f"{nota.partial(f, nota.input(r.input))} = {nota.var('bar_' + r.name)} = "
             f"{format_value(r.adjoint, digits, nota)}" for r in t.rows if r.input is not None]
    footer = [nota.text("gradient: ") + ", ".join(grads)] if grads else []
    header = [nota.header(h) for h in ("var", "adjoint")] + [nota.var("bar_vi")]
    return _Section(title, header, rows, footer)


def width(s: str) -> int:
    """Columns a string takes in a terminal (combining marks take none, wide signs two)."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, n: int) -> str:
    return s + " " * (n - width(s))


def text_grid(header: Sequence[str], rows: Sequence[Sequence[Sequence[str]]],
              gap: int = 2) -> list[str]:
    """Rows of multi-line cells as aligned lines, with a rule under the header."""
    ncol = len(header)
    widths = [width(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            for line in cell:
                widths[i] = max(widths[i], width(line))
    sep = " " * gap
    lines = [sep.join(_pad(h, widths[i]) for i, h in enumerate(header)).rstrip(),
             sep.join("─" * w for w in widths)]
    for row in rows:
        for k in range(max(1, *(len(c) for c in row))):
            cells = [row[i][k] if k < len(row[i]) else "" for i in range(ncol)]
            lines.append(sep.join([_pad(c, widths[i]) for i, c in enumerate(cells[:-1])]
                                  + cells[-1:]).rstrip())
    return lines


def trace_text(t: Trace, mode: str = "all", digits: int = 6) -> str:
    """The trace as aligned Unicode text, one block per sweep."""
    blocks = []
    for s in _sections(t, mode, digits, TEXT):
        lines = s.title + [""] + text_grid(s.header, s.rows)
        blocks.append("\n".join(lines + ([""] + s.footer if s.footer else [])))
    return "\n\n".join(blocks)


def trace_markdown(t: Trace, mode: str = "all", digits: int = 6) -> str:
    """The trace as GitHub-flavoured Markdown: a title, a table and a footer per sweep."""
    blocks = []
    for s in _sections(t, mode, digits, TEXT):
        lines = ["  \n".join(_md_escape(x) for x in s.title), ""]
        lines += markdown_table(s.header, [["<br>".join(_md_escape(x) for x in cell)
                                            for cell in row] for row in s.rows])
        lines += [""] + ["  \n".join(_md_escape(x) for x in s.footer)] if s.footer else []
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _md_escape(s: str) -> str:
    return re.sub(r"([\\|*_`<>\[\]])", r"\\\1", s)


def primitives_table() -> str:
    """Every primitive of the registry as a Markdown table: name, arity, aliases,
    parameters, how shapes propagate, how it is differentiated (and its convention where
    it is not differentiable), and what it computes.  docs/graph-and-primitives.md holds
    it; a test keeps the two the same."""
    body = []
    for p in REGISTRY.values():
        shapes = ("elementwise, broadcasting" if p.is_elementwise and p.shape is None
                  else "own rule" if p.shape is not None else "of its arguments")
        if not p.differentiable:
            rule = "0 (not differentiable)"
        else:
            rule = "partials" if len(p.partials) == p.arity else "vjp, jvp"
        params = ", ".join(f"{k}={'()' if v == () else repr(v)}" for k, v in p.params)
        arity = f"{p.arity} or more" if p.variadic else str(p.arity)
        cells = [f"`{p.name}`", arity, ", ".join(f"`{a}`" for a in p.aliases),
                 params, shapes, rule, p.doc or f"`{p.name}(x)`"]
        body.append([c.replace("|", r"\|") for c in cells])
    header = ["primitive", "arity", "aliases", "parameters", "shapes", "derivative",
              "computes (and its derivative's convention)"]
    return "\n".join(markdown_table(header, body)) + "\n"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table whose cells are already escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def trace_latex(t: Trace, mode: str = "all", digits: int = 6, env: str = "tabular",
                limit: int | None = None) -> str:
    r"""The trace as LaTeX (needs amsmath).  ``env="tabular"``: for a document, a title, a
    tabular with ``$...$`` cells and a footer per sweep; ``env="array"``: one math-mode
    array of arrays, for MathJax (Jupyter).  `limit`: rows shown per table (all: None)."""
    if env not in ("tabular", "array"):
        raise ValueError(f"env must be 'tabular' or 'array', not {env!r}")
    blocks = []
    for s in _sections(t, mode, digits, LATEX, limit):
        rows = [[r" \quad ".join(cell) for cell in row] for row in s.rows]
        if env == "array":
            blocks.append(r" \\ ".join(s.title + [latex_table(s.header, rows, "array")]
                                         + s.footer))
        else:
            title = "\\\\\n".join(f"${x}$" for x in s.title)
            footer = "\\\\\n".join(f"${x}$" for x in s.footer)
            blocks.append(f"\\noindent {title}\\par\\smallskip\n\\noindent "
                          f"{latex_table(s.header, rows)}\\par\\smallskip\n"
                          f"\\noindent {footer}\\par")
    if env == "array":
        return r"\begin{array}{l}" + r" \\[2ex] ".join(blocks) + r"\end{array}"
    return "\n\n\\medskip\n\n".join(blocks) + "\n"


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                env: str = "tabular") -> str:
    """A LaTeX table of math cells: ``$...$`` around each in a tabular, bare in an array."""
    wrap = (lambda c: f"${c}$" if c else c) if env == "tabular" else (lambda c: c)
    lines = [rf"\begin{{{env}}}{{{'l' * len(header)}}}",
             " & ".join(wrap(h) for h in header) + r" \\", r"\hline"]
    lines += [" & ".join(wrap(c) for c in row) + r" \\" for row in rows]
    lines.append(rf"\end{{{env}}}")
    return "\n".join(lines)


def trace_html(t: Trace, mode: str = "all", digits: int = 6, limit: int | None = None) -> str:
    """The trace as an HTML fragment: a <table> with a caption per sweep; `limit`: rows
    shown per table (all: None)."""
    blocks = ['<div class="graphdiff-trace">']
    for s in _sections(t, mode, digits, HTML, limit):
        blocks.append(html_table(s.header, [["<br>".join(c) for c in row] for row in s.rows],
                                 caption="<br>".join(s.title)))
        if s.footer:
            blocks.append("<p>" + "<br>".join(s.footer) + "</p>")
    blocks.append("</div>")
    return "\n".join(blocks)


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]],
               caption: str | None = None) -> str:
    """A table whose cells are already HTML."""
    lines = ['<table style="border-collapse: collapse; text-align: left">']
    if caption:
        lines.append(f'<caption style="text-align: left">{caption}</caption>')
    lines.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>")
    lines += ["<tbody>"] + ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
                            for row in rows] + ["</tbody>", "</table>"]
    return "\n".join(lines)


# --- graphs ---------------------------------------------------------------------------------

def node_labels(g: Graph, nota: Notation = TEXT) -> list[str]:
    """Each node as the table shows it: ``v4 = v1 - v2`` (``v1 = y`` for an input), and a
    constant as its value or the expression it was folded from."""
    labels = []
    pieces: list[Piece] = []
    for n in g.nodes:
        if n.op == "const":
            pieces.append(constant_piece(nota, n.value, n.origin))
            labels.append(pieces[-1].text)
            continue
        pieces.append(Piece(nota.var(n.var), PREC_ATOM, "var"))
        if n.op == "input":
            labels.append(f"{pieces[-1].text} = {nota.input(n.name)}")
        else:
            body = piece(nota, n.op, [pieces[a] for a in n.args], n.params).text
            labels.append(f"{pieces[-1].text} = {body}")
    return labels


def graph_to_dot(g: Graph) -> str:
    """The graph in Graphviz DOT: data flows left to right, nodes carry the table's
    v-numbers, inputs are ellipses, constants plain text, the output a double box."""
    keys = node_keys(g.nodes)
    labels = node_labels(g)
    outputs = set(g.outputs)
    lines = ["digraph graphdiff {", "  rankdir=LR;",
             '  node [shape=box, style=rounded, fontname="Helvetica"];']
    for n in g.nodes:
        attrs = [f'label="{_dot_escape(labels[n.index])}"']
        if n.op == "input":
            attrs.append("shape=ellipse")
        elif n.op == "const":
            attrs.append("shape=plaintext")
        if n.index in outputs:
            attrs.append("peripheries=2")
        lines.append(f"  {keys[n.index]} [{', '.join(attrs)}];")
    for n in g.nodes:
        for a in dict.fromkeys(n.args):
            lines.append(f"  {keys[a]} -> {keys[n.index]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def graph_html(g: Graph, limit: int = 200) -> str:
    """A graph for Jupyter: its expression and its numbered nodes as an HTML table."""
    names = ", ".join(HTML.input(n) for n in g.inputs)
    outs = []
    for i in g.outputs:
        text = expression(g.node_graph(i) if len(g.outputs) > 1 else g, HTML)
        outs.append(text if text is not None else HTML.esc(g._summary()))
    rows = [[lab.split(" = ", 1)[0], lab.split(" = ", 1)[1]]
            for n, lab in zip(g.nodes, node_labels(g, HTML)) if n.var is not None]
    shown = rows[:limit]
    more = f"<p>… and {len(rows) - limit} more nodes</p>" if len(rows) > limit else ""
    caption = f"f({names}) = {', '.join(outs)}"
    return html_table(["var", "definition"], shown, caption=caption) + more


# --- the activation table ---------------------------------------------------------------------

ACTIVATION_COLUMNS = ("Name", "Equation", "Derivative (with respect to x)", "Range",
                      "Order of continuity", "Monotonic", "Derivative Monotonic",
                      "Approximates identity near the origin")


def activation_rows() -> list[tuple[str, ...]]:
    """The lecture's activation table, one row of LaTeX/text cells per registry entry:
    name, equation, derivative, range, continuity, monotonic, derivative monotonic,
    approximates identity near the origin; plus the primitive's name last."""
    rows = []
    for p in activations():
        a = p.activation
        rows.append((a.title, a.equation, a.derivative, a.range, a.continuity, a.monotonic,
                     a.derivative_monotonic, a.identity_near_origin, p.name))
    return rows


_MATH_COLUMNS = (1, 2, 3, 4)  # equation, derivative, range, continuity are LaTeX math


def activations_table(fmt: str = "text") -> str:
    """The lecture's activation-function table, generated from the registry's metadata."""
    rows = activation_rows()
    if fmt == "text":
        return _activations_text(rows)
    if fmt == "markdown":
        header = ["Name", "graphdiff"] + list(ACTIVATION_COLUMNS[1:])
        body = [[_md_escape(r[0]), f"`{r[8]}`"]
                + [f"${r[i]}$".replace("|", r"\|") if i in _MATH_COLUMNS
                   else r[i].replace("|", r"\|") for i in range(1, 8)] for r in rows]
        return "\n".join(markdown_table(header, body)) + "\n"
    if fmt == "latex":
        header = [LATEX.header(h) for h in ("Name", "graphdiff") + ACTIVATION_COLUMNS[1:]]
        body = [[LATEX.text(r[0]), rf"\texttt{{{LATEX.esc(r[8])}}}"]
                + [r[i] if i in _MATH_COLUMNS else rf"\text{{{r[i]}}}" for i in range(1, 8)]
                for r in rows]
        return "% needs \\usepackage{amsmath}\n" + latex_table(header, body) + "\n"
    if fmt == "html":
        header = [HTML.esc(h) for h in ("Name", "graphdiff") + ACTIVATION_COLUMNS[1:]]
        body = [[HTML.esc(r[0]), f"<code>{r[8]}</code>"]
                + [HTML.esc(rf"\({r[i]}\)") if i in _MATH_COLUMNS else _html_mixed(r[i])
                   for i in range(1, 8)] for r in rows]
        return html_table(header, body, caption="Activation functions") + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _html_mixed(s: str) -> str:
    """Words with $...$ math, for MathJax: the math becomes \\( ... \\)."""
    return HTML.esc(re.sub(r"\$(.+?)\$", r"\\(\1\\)", s))


def _activations_text(rows: list[tuple[str, ...]]) -> str:
    blocks = ["Activation functions (the lecture's table, from the registry)"]
    for r in rows:
        text = [latex_to_text(r[i]) for i in range(1, 5)]
        yes = [latex_to_text(r[i]) for i in range(5, 8)]
        blocks.append("\n".join([
            f"{r[0]}  [{r[8]}]",
            f"    {text[0]}",
            f"    {text[1]}",
            f"    range {text[2]}, continuity {text[3]}",
            (f"    monotonic: {yes[0]}; derivative monotonic: {yes[1]}; "
             f"≈ identity near 0: {yes[2]}")]))
    return "\n\n".join(blocks) + "\n"


_LATEX_SYMBOLS = {"infty": "∞", "alpha": "α", "pi": "π", "geq": "≥", "leq": "≤", "neq": "≠",
                  "cdot": "·", "{": "{", "}": "}", "left": "", "right": "", ",": " ",
                  "quad": "  ", " ": " ", "|": "|", "Phi": "Φ", "phi": "φ",
                  "approx": "≈"}
_SUPER = str.maketrans("0123456789-+xni()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺ˣⁿⁱ⁽⁾")


def latex_to_text(s: str) -> str:
    r"""Registry LaTeX as plain Unicode text: ``\frac{1}{1 + e^{-x}}`` -> ``1/(1 + e⁻ˣ)``.

    Covers what the registry's activation metadata uses (fractions, roots, powers, cases,
    Greek letters, \text); the registry is trusted input with shallow nesting."""
    s = re.sub(r"\$", "", s)
    text, _ = _latex_run(s, 0, None)
    return re.sub(r"\s+", " ", text).strip()


def _latex_run(s: str, i: int, stop: str | None) -> tuple[str, int]:
    out = []
    while i < len(s):
        c = s[i]
        if c == stop:
            return "".join(out), i
        if c == "{":
            text, i = _latex_run(s, i + 1, "}")
            out.append(text)
            i += 1
        elif c == "\\":
            text, i = _latex_command(s, i)
            out.append(text)
        elif c in "^_":
            arg, i = _latex_arg(s, i + 1)
            sup = arg.translate(_SUPER)
            if c == "^" and all(ch in "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺ˣⁿⁱ⁽⁾" for ch in sup):
                out.append(sup)
            else:
                out.append(c + (arg if len(arg) == 1 else f"({arg})"))
        elif c == "&":
            out.append(" ")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out), i


def _latex_arg(s: str, i: int) -> tuple[str, int]:
    while i < len(s) and s[i] == " ":
        i += 1
    if i < len(s) and s[i] == "{":
        text, i = _latex_run(s, i + 1, "}")
        return text, i + 1
    if i < len(s) and s[i] == "\\":
        return _latex_command(s, i)
    return s[i:i + 1], i + 1


def _latex_command(s: str, i: int) -> tuple[str, int]:
    m = re.match(r"\\([A-Za-z]+|.)", s[i:])
    name, i = m.group(1), i + len(m.group(0))
    if name == "frac":
        num, i = _latex_arg(s, i)
        den, i = _latex_arg(s, i)
        return f"{_wrap(num)}/{_wrap(den)}", i
    if name == "sqrt":
        arg, i = _latex_arg(s, i)
        return "√" + (arg if len(arg) == 1 else f"({arg})"), i
    if name in ("text", "mathrm", "operatorname"):
        return _latex_arg(s, i)
    if name == "begin":  # cases: "a & cond \\ b & cond" -> "a cond, b cond"
        env, i = _latex_arg(s, i)
        end = s.index(rf"\end{{{env}}}", i)
        rows = [latex_to_text(row) for row in s[i:end].split(r"\\")]
        return ", ".join(rows), end + len(rf"\end{{{env}}}")
    if name == "\\":
        return ", ", i
    return _LATEX_SYMBOLS.get(name, name), i


def _wrap(s: str) -> str:
    """Parentheses around a numerator or denominator unless it is one factor."""
    depth, top = 0, []
    for c in s.strip():
        depth += c in "(["
        depth -= c in ")]"
        if depth == 0:
            top.append(c)
    loose = "".join(top[1:])
    return f"({s.strip()})" if any(c in loose for c in " +-/") else s.strip()
