"""User-defined primitives: `primitive` (a NumPy implementation with its partials) and
`custom_vjp` (a derivative of the user's choosing, as a straight-through estimator).

Builds one `Primitive` record from the user's pieces and registers it; everything else
(parse, trace, autodiff, codegen, SymPy, the activation table) reads it from the registry
like a built-in one.  Partials written as text go through graphdiff's own parser only.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import linecache
import sys
import textwrap
import types
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .graph import Graph, Store
from .parse import parse
from .primitives import Activation, Primitive, call, register

__all__ = ["primitive", "custom_vjp", "Template"]

Rule = Any  # a string in graphdiff's grammar, a Graph, a number or a function


class Template:
    """A derivative rule as data: an expression over the primitive's argument names, `out`
    (the primitive's value) and, in vjp rules, `bar` (the adjoint).  Called with handles
    (graph nodes) it builds a graph; called with arrays it evaluates."""

    def __init__(self, graph: Graph, slots: Sequence[str]):
        unknown = [n for n in graph.inputs if n not in slots]
        if unknown:
            raise ValueError(f"the rule {graph} uses {', '.join(map(repr, unknown))}, which "
                             f"is not among {', '.join(slots)}")
        self.graph = graph
        self.slots = tuple(slots)

    def __call__(self, *values: Any) -> Any:
        bound = dict(zip(self.slots, values))
        out: list[Any] = []
        for n in self.graph.nodes:
            if n.op == "input":
                out.append(bound[n.name])
            elif n.op == "const":
                out.append(n.value)
            else:
                out.append(call(n.op, *[out[a] for a in n.args], **dict(n.params)))
        return out[self.graph.outputs[0]]

    def __repr__(self) -> str:
        return f"Template({str(self.graph)!r})"


def _rule(rule: Rule, slots: Sequence[str], what: str) -> Callable[..., Any]:
    """A partial or vjp rule from what the user gave, called as rule(*slots)."""
    if isinstance(rule, str):
        return Template(parse(rule), slots)
    if isinstance(rule, Graph):
        return Template(rule, slots)
    if isinstance(rule, (int, float)) and not isinstance(rule, bool):
        return Template(parse(repr(float(rule))), slots)
    if callable(rule):
        return rule
    raise TypeError(f"{what} must be an expression (text or graph), a number or a "
                    f"function, not {type(rule).__name__}")


# --- the implementation, as source a generated module can carry ------------------------------

def _arguments(fn: Any, args: Sequence[str] | None) -> tuple[str, ...]:
    if args is not None:
        names = tuple(args)
    elif isinstance(fn, np.ufunc):
        names = ("x", "y", "z")[:fn.nin] if fn.nin <= 3 else tuple(f"x{i}" for i in range(fn.nin))
    else:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            raise TypeError(f"cannot read the arguments of {fn!r}; pass args=(...)") from None
        names = tuple(p.name for p in sig.parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                      and p.default is p.empty)
    for n in names + ("out",):
        if n in ("bar",) or not n.isidentifier():
            raise ValueError(f"argument name {n!r} is not usable in rules")
    if not names:
        raise ValueError("a primitive needs at least one argument")
    if "out" in names:
        raise ValueError("'out' names the primitive's value in rules; rename that argument")
    return names


def _function_node(fn: Callable, tree: ast.Module) -> ast.FunctionDef | None:
    """The def or lambda of fn in its parsed source, as a def without decorators."""
    code = fn.__code__
    if fn.__name__ != "<lambda>":
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == fn.__name__:
                node.decorator_list = []
                return node
        return None
    lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)
               and [a.arg for a in n.args.args] == list(code.co_varnames[:code.co_argcount])]
    if len(lambdas) != 1:
        return None
    lam = lambdas[0]
    extra = {"type_params": []} if sys.version_info >= (3, 12) else {}
    return ast.FunctionDef(name="f", args=lam.args, body=[ast.Return(lam.body)],
                           decorator_list=[], returns=None, **extra)


def _free_names(node: ast.FunctionDef) -> set[str]:
    """Names the function reads but neither receives nor assigns (nor are builtins)."""
    bound = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    loads = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
    return loads - bound - set(dir(builtins))


def standalone_source(fn: Callable, name: str) -> tuple[str | None, str]:
    """fn's source as a module-level def called `name` that needs only NumPy (modules it
    reads as globals are imported inside it), or None and the reason it cannot be."""
    if not isinstance(fn, types.FunctionType):
        return None, f"{fn!r} is not a Python function"
    if fn.__code__.co_freevars:
        return None, (f"it reads {', '.join(fn.__code__.co_freevars)} from an enclosing "
                      f"function")
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None, "its source code cannot be read"
    node = _function_node(fn, tree)
    if node is None:
        return None, "its definition cannot be told apart in its source line"
    imports = []
    for free in sorted(_free_names(node)):
        value = fn.__globals__.get(free)
        if isinstance(value, types.ModuleType):
            if not (free == "np" and value is np):
                imports.append(ast.Import(names=[ast.alias(name=value.__name__, asname=free)]))
        else:
            return None, f"it reads the global {free!r}, which a saved module would not have"
    node.name = name
    node.body = imports + node.body
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=[node], type_ignores=[]))) + \
        "\n", ""


def _load(source: str, name: str) -> Callable:
    """Compile a helper's source through a registered file name, so that inspect and
    tracebacks show it (the source is the user's own function, rewritten by ast)."""
    filename = f"<graphdiff-primitive-{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"np": np, "__name__": f"graphdiff_primitive_{name}"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 (see docstring)
    return namespace[name]


def _implementation(name: str, fn: Callable, arity: int) -> tuple[Callable, str, tuple]:
    """(impl, NumPy template, helpers) for fn: a NumPy ufunc is called by name; a Python
    function is emitted with the generated code, or lent by the session (and then
    `CompiledFunction.save` refuses) when its source cannot stand alone."""
    slots = ", ".join(f"{{{i}}}" for i in range(arity))
    if isinstance(fn, np.ufunc) and getattr(np, fn.__name__, None) is fn:
        return fn, f"np.{fn.__name__}({slots})", ()
    helper_name = f"_gd_{name}"
    source, reason = standalone_source(fn, helper_name)
    if source is not None:
        helper = _load(source, helper_name)
        return helper, f"{helper_name}({slots})", (helper,)

    def lent(*args: Any) -> Any:
        return fn(*args)

    lent.__name__ = lent.__qualname__ = helper_name
    lent.graphdiff_not_standalone = f"primitive {name}: {reason}"  # see codegen
    return fn, f"{helper_name}({slots})", (lent,)


# --- SymPy: a Function whose fdiff is the partials ---------------------------------------------

class _SympyFunction:
    """The primitive's SymPy counterpart: `sympy.Function` subclass called `name`, whose
    `fdiff` is the partials (so sympy.diff works) and which evaluates numerically with the
    NumPy implementation; `from_sympy` maps it back by name."""

    def __init__(self, name: str, args: tuple[str, ...], partials: tuple, impl: Callable):
        self.name, self.args, self.partials, self.impl = name, args, partials, impl
        self._cls = None

    def __call__(self, sp, *args: Any) -> Any:
        if self._cls is None:
            self._cls = self._build(sp)
        return self._cls(*args)

    def _build(self, sp):
        spec = self

        def fdiff(fn_self, argindex=1):
            if not spec.partials:
                raise NotImplementedError(f"{spec.name} has a custom vjp, not partials: "
                                          f"SymPy cannot differentiate it")
            store = Store()
            handles = [Graph(store, (store.input(a),)) for a in spec.args]
            out = Graph(store, (store.input("out"),))
            partial = spec.partials[argindex - 1](*handles, out)
            if not isinstance(partial, Graph):
                return sp.Float(float(partial))
            subs = {sp.Symbol(a): v for a, v in zip(spec.args, fn_self.args)}
            subs[sp.Symbol("out")] = fn_self
            return partial.to_sympy().xreplace(subs)

        def _eval_evalf(fn_self, prec):
            if not all(a.is_number for a in fn_self.args):
                return None
            values = [float(a.evalf(prec)) for a in fn_self.args]
            return sp.Float(float(spec.impl(*np.float64(values))), prec)

        return type(self.name, (sp.Function,), {"nargs": len(self.args), "fdiff": fdiff,
                                                "_eval_evalf": _eval_evalf})


def _sympy_spelling(sympy: Any, name: str, args: tuple[str, ...], partials: tuple,
                    impl: Callable) -> Any:
    if sympy is None:
        return _SympyFunction(name, args, partials, impl)
    if isinstance(sympy, str):  # an expression in graphdiff's grammar
        template = parse(sympy)
        Template(template, args)  # checks its names

        def spelled(sp, *values):
            return template.to_sympy().xreplace({sp.Symbol(a): v for a, v in zip(args, values)})
        return spelled
    if callable(sympy):
        return sympy
    raise TypeError("sympy must be an expression (text), a function (sp, *args) or None")


def _activation(activation: Activation | Mapping[str, str] | None, name: str):
    if activation is None or isinstance(activation, Activation):
        return activation
    fields = {"title": name, "equation": f"f(x) = \\operatorname{{{name}}}(x)",
              "derivative": "", "range": "", "continuity": "", "monotonic": "",
              "derivative_monotonic": "", "identity_near_origin": ""}
    unknown = set(activation) - set(fields)
    if unknown:
        raise TypeError(f"unknown activation field(s) {', '.join(sorted(unknown))}; the "
                        f"fields are {', '.join(fields)}")
    return Activation(**{**fields, **activation})


# --- the public functions ------------------------------------------------------------------------

def primitive(name: str, impl: Callable | None = None, partials: Rule | Sequence[Rule] = None,
              *, args: Sequence[str] | None = None, latex: str | None = None,
              sympy: Any = None, activation: Activation | Mapping[str, str] | None = None,
              doc: str = "", aliases: Sequence[str] = (), replace: bool = False) -> Any:
    """Define an elementwise primitive: its NumPy implementation and one partial derivative
    per argument, each an expression over the arguments' names and `out` (the value) in
    graphdiff's grammar (``"out*(1 - out)"``), a graph, a number, or a function of
    (*args, out) like the registry's own rules.  It then parses, evaluates, traces,
    differentiates to any order, compiles, saves and converts to SymPy like a built-in one.
    Used as a decorator when `impl` is left out.

    >>> import numpy as np, graphdiff as gd
    >>> @gd.primitive("swish", partials="sigmoid(x) + out*(1 - sigmoid(x))")
    ... def swish(x):
    ...     return x / (1 + np.exp(-x))
    >>> round(float(gd.parse("swish(x)")(x=1.0)), 6), round(float(gd.grad("swish(x)")(1.0)), 6)
    (0.731059, 0.927671)
    >>> gd.unregister("swish")
    """
    if impl is None:
        return lambda fn: primitive(name, fn, partials, args=args, latex=latex, sympy=sympy,
                                    activation=activation, doc=doc, aliases=aliases,
                                    replace=replace)
    names = _arguments(impl, args)
    if partials is None:
        raise TypeError(f"{name}: give its partial derivatives, one per argument "
                        f"({', '.join(names)}), or use custom_vjp")
    given = [partials] if isinstance(partials, (str, Graph)) or callable(partials) \
        or isinstance(partials, (int, float)) else list(partials)
    if len(given) != len(names):
        raise ValueError(f"{name} takes {len(names)} argument(s) ({', '.join(names)}) but "
                         f"{len(given)} partial(s) were given")
    rules = tuple(_rule(p, names + ("out",), f"{name}'s partial") for p in given)
    return _register(name, impl, names, rules, latex=latex, sympy=sympy,
                     activation=activation, doc=doc, aliases=aliases, replace=replace)


def custom_vjp(name: str, impl: Callable, vjp: Rule | Sequence[Rule], *,
               args: Sequence[str] | None = None, latex: str | None = None, sympy: Any = None,
               doc: str = "", aliases: Sequence[str] = (), replace: bool = False) -> Any:
    """Define an elementwise primitive whose reverse-mode derivative is given, not derived:
    `vjp` has one adjoint contribution per argument, an expression over the arguments,
    `out` and `bar` (the adjoint arriving at the primitive).  A straight-through
    estimator passes `bar` through a step; a gradient clip bounds it.

    Forward mode uses the same expressions with the tangent in `bar`'s place: exact when a
    rule is linear in `bar`, as every true derivative is (a clipped gradient is not).

    >>> import numpy as np, graphdiff as gd
    >>> gd.custom_vjp("ste_sign", np.sign, vjp="bar")       # straight-through estimator
    <Primitive ste_sign>
    >>> float(gd.grad("ste_sign(w)*3")(w=0.2))
    3.0
    >>> gd.unregister("ste_sign")
    """
    names = _arguments(impl, args)
    given = [vjp] if isinstance(vjp, (str, Graph)) or callable(vjp) \
        or isinstance(vjp, (int, float)) else list(vjp)
    if len(given) != len(names):
        raise ValueError(f"{name} takes {len(names)} argument(s) ({', '.join(names)}) but "
                         f"{len(given)} vjp rule(s) were given")
    rules = tuple(_rule(r, ("bar",) + names + ("out",), f"{name}'s vjp") for r in given)

    def vjp_rule(bar, *values):
        return tuple(r(bar, *values) for r in rules)

    def jvp_rule(dots, *values):
        terms = [r(d, *values) for r, d in zip(rules, dots) if d is not None]
        total = terms[0] if terms else None
        for t in terms[1:]:
            total = total + t
        return total

    return _register(name, impl, names, (), vjp=vjp_rule, jvp=jvp_rule, latex=latex,
                     sympy=sympy, doc=doc, aliases=aliases, replace=replace)


def _register(name: str, fn: Callable, names: tuple[str, ...], rules: tuple, *,
              vjp: Callable | None = None, jvp: Callable | None = None, latex: str | None,
              sympy: Any, activation: Any = None, doc: str, aliases: Sequence[str],
              replace: bool) -> _Handle:
    from .primitives import _check_name

    _check_name(name)  # before any source is read or compiled under that name
    import graphdiff

    if name in graphdiff.__all__ or name in ("render", "stable", "custom"):
        # gd.<name> would stay the function of the package, not the primitive
        raise ValueError(f"{name!r} is a function of graphdiff (gd.{name}); choose another "
                         f"name")
    impl, template, helpers = _implementation(name, fn, len(names))
    prim = Primitive(
        name=name, arity=len(names), impl=impl, partials=rules, numpy=template,
        latex=latex if latex is not None else r"\operatorname{%s}" % name.replace("_", r"\_"),
        sympy=_sympy_spelling(sympy, name, names, rules, impl),
        aliases=tuple(aliases), activation=_activation(activation, name),
        doc=doc or (fn.__doc__ or "").strip().split("\n")[0], vjp=vjp, jvp=jvp,
        helpers=helpers, elementwise=True,
        # the user's function may return its argument (lambda x: x) or a 0-d array: the
        # generated code then copies or unwraps the result rather than assume otherwise
        view="same", zero_d_array=True)
    register(prim, replace=replace)
    return _Handle(prim)


class _Handle:
    """What `primitive` returns: callable like `gd.<name>` (builds a node from graphs,
    evaluates numbers), with the registry record as `.primitive`."""

    def __init__(self, prim: Primitive):
        self.primitive = prim
        self.__name__ = prim.name
        self.__doc__ = prim.doc

    def __call__(self, *args: Any, **params: Any) -> Any:
        return call(self.primitive.name, *args, **params)

    def __repr__(self) -> str:
        return f"<Primitive {self.primitive.name}>"
