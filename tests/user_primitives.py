"""A fixture for tests that define primitives: each such test starts and ends with the
built-in registry only (user primitives are global to the process).

Not a test module (no `test_` prefix): the custom-primitive and check tests import it.
"""

from __future__ import annotations

import pytest

import graphdiff as gd
from graphdiff.primitives import REGISTRY


@pytest.fixture(autouse=True)
def forget_user_primitives():
    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        gd.unregister(name)
