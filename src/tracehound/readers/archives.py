"""Zip members as byte streams — from the central directory, or from the local headers when it is gone.

Why: a zip's directory sits at its end, so a download cut half-way is, to ``zipfile``, no zip at all,
although every member before the cut is intact. OTRF Security-Datasets and similar archives come as
zips of JSON Lines; losing the whole archive to a cut would lose records that are there. When the
directory cannot be read, the members are found by walking the local file headers from the start
and inflated as streams; the member the cut falls in yields what precedes the cut and is reported
as damaged by the reader stream like any truncated gzip.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

LOCAL_MAGIC = b"PK\x03\x04"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # signature .. extra length: 30 bytes
_STORED, _DEFLATED = 0, 8
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Member:
    """One member: its name, compressed size (for the ratio bound) and how to read its bytes."""

    name: str
    size: int
    chunks: Callable[[], Iterator[bytes]]


def _from_directory(archive: zipfile.ZipFile) -> Iterator[Member]:
    for info in archive.infolist():
        if info.is_dir():
            continue

        def chunks(info: zipfile.ZipInfo = info) -> Iterator[bytes]:
            with archive.open(info) as member:
                while block := member.read(_CHUNK):
                    yield block

        yield Member(info.filename, info.compress_size or 1, chunks)


def _inflate(fh, method: int, size: int) -> Iterator[bytes]:
    """The bytes of the member whose data starts at ``fh``'s position; ``EOFError`` where it is cut."""
    if method == _STORED:
        left = size
        while left > 0:
            block = fh.read(min(_CHUNK, left))
            if not block:
                raise EOFError("the member is cut short")
            left -= len(block)
            yield block
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    while not inflater.eof:
        block = fh.read(_CHUNK)
        if not block:
            raise EOFError("the member's deflate stream is cut short")
        out = inflater.decompress(block)
        if out:
            yield out
    fh.seek(-len(inflater.unused_data), 1)  # back to the end of this member's data


def _from_local_headers(path: Path) -> Iterator[Member]:
    """Members found by walking local headers; each is read once, in order (a stream, not random access)."""
    with open(path, "rb") as fh:
        while True:
            head = fh.read(_LOCAL.size)
            if len(head) < _LOCAL.size or not head.startswith(LOCAL_MAGIC):
                return
            _, _, flags, method, _, _, _, size, _, name_len, extra_len = _LOCAL.unpack(head)
            name = fh.read(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace")
            fh.seek(extra_len, 1)
            if method not in (_STORED, _DEFLATED) or (method == _STORED and flags & 0x08):
                return  # sizes only in a trailing descriptor, or an unknown method: no way on
            start = fh.tell()
            done: list[bool] = []

            def chunks(start: int = start, method: int = method, size: int = size) -> Iterator[bytes]:
                fh.seek(start)
                yield from _inflate(fh, method, size)
                done.append(True)

            if not name.endswith("/"):
                yield Member(name, size or 1, chunks)
            if not done:  # the consumer did not read it (a folder entry): skip its data
                try:
                    for _ in chunks():
                        pass
                except (EOFError, zlib.error):
                    return
            if flags & 0x08:  # a data descriptor follows: optional signature, crc, sizes
                marker = fh.read(4)
                fh.seek(8 if marker == b"PK\x07\x08" else 4, 1)


def members(path: Path) -> tuple[Iterator[Member], str | None]:
    """The members of a zip, and why its directory could not be used (``None`` when it could)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return _from_local_headers(path), f"zip directory unreadable ({exc}); members read from their headers"

    def listed() -> Iterator[Member]:
        with archive:
            yield from _from_directory(archive)

    return listed(), None
