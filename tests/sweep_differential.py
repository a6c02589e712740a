"""The differential harness's long run: draws expressions seed after seed for a while and
reports every disagreement (where a hypothesis run stops at the first), with how many
expressions and checks it ran.

    python tests/sweep_differential.py --minutes 30 [--start 0]

Each seed is `test_differential.random_case(seed)`, checked by `check_case`, the same
function the test suite runs on its seeded profile; a failing seed is rerun alone with
`--start SEED --count 1`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_differential as harness  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--start", type=int, default=0, help="the first seed")
    parser.add_argument("--count", type=int, default=None, help="at most this many seeds")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="graphdiff-sweep-"))
    start, seed, failures, rejected = time.time(), args.start, [], 0
    while time.time() - start < 60 * args.minutes and \
            (args.count is None or seed < args.start + args.count):
        case = harness.random_case(seed)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                harness.check_case(case, folder)
        except harness.Rejected:
            rejected += 1
        except Exception as exc:  # noqa: BLE001 - every disagreement is reported
            message = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            failures.append(seed)
            print(f"FAIL seed {seed} ({case.dtype.name}): {str(case.graph)[:160]}\n"
                  f"     {type(exc).__name__}: {message}", flush=True)
        seed += 1
    counts = harness.COUNTS
    print(f"{time.time() - start:.0f} s, seeds {args.start}..{seed - 1}: "
          f"{counts['expressions']} expressions, {counts['checks']} checks, "
          f"{rejected} rejected (not finite at their point), {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
