"""The code generator's deciding passes return data: the schedule and the memory plan."""

import numpy as np

import graphdiff as gd
from graphdiff.codegen import NUMPY, print_module
from graphdiff.passes import plan_memory, schedule


def _lognormal(n=1000):
    g = gd.parse("sum(-0.5*((y - mu)/sigma)**2 - log(sigma))")
    return gd.value_and_grad(g, wrt=["mu", "sigma"]).specialized(
        y=np.ones(n), mu=np.float64(0.3), sigma=np.float64(1.2)).graph


def test_the_plain_schedule_keeps_the_tables_numbering():
    g = gd.parse("x*y + sin(x)")
    s = schedule(g)
    assert s.order == tuple(range(len(g.nodes)))
    assert s.fused == {} and s.end == len(g.nodes)


def test_reordering_runs_reductions_as_soon_as_their_arguments_exist():
    g = _lognormal()
    s = schedule(g, reorder=True)
    assert sorted(s.order) == list(range(len(g.nodes)))
    for n in g.nodes:  # still a topological order
        assert all(s.position[a] < s.position[n.index] for a in n.args)
    sums = [n.index for n in g.nodes if n.op == "sum"]
    assert sums and all(s.position[i] < len(g.nodes) - 1 for i in sums)


def test_a_loss_and_its_gradient_are_fused_and_scheduled_side_by_side():
    g = gd.parse(gd.mse(gd.tensor("p", (None, 2)) * gd.tensor("w", (2,)), gd.tensor("t", (None, 2))))
    d = gd.value_and_grad(g, wrt=["w"]).graph
    s = schedule(d)
    (value, grad), = s.fused.items()
    assert d.nodes[value].op == "mse" and d.nodes[grad].op == "mse_grad"
    assert s.position[grad] == s.position[value] + 1


def test_the_memory_plan_writes_only_into_dying_buffers_of_the_same_shape():
    g = _lognormal()
    s = schedule(g, reorder=True)
    plan = plan_memory(g, s, free=True, inplace=True)
    assert plan.writes, "the log-normal gradient reuses buffers"
    for i, a in plan.writes.items():
        assert a in g.nodes[i].args and g.nodes[a].shape == g.nodes[i].shape
        later = [n for n in g.nodes if a in n.args and s.position[n.index] > s.position[i]]
        assert not later and a not in g.outputs, "a buffer written while still needed"
    released = [a for dead in plan.release.values() for a in dead]
    assert len(released) == len(set(released)), "a name deleted twice"
    assert not plan.recycle and plan.masks == frozenset()


def test_without_inplace_the_plan_only_releases():
    g = _lognormal()
    plan = plan_memory(g, schedule(g), free=True, inplace=False)
    assert plan.writes == {} and plan.masks == frozenset() and plan.release
    assert plan_memory(g, schedule(g), free=False).release == {}


def test_relus_derivative_becomes_a_boolean_mask():
    g = gd.value_and_grad("sum(relu(w*x))", wrt=["w"]).specialized(
        w=np.ones(300), x=np.ones(300)).graph
    plan = plan_memory(g, schedule(g, reorder=True), inplace=True)
    assert [g.nodes[i].op for i in plan.masks] == ["binary_step"]


def test_the_numpy_printer_prints_what_the_plan_says():
    g = _lognormal()
    s = schedule(g, reorder=True)
    plan = plan_memory(g, s, free=True, inplace=True)
    source, params = print_module(g, s, plan, NUMPY, "f", None, "", {}, None)
    assert params == ["y", "mu", "sigma"]
    assert source.count("out=") == len(plan.writes)
    assert source.count("del ") == len(plan.release)
