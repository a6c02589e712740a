"""Writing files atomically: a temporary file in the target's folder, then os.replace, so a
crash never leaves half a model behind."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from typing import IO

__all__ = ["write_atomically"]


def write_atomically(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(file)` on a temporary file beside `path`, then rename it to `path`.
    A missing folder is an error that names `path`, not the temporary file."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"cannot write {path!r}: its folder {folder!r} "
                                              "does not exist", path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _file_mode(path: str) -> int:
    """The mode the file would have if written directly: kept if it exists, else 0o666
    minus the umask (mkstemp creates files private to the owner)."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
