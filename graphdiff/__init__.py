"""graphdiff: expressions as graphs of primitives you can trace, differentiate and compile.

>>> import graphdiff as gd
>>> g = gd.parse("x1*x2 + sin(x1)")
>>> float(g(x1=2.0, x2=3.0))
6.909297426825682

Every primitive of the registry is also a function here (`gd.sin`, `gd.sigmoid`, ...): it
builds a node when given a graph and evaluates with NumPy when given numbers.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .autodiff import (grad_graph, hessian_graph, jacobian_graph, jvp_graph, tangent_graph,
                       value_and_grad_graph)
from .check import Check, check
from .codegen import CompiledFunction
from .compiled import compile, grad, hessian, jacobian, jvp, value_and_grad
from .custom import custom_vjp, primitive
from .graph import Graph, Node
from .parse import ParseError, from_sympy, outputs, parse, symbols, tensor
from .primitives import (CONSTANTS, REGISTRY, Activation, Primitive, activations, call, is_known,
                         unregister)
from .simplify import simplify
from .trace import Trace, trace

__version__ = "0.1.0"

__all__ = ["Activation", "Check", "CompiledFunction", "Graph", "Node", "ParseError",
           "Primitive", "REGISTRY", "activations", "call", "check", "compile", "custom_vjp",
           "e", "from_sympy", "grad", "grad_graph", "hessian", "hessian_graph", "jacobian",
           "jacobian_graph", "jvp", "jvp_graph", "outputs", "parse", "pi", "primitive",
           "simplify", "symbols", "tangent_graph", "tensor", "Trace", "trace", "unregister",
           "value_and_grad", "value_and_grad_graph"]

pi = CONSTANTS["pi"]
e = CONSTANTS["e"]


def __getattr__(name: str) -> Any:
    # gd.sin, gd.sigmoid, ...: one function per registry entry, so adding a primitive
    # means adding one record and nothing here
    if is_known(name):
        return partial(call, name)
    raise AttributeError(f"module 'graphdiff' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(REGISTRY))
