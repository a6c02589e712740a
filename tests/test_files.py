"""Files (issue 10): generated modules are written atomically with the usual permissions, and
MLP.load checks every header before it allocates, refusing anything but a saved MLP with one
clear ValueError that names the file."""

from __future__ import annotations

import io
import os
import stat
import tracemalloc
import zipfile

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import nn
from graphdiff.cli import main


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_save_honours_the_umask_and_keeps_an_existing_mode(tmp_path, umask_022):
    f = gd.compile("x*y")
    path = tmp_path / "f.py"
    f.save(path)
    assert _mode(path) == 0o644  # as open(path, "w") would make it, not mkstemp's 0600
    os.chmod(path, 0o640)
    gd.compile("x + y").save(path)
    assert _mode(path) == 0o640 and "x + y" in path.read_text()
    assert os.listdir(tmp_path) == ["f.py"]


def test_codegen_o_writes_like_save(tmp_path, umask_022, capsys):
    path = tmp_path / "g.py"
    path.write_text("old")
    os.chmod(path, 0o600)
    assert main(["codegen", "x*y", "--grad", "-o", str(path)]) == 0
    assert _mode(path) == 0o600 and path.read_text().startswith("import numpy as np")


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f.py"
    first = gd.compile("x")
    first.save(path)

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        gd.compile("x + 1").save(path)
    assert path.read_text() == first.source
    assert os.listdir(tmp_path) == ["f.py"]


# --- MLP.load ---------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    nn.MLP([2, 3, 1], seed=0).save(path)
    return path


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _npy(array: np.ndarray, header_shape=None) -> bytes:
    """A .npy member; with header_shape its header claims that shape instead."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    if header_shape is None:
        return buf.getvalue()
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
               "shape": header_shape})
    return head.getvalue() + array.tobytes()


def _rewrite(path, out, **members: bytes | None) -> str:
    """A copy of the archive at `path` with members replaced (None: removed)."""
    content = _members(path)
    for name, data in members.items():
        content.pop(f"{name}.npy", None)
        if data is not None:
            content[f"{name}.npy"] = data
    with zipfile.ZipFile(out, "w") as z:
        for name, data in content.items():
            z.writestr(name, data)
    return str(out)


def _refused(path, *words: str) -> str:
    with pytest.raises(ValueError) as info:
        nn.MLP.load(path)
    message = str(info.value)
    assert repr(str(path)) in message and "\n" not in message
    assert "allow_pickle" not in message
    for w in words:
        assert w in message, message
    return message


def test_a_huge_request_is_refused_without_allocating(saved, tmp_path):
    crafted = _rewrite(saved, tmp_path / "huge.npz",
                       layer_sizes=_npy(np.array([100_000, 100_000, 1])),
                       param_0=_npy(np.zeros(4), (100_000, 100_000)),
                       param_1=_npy(np.zeros(4), (100_000,)))
    tracemalloc.start()
    try:
        _refused(crafted, "param_0", "74.5 GB")
        assert tracemalloc.get_traced_memory()[1] < 10 * 2**20  # the peak: 10 MB at most
    finally:
        tracemalloc.stop()


def test_a_size_the_zip_directory_lies_about_is_refused(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    # param_0's entry in the central directory (after the first entry's signature)
    entry = data.rindex(b"PK\x01\x02", 0,
                        data.index(b"param_0.npy", data.index(b"PK\x01\x02")))
    data[entry + 24:entry + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # uncompressed size
    crafted = tmp_path / "lies.npz"
    crafted.write_bytes(bytes(data))
    _refused(crafted, "param_0.npy", "damaged or crafted")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_parameters_are_refused(saved, tmp_path, value):
    W = np.zeros((3, 1))
    W[1, 0] = value
    _refused(_rewrite(saved, tmp_path / "nan.npz", param_2=_npy(W)), "param_2", "NaN")


def test_shapes_must_match_the_layer_sizes(saved, tmp_path):
    _refused(_rewrite(saved, tmp_path / "a.npz", param_2=_npy(np.zeros((4, 1)))),
             "param_2", "(4, 1)", "need (3, 1)")
    _refused(_rewrite(saved, tmp_path / "b.npz", layer_sizes=_npy(np.array([2, 0, 1]))),
             "positive")
    _refused(_rewrite(saved, tmp_path / "c.npz", layer_sizes=_npy(np.array([2.0, 3.0, 1.0]))),
             "layer_sizes")
    _refused(_rewrite(saved, tmp_path / "d.npz", param_1=_npy(np.zeros(3, np.int64))),
             "param_1", "int64")


def test_missing_and_extra_keys(saved, tmp_path):
    _refused(_rewrite(saved, tmp_path / "a.npz", param_3=None), "param_3 is missing")
    _refused(_rewrite(saved, tmp_path / "b.npz", format=None), "not a saved graphdiff MLP")
    _refused(_rewrite(saved, tmp_path / "c.npz", extra=_npy(np.zeros(1))), "extra")
    _refused(_rewrite(saved, tmp_path / "d.npz", activation=_npy(np.array("swish"))),
             "unknown activation 'swish'")


def test_pickled_members_are_refused_without_advice(saved, tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _refused(_rewrite(saved, tmp_path / "p.npz", param_0=buf.getvalue()),
             "Python objects, which are never loaded")


def test_other_files_are_refused(saved, tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("these are not weights\n")
    _refused(text, "not a .npz archive")
    data = saved.read_bytes()
    for keep in (len(data) // 2, len(data) - 30, 100):
        cut = tmp_path / f"cut{keep}.npz"
        cut.write_bytes(data[:keep])
        _refused(cut)
    np.save(tmp_path / "plain.npy", np.zeros(3))
    _refused(tmp_path / "plain.npy", "not a .npz archive")


def test_a_damaged_member_is_refused(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    # flip bytes in the middle of the first weight matrix's data: the CRC check fails
    start = data.index(b"param_0.npy") + 200
    data[start:start + 8] = b"\xff" * 8
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(data))
    _refused(bad)


def test_a_good_file_still_loads(saved):
    model = nn.MLP.load(saved)
    assert model.layer_sizes == [2, 3, 1]
    np.testing.assert_array_equal(model.params[0], nn.MLP([2, 3, 1], seed=0).params[0])
