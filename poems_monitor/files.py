"""Writing files so that a half-written one never replaces a good one.

Owns the one recipe every export uses: write to a temporary file in the same folder, flush it to
disk, then rename it over the target (atomic on the same file system). Qt-free and SQL-free.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from poems_monitor.i18n import tr


class TargetRefused(OSError):
    """The path to write is a folder, a device, a pipe or a socket: nothing is written there (a
    rename over /dev/null would replace the device). The message is one sentence."""


def refuse_unless_regular(path: Path) -> None:
    """Raise TargetRefused when `path` exists and is not a plain file (or a link to one)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        what = tr("a folder") if path.is_dir() else tr("a device, pipe or socket, not a file")
        raise TargetRefused(tr("{path} is {what}: give the name of a file to write; nothing was written").format(
            path=path, what=what))


@contextmanager
def atomic_text_file(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """Yield a UTF-8 text file; on success it replaces `path`, on error `path` is untouched.
    A `path` that is a folder or a device is refused (TargetRefused) before anything is written."""
    path = Path(path)
    refuse_unless_regular(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
