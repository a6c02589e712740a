"""Shared pytest hooks: the differential harness reports how much it ran."""

import sys


def pytest_terminal_summary(terminalreporter):
    harness = sys.modules.get("test_differential")
    if harness is not None and harness.COUNTS["expressions"]:
        counts = harness.COUNTS
        terminalreporter.write_line(f"differential harness: {counts['expressions']} "
                                    f"expressions, {counts['checks']} checks")
