"""Files commands write for the user (``status --html``, ``results export --out``): whole or not at all.

The text goes to a temporary file beside the target and is renamed over it
once complete, so a reader never sees half a file; a path that cannot be
written (a missing directory, a directory, no permission) is a clear error,
never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from reconciler.errors import CampaignctlError

__all__ = ["atomic_output"]


@contextmanager
def atomic_output(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """A text file to write ``path`` through; renamed into place when the block ends without error."""
    path = Path(path)
    if path.is_dir():
        raise CampaignctlError(f"cannot write {path}: it is a directory; name a file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise CampaignctlError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            yield fh
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise CampaignctlError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
