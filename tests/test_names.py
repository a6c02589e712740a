"""`name=` cannot break the generated module (issue 10): a name that is not an identifier,
or that would hide one of the module's globals (np, a helper, a builtin), is refused."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd


@pytest.mark.parametrize("name", ["np", "_sum_to", "_mse_and_grad", "_anything", "float",
                                  "tuple", "len", "print", "a b", "1f", "f()", "lambda",
                                  "x; import os", "é", "", "f" + "\u200b", None, 3])
@pytest.mark.parametrize("build", [gd.compile, gd.value_and_grad, gd.grad, gd.hessian])
def test_bad_names_are_refused_with_a_clear_error(build, name):
    with pytest.raises(ValueError, match="function name"):
        build("sum(x*y)", name=name)


def test_a_huge_name_is_quoted_in_part():
    with pytest.raises(ValueError) as info:
        gd.compile("x", name="a b" * 100_000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("name", ["f", "loss_and_grads", "v1", "grad_x", "x", "My_Function"])
def test_good_names_work(name):
    f = gd.value_and_grad("sum(x*y)", name=name)
    assert f"def {name}(" in f.source and f.fn.__name__ == name
    value, (gx, gy) = f(np.arange(3.0), np.ones(3))
    assert value == 3.0 and gx.tolist() == [1.0, 1.0, 1.0]
