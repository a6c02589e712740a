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
    g = parse(LOGNORMAL)
    print(f"The lecture's log-normal density  f(y, mu, sigma) = {LOGNORMAL}")
    print(format_nodes_table(g))
    print(f"f(1.5, 0.5, 2.0) = {float(g(y=1.5, mu=0.5, sigma=2.0))!r}")
    return 0


def _args_parse(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the expression, e.g. 'x1*x2 + sin(x1)'")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", help="evaluate at this point")


def _args_none(p: argparse.ArgumentParser) -> None:
    pass


# name -> (help, add_arguments(parser), run(args) -> exit code); one row per subcommand
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "demo": ("the lecture's log-normal example", _args_none, _cmd_demo),
    "parse": ("show the graph of an expression, numbered as in the lecture", _args_parse,
              _cmd_parse),
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
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
