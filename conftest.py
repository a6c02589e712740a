"""pytest's settings for the whole tree: the doctests of modules whose optional dependency
is missing are not collected (their tests skip themselves)."""

import importlib.util


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses the name outright
        return False


collect_ignore = [] if _installed("sklearn") else ["graphdiff/nn/estimators.py"]
