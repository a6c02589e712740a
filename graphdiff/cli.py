"""The `graphdiff` command line.  Bad input gets one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import unicodedata
from typing import Callable, Sequence

import numpy as np

from . import __version__
from .codegen import write_atomic
from .graph import Graph, node_keys
from .parse import parse

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"


class UsageError(Exception):
    """A mistake in what the user typed; reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None):  # --help, --version
        if message:
            print(message, end="", file=sys.stderr)
        raise _Exit(status)


class _Exit(Exception):
    """argparse is done (after --help or --version): main returns this status."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


# The significant digits a float64 can show
MAX_DIGITS = 17
# How much of a bad token an error message quotes
QUOTE_LIMIT = 80


def parse_assignments(pairs: Sequence[str], what: str = "--at") -> dict[str, float]:
    """Turn ["x1=2", "x2=3"] into {"x1": 2.0, "x2": 3.0}; a malformed pair is a UsageError."""
    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise UsageError(f"{what}: expected NAME=VALUE, got {pair!r}")
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{what}: {text.strip()!r} is not a number (in {pair!r})") from None
        if name in out:
            raise UsageError(f"{what}: {name!r} given twice")
        out[name] = value
    return out


def check_names(g: Graph, values: dict[str, float], what: str = "--at") -> None:
    """Every name must be an input of the graph (typos are errors, not silently ignored)."""
    for name in values:
        if name not in g.inputs:
            raise UsageError(f"{what}: unknown name {name!r}; the inputs are "
                             f"{', '.join(g.inputs) or '(none)'}")


def format_nodes_table(g: Graph) -> str:
    """The nodes of a graph, one line each, as `vK = expression` in the lecture's notation."""
    from .graph import format_call, format_number

    keys = node_keys(g.nodes)
    lines = []
    for n in g.nodes:
        if n.op == "input":
            lines.append(f"{n.var:>5} = {n.name}")
        elif n.op != "const":
            args = []
            for a in n.args:
                m = g.nodes[a]
                args.append(format_number(m.value) if m.op == "const" else (keys[a], 5))
            lines.append(f"{n.var:>5} = {format_call(n.op, args, n.params)[0]}")
    return "\n".join(lines)


def _cmd_parse(args: argparse.Namespace) -> int:
    g = parse(args.expr)
    values = None
    if args.at is not None:
        values = parse_assignments(args.at)
        check_names(g, values)
        value = g(**values)
    print(f"inputs: {', '.join(g.inputs) or '(none)'}")
    print(format_nodes_table(g))
    if values is not None:
        print(f"value: {float(value)!r}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .trace import trace

    print("The lecture's log-normal example: the table of values and partials, then the")
    print("reverse sweep, at y = 1.5, mu = 0.5, sigma = 2.  Try also:")
    print('  graphdiff table "x1*x2 + sin(x1)" --at x1=2 x2=3 --direction x1=1\n')
    print(trace(LOGNORMAL, y=1.5, mu=0.5, sigma=2.0).to_text("all"))
    return 0


def _point(g: Graph, pairs: Sequence[str] | None, what: str) -> dict[str, float]:
    values = parse_assignments(pairs or [], what)
    check_names(g, values, what)
    return values


def _whole_point(g: Graph, pairs: Sequence[str] | None) -> dict[str, float]:
    """--at with a value for every input."""
    at = _point(g, pairs, "--at")
    missing = [n for n in g.inputs if n not in at]
    if missing:
        raise UsageError(f"--at: missing value for {', '.join(missing)} "
                         f"(e.g. --at {' '.join(n + '=1' for n in missing)})")
    return at


def _traced(g: Graph, args: argparse.Namespace, forward: str | None):
    """The trace at --at (every input needed) seeded by --direction; `forward` names the
    option that needs the forward sweep, when it was asked for."""
    from .trace import trace

    at = _whole_point(g, args.at)
    direction = None if args.direction is None else _point(g, args.direction, "--direction")
    if forward and direction is None:
        raise UsageError(f"{forward} needs --direction, e.g. "
                         f"--direction {g.inputs[0] if g.inputs else 'x'}=1")
    return trace(g, direction, at=at, stable=not getattr(args, "no_stable", False))


def _cmd_table(args: argparse.Namespace) -> int:
    _import_modules(args.imports)
    g = parse(args.expr)
    t = _traced(g, args, "--mode forward" if args.mode == "forward" else None)
    if args.format == "text":
        print(t.to_text(args.mode, args.digits))
    elif args.format == "markdown":
        print(t.to_markdown(args.mode, args.digits), end="")
    elif args.format == "latex":
        print(t.to_latex(args.mode, args.digits), end="")
    else:
        print(t.to_html(args.mode, args.digits))
    return 0


def _import_modules(names: Sequence[str] | None) -> None:
    """Import the user's modules that define primitives (graphdiff.primitive), by name,
    as `python -m` would; a module that cannot be imported is a usage error."""
    import importlib

    for name in names or ():
        if not all(part.isidentifier() for part in name.split(".")):
            raise UsageError(f"--import: {name!r} is not a module name")
        if "" not in sys.path:
            sys.path.insert(0, "")  # the current folder, as `python -m` has it
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"--import: cannot import {name}: {exc}") from None


def _add_no_stable(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-stable", action="store_true",
                   help="keep the expression as written: no stability rewrites "
                        "(log(sigmoid(x)) stays log of sigmoid)")


def _add_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import this module first: one of yours that defines primitives "
                        "(graphdiff.primitive), e.g. my_primitives for ./my_primitives.py")


def _cmd_check(args: argparse.Namespace) -> int:
    from .check import check

    _import_modules(args.imports)
    g = parse(args.expr)
    at = _whole_point(g, args.at)
    direction = None if args.direction is None else _point(g, args.direction, "--direction")
    if not args.tol > 0:
        raise UsageError("--tol must be a positive number")
    wrt = None if args.wrt is None else [w.strip() for w in args.wrt.split(",") if w.strip()]
    c = check(g, at, direction, tol=args.tol, wrt=wrt, stable=not args.no_stable)
    text = {"text": c.to_text, "markdown": c.to_markdown, "html": c.to_html}[args.format]()
    print(text, end="" if text.endswith("\n") else "\n")
    return 0 if c.ok else 1


def _args_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the expression, e.g. 'x1*x2 + sin(x1)'")
    _point_option(p, "--at", "the point, e.g. x1=2 x2=3", required=True)
    _point_option(p, "--direction",
                  "check tangents along this direction (default: each input in turn)")
    p.add_argument("--wrt", metavar="A,B",
                   help="move only these inputs (leave out integer labels and the like)")
    p.add_argument("--tol", type=float, default=1e-6,
                   help="largest relative error that counts as agreement (default 1e-6)")
    _add_no_stable(p)
    p.add_argument("--format", choices=("text", "markdown", "html"), default="text")
    _add_import(p)


def _cmd_activations(args: argparse.Namespace) -> int:
    from .render import activations_table

    _import_modules(args.imports)
    print(activations_table(args.format), end="")
    if args.plot:
        from .plot import plot_activations

        _drawing(lambda: plot_activations(args.plot), args.plot)
        print(f"plotted the activations and their derivatives to {args.plot}",
              file=sys.stderr)
    return 0


def _annotation(g: Graph, args: argparse.Namespace):
    """The trace whose numbers --show puts on the nodes (None without --show)."""
    if args.show is None:
        if args.at is not None or args.direction is not None:
            raise UsageError("--at and --direction go with --show values|tangents|adjoints")
        return None
    return _traced(g, args, "--show tangents" if args.show == "tangents" else None)


_SUFFIXES = {"gv": "dot", "tex": "tikz"}  # other names for a format's files


def graph_format(output: str | None, fmt: str | None) -> str:
    """The format of `graph -o FILE`: from --format or the file's suffix, which must agree;
    a suffix naming another format (g.jpg) is refused rather than given other content."""
    name = (output or "").rsplit("/", 1)[-1]
    suffix = name.rpartition(".")[2].lower() if "." in name else None
    suffix = _SUFFIXES.get(suffix, suffix)
    if suffix is not None and suffix not in GRAPH_FORMATS:
        raise UsageError(f"-o {_quote(output)}: cannot write .{_clip(suffix, 20)} files; "
                         f"use .{', .'.join(GRAPH_FORMATS)} (or .gv, .tex)")
    if fmt is not None and suffix is not None and fmt != suffix:
        raise UsageError(f"--format {fmt} does not match -o {_quote(output)}")
    return fmt or suffix or "dot"


def _cmd_graph(args: argparse.Namespace) -> int:
    from . import draw
    from .render import graph_to_dot

    g = parse(args.expr)
    t = _annotation(g, args)
    fmt = graph_format(args.output, args.format)
    if fmt == "dot" and t is not None:
        raise UsageError("--show draws numbers on a picture: use --format svg, tikz, png or pdf")
    texts = {"dot": lambda: graph_to_dot(g), "svg": lambda: draw.graph_svg(g, t, args.show),
             "tikz": lambda: draw.graph_tikz(g, t, args.show, standalone=args.standalone)}
    if fmt in texts:
        text = texts[fmt]()
        if args.output:
            _drawing(lambda: write_atomic(args.output, text), args.output)
        else:
            print(text, end="")
        return 0
    if not args.output:
        raise UsageError(f"--format {fmt} needs an output file: -o FILE.{fmt}")
    from .plot import draw_graph

    try:
        _drawing(lambda: draw_graph(g, args.output, fmt, t, args.show), args.output)
    except ValueError as exc:  # too large to draw
        raise UsageError(f"{exc}: graphdiff graph EXPR -o graph.dot, then Graphviz "
                         "(dot -Tsvg graph.dot -o graph.svg)") from None
    return 0


def _drawing(write: Callable[[], object], path: str) -> None:
    """Run a step that writes a file; a missing matplotlib or a bad path is one line."""
    try:
        write()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {_clip(path)}: {exc.strerror or exc}") from None


def _args_table(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the expression, e.g. 'x1*x2 + sin(x1)'")
    _point_option(p, "--at", "the point, e.g. x1=2 x2=3")
    _point_option(p, "--direction", "seed the forward sweep (inputs not named get 0), "
                  "e.g. x1=1")
    p.add_argument("--mode", choices=("values", "forward", "reverse", "all"), default="all",
                   help="which tables: values and partials, the forward sweep, the reverse "
                        "sweep, or all of them (default; forward only with --direction)")
    p.add_argument("--format", choices=("text", "markdown", "latex", "html"), default="text")
    p.add_argument("--digits", type=_digits, default=6,
                   help=f"significant digits, 1 to {MAX_DIGITS} (default 6)")
    _add_import(p)
    _add_no_stable(p)


def _point_option(p: argparse.ArgumentParser, flag: str, help_text: str,
                  required: bool = False) -> None:
    # each NAME=VALUE arrives as its own `flag` (see _arranged), so the expression may follow
    p.add_argument(flag, action="extend", nargs=1, metavar="NAME=VALUE", help=help_text,
                   required=required)


def _digits(text: str) -> int:
    try:
        digits = int(text)
    except ValueError:
        raise UsageError(f"--digits: expected a whole number, got {_quote(text)}") from None
    if not 1 <= digits <= MAX_DIGITS:
        raise UsageError(f"--digits must be between 1 and {MAX_DIGITS}, got {digits}")
    return digits


def _args_activations(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "markdown", "latex", "html"), default="text")
    _add_import(p)
    p.add_argument("--plot", metavar="FILE",
                   help="also plot each activation with its derivative (png, svg or pdf; "
                        "needs matplotlib)")


GRAPH_FORMATS = ("dot", "svg", "tikz", "png", "pdf")


def _args_graph(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the expression, e.g. 'x1*x2 + sin(x1)'")
    p.add_argument("--format", choices=GRAPH_FORMATS,
                   help="DOT text (default), SVG or TikZ text (no extra dependency), or a "
                        "PNG/PDF drawing through matplotlib; guessed from -o's suffix")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write here (default for dot, svg and tikz: standard output)")
    p.add_argument("--show", choices=("values", "tangents", "adjoints"),
                   help="put each node's value, tangent (needs --direction) or adjoint at "
                        "the point --at on the drawing")
    _point_option(p, "--at", "the point, e.g. x1=2 x2=3")
    _point_option(p, "--direction", "seed of the forward sweep for --show tangents, e.g. x1=1")
    p.add_argument("--standalone", action="store_true",
                   help="tikz: a whole LaTeX document (standalone class), not only the picture")


def _args_parse(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the expression, e.g. 'x1*x2 + sin(x1)'")
    _point_option(p, "--at", "evaluate at this point")


def _args_none(p: argparse.ArgumentParser) -> None:
    pass


def _cmd_codegen(args: argparse.Namespace) -> int:
    from .compiled import compile, value_and_grad

    _import_modules(args.imports)
    g = parse(args.expr)
    wrt = None
    if args.wrt is not None:
        wrt = [w.strip() for w in args.wrt.split(",") if w.strip()]
        if not wrt:
            raise UsageError(f"--wrt: expected input names such as a,b, got {args.wrt!r}")
    stable = not args.no_stable
    f = value_and_grad(g, wrt, stable=stable) if args.grad or wrt else compile(g, stable=stable)
    if not args.output:
        print(f.source, end="")
        return 0
    _drawing(lambda: f.save(args.output), args.output)
    print(f"wrote {args.output}: {f.name}({', '.join(f.params)})")
    return 0


def _args_codegen(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the expression, e.g. 'x1*x2 + sin(x1)'")
    p.add_argument("--grad", action="store_true",
                   help="value and gradient by reverse mode (default: the value only)")
    p.add_argument("--wrt", metavar="A,B",
                   help="differentiate with respect to these inputs only (implies --grad)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the module here (default: standard output)")
    _add_import(p)
    _add_no_stable(p)


# name -> (help, add_arguments(parser), run(args) -> exit code); one row per subcommand
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "demo": ("the lecture's log-normal example: its derivative table", _args_none, _cmd_demo),
    "parse": ("show the graph of an expression, numbered as in the lecture", _args_parse,
              _cmd_parse),
    "table": ("the lecture's table at a point: values, partials, forward and reverse sweeps",
              _args_table, _cmd_table),
    "activations": ("the lecture's activation-function table, from the registry",
                    _args_activations, _cmd_activations),
    "graph": ("draw the graph with the table's v-numbers (DOT, SVG, TikZ, PNG, PDF)",
              _args_graph,
              _cmd_graph),
    "codegen": ("the generated NumPy module of an expression or of its gradient",
                _args_codegen, _cmd_codegen),
    "check": ("check every derivative node by node against central differences "
              "(exit 1 on disagreement)", _args_check, _cmd_check),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphdiff", description="Expressions as computational graphs: "
                     "derivative tables, generated NumPy code, neural networks.")
    parser.add_argument("--version", action="version", version=f"graphdiff {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an internal error (anywhere on "
                             "the line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


# a NAME=VALUE pair after --at or --direction (an expression never starts like this)
_ASSIGNMENT = re.compile(r"\s*[^\W\d]\w*\s*=(?!=)")
# an option the user meant, known or misspelled (--dirction); "-x" is an expression
_LONG_OPTION = re.compile(r"--[A-Za-z][\w-]*(=.*)?", re.DOTALL)
_POINT_OPTIONS = ("--at", "--direction")


def _arranged(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """argv as argparse can read it unambiguously.

    An expression that starts with a minus ('-x**2') gets a leading space, which hides the
    dash from argparse (the expression parser skips spaces).  The pairs after --at and
    --direction each get their own flag; before the expression they end where it starts
    (`table --at x=1 y=2 'x*y'`), after it they run to the next option, as argparse's."""
    actions = parser._option_string_actions.copy()
    for action in parser._actions:
        for sub in (getattr(action, "choices", None) or {}).values():
            if isinstance(sub, argparse.ArgumentParser):
                actions.update(sub._option_string_actions)
    out: list[str] = []
    point = None  # the point option whose pairs are being read
    value_next = False  # the previous option takes this argument as its value
    positionals = 0  # the command, then the expression
    for k, arg in enumerate(argv):
        if arg == "--":
            return out + list(argv[k:])
        flag = arg.split("=", 1)[0]
        if not value_next and (flag in actions or _LONG_OPTION.fullmatch(arg)):
            point = arg if arg in _POINT_OPTIONS else None
            if point is None:
                out.append(arg)
                value_next = flag == arg and flag in actions and actions[flag].nargs != 0
            continue
        if value_next:
            value_next = False
            out.append(arg)
            continue
        if point is not None and (positionals > 1 or _ASSIGNMENT.match(arg)
                                    or not _has_pair(out, point)):
            out += [point, arg]
            continue
        else:
            point = None
            positionals += 1
        out.append(" " + arg if arg.startswith("-") else arg)
    if point is not None and not _has_pair(out, point):
        out.append(point)  # argparse: "expected one argument"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a mistake in the input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    argv = [a for k, a in enumerate(argv) if a != "--debug" or k > end]
    parser = build_parser()
    out = io.StringIO()
    try:
        # nan and inf are answers the table shows, not warnings on stderr
        with contextlib.redirect_stdout(out), np.errstate(all="ignore"):
            status = _run(parser, argv)
    except _Exit as done:
        status = done.status
    except UsageError as exc:
        status = _fail(str(exc), out)
    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError, NotImplementedError,
            MemoryError) as exc:
        if debug:
            raise
        # the expression or the point does not fit (shapes, parameters, a primitive's
        # domain): the input's mistake, in the words of whoever found it
        status = _fail(_describe(exc), out)
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001
        if debug:
            raise
        _fail(f"internal error ({_describe(exc)}); run again with --debug for the "
              "traceback, and please report it", out, "")
        return 1
    _write(sys.stdout, out.getvalue())
    return status


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(_arranged(parser, argv))
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    return args.run(args)


def _has_pair(out: list[str], point: str) -> bool:
    return len(out) >= 2 and out[-2] == point


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    text = str(exc)
    if isinstance(exc, (ValueError, TypeError, NotImplementedError)) and text:
        return text
    # NumPy's words for an index or a size out of range, which the input caused
    return f"cannot compute this ({type(exc).__name__}: {text or 'no details'})"


def _fail(message: str, out: io.StringIO, kind: str = "error: ") -> int:
    """Print what the command wrote so far, then the message as one line on stderr."""
    _write(sys.stdout, out.getvalue())
    line = " ".join(_clip(word) for word in message.split())
    _write(sys.stderr, f"graphdiff: {kind}{line}\n")
    return 2


def _clip(word: str, limit: int = QUOTE_LIMIT) -> str:
    """A token of an error message, cut to `limit` characters (a 10⁶-character name too)."""
    if len(word) <= limit:
        return word
    return f"{word[:limit - 40]}...[{len(word)} characters]...{word[-10:]}"


def _quote(text: str | None) -> str:
    return _clip(repr(text))


def _write(stream, text: str) -> None:
    """Write `text`, in ASCII notation where the stream's encoding lacks its signs."""
    if not text:
        return
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        text = ascii_notation(text)
    stream.write(text)
    stream.flush()


# the Unicode signs graphdiff prints, spelled in ASCII
_ASCII = {"─": "-", "∂": "d", "·": "*", "…": "...", "∞": "inf", "≈": "~", "≥": ">=",
          "≤": "<=", "≠": "!=", "Σ": "sum", "π": "pi", "√": "sqrt", "α": "alpha",
          "ᵢ": "_i", "ⱼ": "_j", "−": "-", "×": "x", "→": "->", "²": "^2"}
_SUPER = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻ˣ", "0123456789-x"))
_MARKED = re.compile("(\\w)([\u0304\u0307])")  # v̄4 -> bar_v4, v̇4 -> dot_v4
_SUPERS = re.compile(f"[{''.join(_SUPER)}]+")


def ascii_notation(text: str) -> str:
    """Unicode notation (v̄4, ∂v5/∂v3, v3⁻², a ─── rule) as ASCII (bar_v4, dv5/dv3,
    v3^-2, ---), with the text tables' columns aligned again."""
    lines = text.split("\n")
    out, k = [], 0
    while k < len(lines):
        rule = lines[k + 1] if k + 1 < len(lines) else ""
        if rule and set(rule) <= {"─", " "}:
            end = k + 2
            while end < len(lines) and lines[end].strip():
                end += 1
            out += _ascii_grid(lines[k], rule, lines[k + 2:end])
            k = end
        else:
            out.append(_ascii_line(lines[k]))
            k += 1
    return "\n".join(out)


def _ascii_line(line: str) -> str:
    line = _MARKED.sub(lambda m: ("bar_" if m.group(2) == "\u0304" else "dot_") + m.group(1),
                       line)
    line = _SUPERS.sub(lambda m: "^" + "".join(_SUPER[c] for c in m.group()), line)
    line = "".join(_ASCII.get(c, c) for c in line)
    line = unicodedata.normalize("NFKD", line)
    return line.encode("ascii", "backslashreplace").decode("ascii")


def _ascii_grid(header: str, rule: str, rows: list[str]) -> list[str]:
    """A text table (header, ─── rule, rows) in ASCII, its columns realigned."""
    from .render import width

    starts = [m.start() for m in re.finditer("─+", rule)]

    def cells(line: str) -> list[str]:
        parts, column, current = [""] * len(starts), 0, 0
        for c in line:
            while current + 1 < len(starts) and column >= starts[current + 1]:
                current += 1
            parts[current] += c
            column += width(c)
        return [_ascii_line(p.strip()) for p in parts]

    table = [cells(line) for line in [header] + rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(starts))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    return lines[:1] + ["  ".join("-" * w for w in widths)] + lines[1:]


if __name__ == "__main__":
    sys.exit(main())
