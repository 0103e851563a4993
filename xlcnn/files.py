"""Writing files whole or not at all: a temporary file beside the target, renamed into place when complete.

Whatever stops the writing — an error, a full disk, Ctrl+C — the temporary file is removed and an earlier
file at the target is left as it was. The one way every output of xlcnn (workbooks, handouts, templates)
reaches the disk.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from xlcnn.errors import OutputError, one_line


def write_atomically(out: Path, write: Callable[[Path], object]) -> None:
    """Have ``write`` fill a new temporary file beside ``out``, then rename it to ``out``.

    The temporary file is created like any new file (so it gets the usual permissions, not mkstemp's 0600),
    or takes the permissions of the file it replaces. An ``OSError`` becomes an ``OutputError`` naming ``out``.
    """
    tmp = temporary_file(out)
    try:
        try:
            if out.exists():
                os.chmod(tmp, stat.S_IMODE(out.stat().st_mode))
            write(tmp)
            os.replace(tmp, out)
        except OSError as exc:
            raise OutputError(f"{out}: cannot be written ({reason(exc)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temporary_file(out: Path) -> Path:
    """A new, empty ``.<name>.<random><suffix>.tmp`` beside ``out``, created with the process's umask."""
    for _ in range(100):
        tmp = out.parent / f".{out.stem}.{secrets.token_hex(4)}{out.suffix}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"{out}: cannot be written ({reason(exc)})") from None
        return tmp
    raise OutputError(f"{out}: cannot be written (no free temporary file name in {out.parent})")


def reason(exc: BaseException) -> str:
    """An OSError's own words ("No space left on device")."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return one_line(str(exc)) or type(exc).__name__
