"""Reading .npz archives that may be hostile: headers first, arrays only once they check out.

`np.load` would allocate whatever a header asks for (a crafted 1 KB file can ask for
10⁵ x 10⁵ weights) and answers a pickled member with advice to allow pickles.  Here every
member's header is read and matched against its size in the archive before any array is.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any, Iterable

import numpy as np

__all__ = ["ArchiveError", "npz_headers", "read_members"]

# deflate cannot shrink data by more than about 1032:1, so a member that claims more than
# this many bytes per stored byte is lying about its size
_MAX_RATIO = 1100


class ArchiveError(ValueError):
    """An archive that is not what it should be; says which file and what is wrong."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"cannot load {path!r}: {problem}")


def npz_headers(path: str | os.PathLike,
                what: str = ".npz") -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's (shape, dtype) as its header states them, checked against the bytes the
    archive holds for it; nothing is allocated for the arrays themselves.  `what` names
    the kind of file expected, for the error if it is not even an archive."""
    path = os.fspath(path)
    headers = {}
    for info, f in _members(path, what):
        with f:
            shape, dtype, data_bytes = _header(path, info.filename, f)
            held = info.file_size - f.tell()  # tell: the header's length
        if held != data_bytes:
            raise ArchiveError(path, f"{_name(info)} says it holds {_size(data_bytes)} but "
                                     f"the archive has {_size(held)} for it: the file is "
                                     "damaged or crafted")
        if info.file_size > _MAX_RATIO * info.compress_size + 1024:
            raise ArchiveError(path, f"{_name(info)} claims {_size(info.file_size)} stored "
                                     f"in {_size(info.compress_size)}")
        headers[info.filename[:-4]] = (shape, dtype)
    return headers


def read_members(path: str | os.PathLike, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The named arrays (whose headers npz_headers has checked), never unpickling."""
    path = os.fspath(path)
    wanted = {f"{n}.npy" for n in names}
    out = {}
    for info, f in _members(path):
        with f:
            if info.filename in wanted:
                try:
                    out[info.filename[:-4]] = np.lib.format.read_array(f, allow_pickle=False)
                except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                    raise ArchiveError(path, f"{_name(info)} cannot be read ({exc})") from None
    return out


def _members(path: str, what: str = ".npz") -> Iterable[tuple[zipfile.ZipInfo, Any]]:
    """Each member of the zip archive at `path` and an open file on it."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(path, f"not {what}: not a .npz archive, or a truncated one "
                                 f"({exc})") from None
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy") or "/" in info.filename:
                raise ArchiveError(path, f"unexpected member {_name(info)}")
            try:
                yield info, archive.open(info)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise ArchiveError(path, f"{_name(info)} is damaged ({exc})") from None


def _header(path: str, member: str, f: Any) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, bytes of data) from a .npy header."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"unknown .npy version {version}")
        shape, _, dtype = read(f)
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile) as exc:
        raise ArchiveError(path, f"{member!r} is not a NumPy array ({exc})") from None
    if dtype.hasobject:
        raise ArchiveError(path, f"{member!r} holds Python objects, which are never loaded")
    count = 1
    for d in shape:
        count *= d
    return shape, dtype, count * dtype.itemsize


def _name(info: zipfile.ZipInfo) -> str:
    return repr(info.filename[:80])


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
