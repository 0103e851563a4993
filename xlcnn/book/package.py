"""The .xlsx package: XlsxWriter's workbook, its parts compressed on worker threads while it writes the next.

An .xlsx file is a zip of XML parts, and compressing them is a third of a big build (at 128×128, 4.5 of 16 s),
all of it on one core while the other waits. ``Book`` lets XlsxWriter write every part to its temporary file as
it always does (through its own packager); each part, once XlsxWriter has finished it, is deflated by a worker
thread into a file beside it (zlib lets go of Python's lock while it works) as XlsxWriter goes on writing the
next, and the parts are then stored in XlsxWriter's order with its time stamps. Deflating a part with zipfile's
settings gives the bytes zipfile would have written, however the part is cut into pieces for zlib, so the file
is byte-for-byte the one XlsxWriter writes (tests/test_build.py checks it).
"""

from __future__ import annotations

import os
import shutil
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any
from zipfile import ZIP_DEFLATED, LargeZipFile, ZipFile, ZipInfo

from xlsxwriter.exceptions import FileCreateError, FileSizeError
from xlsxwriter.packager import Packager
from xlsxwriter.workbook import Workbook

# Read and deflated at a time: deflate's output does not depend on how its input is cut, and big pieces let a
# worker ask for Python's lock seldom while the main thread writes the next part.
CHUNK = 1 << 20
DEFLATED_SUFFIX = ".deflated"
# The time stamp XlsxWriter gives every part it writes from a file: 31 January 1980, local time.
PART_TIME = time.mktime((1980, 1, 31, 0, 0, 0, 0, 0, -1))

Part = tuple[str, str, bool]  # (the temporary file, its name in the package, whether it is binary)


class _Deflater:
    """Deflates finished parts on two worker threads, each into ``<part>.deflated``."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="xlcnn-zip")
        self.jobs: dict[str, Future[int]] = {}  # by part: how many bytes of it were deflated

    def start(self, source: str) -> None:
        if source not in self.jobs:
            self.jobs[source] = self.pool.submit(_deflate, source)

    def deflated(self, source: str) -> str:
        """The file of the part's raw deflate stream (deflated here if it was not started, or grew after it was)."""
        self.start(source)
        if self.jobs[source].result() != os.path.getsize(source):
            _deflate(source)
        return source + DEFLATED_SUFFIX

    def close(self) -> None:
        """Stop the workers and remove what they left (after an error, or a part never stored)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        for source in self.jobs:
            if os.path.exists(source + DEFLATED_SUFFIX):
                os.remove(source + DEFLATED_SUFFIX)


class _PartsOnly(Packager):  # type: ignore[misc]  # XlsxWriter ships no type hints
    """XlsxWriter's packager, which writes every part to a temporary file; each part is handed to the deflater
    once written, and kept for ``Book`` to zip, and XlsxWriter's own zip gets none."""

    def __init__(self, deflater: _Deflater) -> None:
        super().__init__()
        self.deflater = deflater
        self.parts: list[Part] = []
        self.named = 0  # the parts named so far

    def _filename(self, xml_filename: str) -> Any:
        # XlsxWriter writes and closes each part before it names the next, so all named so far are finished.
        for source, _, _ in self.filenames[self.named:]:
            self.deflater.start(source)
        self.named = len(self.filenames)
        return super()._filename(xml_filename)

    def _create_package(self) -> list[Part]:
        self.parts = list(super()._create_package())
        return []


class Book(Workbook):  # type: ignore[misc]
    """An XlsxWriter workbook written to a file path, its parts compressed on two worker threads."""

    _deflater: _Deflater | None = None
    packagers: list[_PartsOnly]

    def _get_packager(self) -> Packager:  # XlsxWriter's hook for another packager
        if self._deflater is None:
            return Packager()
        self.packagers.append(_PartsOnly(self._deflater))
        return self.packagers[-1]

    def close(self) -> None:
        if self.fileclosed or self.in_memory or not isinstance(self.filename, str | os.PathLike):
            super().close()
            return
        self._deflater, self.packagers = _Deflater(), []
        try:
            super().close()  # every part written to a file (and being deflated), and an empty zip
            if self.packagers:
                _zip(self.filename, self.packagers[-1].parts, self.allow_zip64, self._deflater)
        except OSError as exc:
            raise FileCreateError(exc) from None  # as XlsxWriter reports it
        except LargeZipFile:
            raise FileSizeError("Filesize would require ZIP64 extensions. Use workbook.use_zip64().") from None
        finally:
            self._deflater.close()
            self._deflater = None


def _zip(path: str | os.PathLike[str], parts: list[Part], allow_zip64: bool, deflater: _Deflater) -> None:
    """``parts`` into a new zip at ``path``, as ``ZipFile.write`` writes each, each file removed once stored."""
    for source, _, _ in parts:
        deflater.start(source)  # the last part, and any XlsxWriter named without asking the packager
    with ZipFile(path, "w", compression=ZIP_DEFLATED, allowZip64=allow_zip64) as book:
        for source, name, _ in parts:
            os.utime(source, (PART_TIME, PART_TIME))
            deflated = deflater.deflated(source)
            _store(book, source, name, deflated)
            os.remove(source)
            os.remove(deflated)


def _deflate(source: str) -> int:
    """The raw deflate stream zipfile makes of a file, into ``<source>.deflated``; → how many bytes it read."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    size = 0
    with open(source, "rb") as src, open(source + DEFLATED_SUFFIX, "wb") as out:
        while chunk := src.read(CHUNK):
            size += len(chunk)
            out.write(compressor.compress(chunk))
        out.write(compressor.flush())
    return size


class _Deflated:
    """Stands in for zipfile's compressor: the part was compressed already, into a file read from as the part
    passes through (zipfile works out its checksum), a piece for each piece, so neither is held whole."""

    def __init__(self, deflated: IO[bytes]) -> None:
        self.deflated = deflated

    def compress(self, data: Any) -> bytes:
        return self.deflated.read(len(data))

    def flush(self) -> bytes:
        return self.deflated.read()


def _store(book: ZipFile, source: str, name: str, deflated: str) -> None:
    """What ``ZipFile.write(source, name)`` does — its header, the file's size and checksum, which zipfile works
    out as the file passes through — with the compressed bytes ready in the file ``deflated``."""
    info = ZipInfo.from_file(source, name)
    info.compress_type = ZIP_DEFLATED
    with open(source, "rb") as src, open(deflated, "rb") as ready, book.open(info, "w") as dest:
        dest._compressor = _Deflated(ready)  # type: ignore[attr-defined]
        shutil.copyfileobj(src, dest, CHUNK)
