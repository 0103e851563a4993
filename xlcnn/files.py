"""Writing files whole or not at all: a temporary file beside the target, renamed into place when complete.

Whatever stops the writing — an error, a full disk, Ctrl+C — the temporary file is removed and an earlier
file at the target is left as it was. The one way every output of xlcnn (workbooks, handouts, templates)
reaches the disk.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from xlcnn.errors import OutputError, one_line


def not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file ("missing", "is a directory", "not a regular file") or None.

    A FIFO would block a reader forever and a device (/dev/zero) fill its memory: only regular files are read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be read ({reason(exc)})"
    if stat.S_ISDIR(mode):
        return "is a directory"
    return None if stat.S_ISREG(mode) else "not a regular file"


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


def replace_together(writers: Mapping[Path, Callable[[Path], object]]) -> None:
    """Write several files so that either all of them are replaced or none is (a template's model.toml and
    weights.npz must match).

    Every new file is written whole beside its target first; then each existing target is moved aside, the
    new files renamed into place, and the old ones deleted. If any step fails, the targets that were moved
    aside come back, and the new files are removed.
    """
    fresh: dict[Path, Path] = {}
    aside: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for out, write in writers.items():
            fresh[out] = temporary_file(out)
            write(fresh[out])
        for out in writers:
            if out.exists():
                spare = temporary_file(out)
                try:
                    os.replace(out, spare)
                except BaseException:
                    spare.unlink(missing_ok=True)
                    raise
                aside[out] = spare
        for out, tmp in fresh.items():
            os.replace(tmp, out)
            placed.append(out)
    except BaseException as exc:
        _undo(fresh, aside, placed)
        if isinstance(exc, OSError):
            out = next(iter(writers))
            raise OutputError(f"{out.parent}: cannot be written ({reason(exc)}); the files there are as they "
                              "were") from None
        raise
    for old in aside.values():
        old.unlink(missing_ok=True)


def _undo(fresh: Mapping[Path, Path], aside: Mapping[Path, Path], placed: list[Path]) -> None:
    """Put back what ``replace_together`` moved aside, and remove what it wrote."""
    for out in placed:
        out.unlink(missing_ok=True)
    for out, old in aside.items():
        os.replace(old, out)
    for tmp in fresh.values():
        tmp.unlink(missing_ok=True)
