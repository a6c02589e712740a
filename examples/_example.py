"""What every example's command line does: parse --out and the example's own options, run,
print the report, draw the figures and say where they went."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FIGURES = Path(__file__).parent / "figures"


def main(doc: str, run: Callable[..., dict], report: Callable[[dict], str],
         plot: Callable[[dict, Path], list[Path]], argv: Sequence[str] | None,
         options: dict[str, tuple[type, Any, str]]) -> dict:
    """`options`: run's keyword -> (type, default, help), offered as --keyword."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=FIGURES, type=Path)
    for name, (kind, default, text) in options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default,
                            help=text)
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    result = run(**args)
    print(report(result))
    for path in plot(result, out):
        print(f"wrote {path}")
    return result
