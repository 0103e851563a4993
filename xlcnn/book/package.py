"""The .xlsx package: XlsxWriter's workbook, its parts compressed on two threads.

An .xlsx file is a zip of XML parts, and compressing them is a third of a big build (at 128×128, 4.5 of 16 s),
all of it on one core while the other waits. ``Book`` lets XlsxWriter write every part to its temporary file as
it always does (through its own packager), then zips them itself: the parts are compressed ahead, two at a time
in worker threads (zlib lets go of Python's lock while it works), and written in XlsxWriter's order with its
time stamps. Deflating a part with zipfile's settings, fed as zipfile feeds it, gives the bytes zipfile would
have written, so the file is byte-for-byte the one XlsxWriter writes (tests/test_build.py checks it).
"""

from __future__ import annotations

import os
import shutil
import time
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from zipfile import ZIP_DEFLATED, LargeZipFile, ZipFile, ZipInfo

from xlsxwriter.exceptions import FileCreateError, FileSizeError
from xlsxwriter.packager import Packager
from xlsxwriter.workbook import Workbook

CHUNK = 8 * 1024  # what zipfile reads and compresses at a time (shutil.copyfileobj in ZipFile.write)
AHEAD = 3  # parts compressed ahead of the one being written: memory holds at most this many compressed parts
# The time stamp XlsxWriter gives every part it writes from a file: 31 January 1980, local time.
PART_TIME = time.mktime((1980, 1, 31, 0, 0, 0, 0, 0, -1))

Part = tuple[str, str, bool]  # (the temporary file, its name in the package, whether it is binary)


class _PartsOnly(Packager):  # type: ignore[misc]  # XlsxWriter ships no type hints
    """XlsxWriter's packager, which writes every part to a temporary file; the parts are kept for ``Book`` to
    zip, and XlsxWriter's own zip gets none."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[Part] = []

    def _create_package(self) -> list[Part]:
        self.parts = list(super()._create_package())
        return []


class Book(Workbook):  # type: ignore[misc]
    """An XlsxWriter workbook written to a file path, its parts compressed two at a time."""

    packagers: list[_PartsOnly]

    def _get_packager(self) -> Packager:  # XlsxWriter's hook for another packager
        self.packagers.append(_PartsOnly())
        return self.packagers[-1]

    def close(self) -> None:
        if self.fileclosed or self.in_memory or not isinstance(self.filename, str | os.PathLike):
            super().close()
            return
        self.packagers = []
        super().close()  # every part written to a file, and an empty zip
        if not self.packagers:
            return
        try:
            _zip(self.filename, self.packagers[-1].parts, self.allow_zip64)
        except OSError as exc:
            raise FileCreateError(exc) from None  # as XlsxWriter reports it
        except LargeZipFile:
            raise FileSizeError("Filesize would require ZIP64 extensions. Use workbook.use_zip64().") from None


def _zip(path: str | os.PathLike[str], parts: list[Part], allow_zip64: bool) -> None:
    """``parts`` into a new zip at ``path``, as ``ZipFile.write`` writes each, each file removed once stored."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="xlcnn-zip") as pool, \
            ZipFile(path, "w", compression=ZIP_DEFLATED, allowZip64=allow_zip64) as book:
        try:
            for (source, name, _), deflated in zip(parts, _ahead(pool, parts), strict=True):
                os.utime(source, (PART_TIME, PART_TIME))
                _store(book, source, name, deflated)
                os.remove(source)
        finally:
            pool.shutdown(cancel_futures=True)


def _ahead(pool: ThreadPoolExecutor, parts: list[Part]) -> Iterator[bytes]:
    """Each part deflated, in order, with up to ``AHEAD`` more under way."""
    queue: deque[Future[bytes]] = deque()
    for source, _, _ in parts:
        queue.append(pool.submit(_deflate, source))
        if len(queue) > AHEAD:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def _deflate(source: str) -> bytes:
    """The raw deflate stream zipfile makes of a file: its compressor, fed the file ``CHUNK`` bytes at a time."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    pieces = []
    with open(source, "rb") as src:
        while chunk := src.read(CHUNK):
            pieces.append(compressor.compress(chunk))
    pieces.append(compressor.flush())
    return b"".join(pieces)


class _Deflated:
    """Stands in for zipfile's compressor: the part was compressed already."""

    def __init__(self, deflated: bytes) -> None:
        self.deflated = deflated

    def compress(self, data: Any) -> bytes:
        return b""

    def flush(self) -> bytes:
        return self.deflated


def _store(book: ZipFile, source: str, name: str, deflated: bytes) -> None:
    """What ``ZipFile.write(source, name)`` does — its header, the file's size and checksum, which zipfile works
    out as the file passes through — with the compressed bytes ready."""
    info = ZipInfo.from_file(source, name)
    info.compress_type = ZIP_DEFLATED
    with open(source, "rb") as src, book.open(info, "w") as dest:
        dest._compressor = _Deflated(deflated)  # type: ignore[attr-defined]
        shutil.copyfileobj(src, dest, 1 << 20)
