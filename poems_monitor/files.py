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


@contextmanager
def atomic_text_file(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """Yield a UTF-8 text file; on success it replaces `path`, on error `path` is untouched."""
    path = Path(path)
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
