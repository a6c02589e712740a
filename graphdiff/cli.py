"""The `graphdiff` command line.  Bad input gets one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .graph import Graph, node_keys
from .parse import ParseError, parse

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"


class UsageError(Exception):
    """A mistake in what the user typed; reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise UsageError(message)


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
    if args.digits < 1:
        raise UsageError("--digits must be at least 1")
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
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", required=True,
                   help="the point, e.g. x1=2 x2=3")
    p.add_argument("--direction", nargs="+", metavar="NAME=VALUE",
                   help="check tangents along this direction (default: each input in turn)")
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


def _cmd_graph(args: argparse.Namespace) -> int:
    from . import draw
    from .render import graph_to_dot

    g = parse(args.expr)
    t = _annotation(g, args)
    fmt = args.format
    if fmt is None:
        suffix = (args.output or "").rpartition(".")[2].lower()
        fmt = {"tex": "tikz"}.get(suffix, suffix if suffix in GRAPH_FORMATS else "dot")
    if fmt == "dot" and t is not None:
        raise UsageError("--show draws numbers on a picture: use --format svg, tikz, png or pdf")
    texts = {"dot": lambda: graph_to_dot(g), "svg": lambda: draw.graph_svg(g, t, args.show),
             "tikz": lambda: draw.graph_tikz(g, t, args.show, standalone=args.standalone)}
    if fmt in texts:
        text = texts[fmt]()
        if args.output:
            _drawing(lambda: _write(args.output, text), args.output)
        else:
            print(text, end="")
        return 0
    if not args.output:
        raise UsageError(f"--format {fmt} needs an output file: -o FILE.{fmt}")
    from .plot import draw_graph

    _drawing(lambda: draw_graph(g, args.output, fmt, t, args.show), args.output)
    return 0


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _drawing(write: Callable[[], object], path: str) -> None:
    """Run a step that writes a file; a missing matplotlib or a bad path is one line."""
    try:
        write()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _args_table(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the expression, e.g. 'x1*x2 + sin(x1)'")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", help="the point, e.g. x1=2 x2=3")
    p.add_argument("--direction", nargs="+", metavar="NAME=VALUE",
                   help="seed the forward sweep (inputs not named get 0), e.g. x1=1")
    p.add_argument("--mode", choices=("values", "forward", "reverse", "all"), default="all",
                   help="which tables: values and partials, the forward sweep, the reverse "
                        "sweep, or all of them (default; forward only with --direction)")
    p.add_argument("--format", choices=("text", "markdown", "latex", "html"), default="text")
    p.add_argument("--digits", type=int, default=6, help="significant digits (default 6)")
    _add_import(p)
    _add_no_stable(p)


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
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", help="the point, e.g. x1=2 x2=3")
    p.add_argument("--direction", nargs="+", metavar="NAME=VALUE",
                   help="seed of the forward sweep for --show tangents, e.g. x1=1")
    p.add_argument("--standalone", action="store_true",
                   help="tikz: a whole LaTeX document (standalone class), not only the picture")


def _args_parse(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the expression, e.g. 'x1*x2 + sin(x1)'")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", help="evaluate at this point")


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
    try:
        f.save(args.output)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def _expressions_first(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """Keep an expression that starts with a minus ('-x**2') from reading as an option:
    a leading space hides the dash from argparse, and the expression parser skips spaces."""
    options = set(parser._option_string_actions)
    for action in parser._actions:
        for sub in (getattr(action, "choices", None) or {}).values():
            if isinstance(sub, argparse.ArgumentParser):
                options |= set(sub._option_string_actions)
    out = []
    for arg in argv:
        is_option = arg == "--" or arg.split("=", 1)[0] in options
        out.append(" " + arg if arg.startswith("-") and not is_option else arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(
            _expressions_first(parser, sys.argv[1:] if argv is None else argv))
        if getattr(args, "run", None) is None:
            parser.print_help()
            return 0
        return args.run(args)
    except (UsageError, ParseError, ValueError, TypeError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"graphdiff: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
