"""The notebooks in examples/notebooks/ are stored without outputs and run here, cell by
cell in a real kernel, so they cannot rot."""

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "examples" / "notebooks")
                   .glob("*.ipynb"))


def test_there_are_the_three_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01-derivative-table.ipynb",
                                           "02-generated-code.ipynb",
                                           "03-training-an-mlp.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


KERNEL = "graphdiff-tests"


def _run(path):
    book = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(book, timeout=120, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    return [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]


@pytest.fixture(scope="module")
def this_python(tmp_path_factory):
    """A kernel that runs this interpreter, whatever other "python3" kernels the machine
    has: found first on JUPYTER_PATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": KERNEL, "language": "python"}))
    before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root)] + ([before] if before else []))
    yield
    if before is None:
        del os.environ["JUPYTER_PATH"]
    else:
        os.environ["JUPYTER_PATH"] = before


def _mime(outputs, kind):
    return ["".join(o["data"][kind]) for o in outputs if kind in o.get("data", {})]


@pytest.fixture(scope="module")
def outputs(this_python):
    return {p.stem: _run(p) for p in NOTEBOOKS}


def test_every_cell_runs_without_error(outputs):
    for name, outs in outputs.items():
        assert not [o for o in outs if o["output_type"] == "error"], name


def test_the_table_notebook_shows_drawings_beside_tables(outputs):
    outs = outputs["01-derivative-table"]
    html = _mime(outs, "text/html")
    assert any("<svg" in h and "<table" in h for h in html)  # the Graph
    assert any("v\u03043 = -0.375" in s for s in _mime(outs, "image/svg+xml"))  # adjoints


def test_the_code_notebook_shows_source_beside_the_table(outputs):
    html = _mime(outputs["02-generated-code"], "text/html")
    assert any("<table" in h and "grad_x1" in h and "<span" in h for h in html)


def test_the_training_notebook_shows_models_progress_curves_and_plots(outputs):
    outs = outputs["03-training-an-mlp"]
    html = _mime(outs, "text/html")
    assert any("parameters" in h and "not trained" in h for h in html)  # the MLP
    assert any("<progress" in h for h in html)  # fit's progress, verbose=True
    assert any("History(" in h and "<polyline" in h for h in html)  # loss curves
    assert len(_mime(outs, "image/png")) >= 4
