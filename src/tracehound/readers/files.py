"""Finding input files, and handing them to readers and engines the same way for every family.

A Sentinel export is one file per five minutes (100,000+ files); a folder holds sub-folders someone
cannot read; a file is called ``br[ab].jsonl``. Readers should not each learn that. Opening and
decoding are :mod:`tracehound.readers.stream`'s job (the one reader stream).
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..badrecords import ReadReport
from ..errors import InputFormatError
from .limits import DEFAULT, Limits
from .stream import GZIP_MAGIC, TextStream, decode_counted
from .stream import head_chars as _stream_head_chars
from .stream import head_text as _stream_head_text

__all__ = ["GZIP_MAGIC", "HEAD_BYTES", "MARKERS", "Head", "decode", "expand", "head_chars", "head_text",
           "is_gzip", "iter_lines", "read_head", "read_whole", "safe_path"]

#: Marker files Spark / Hadoop leave beside Parquet parts; they hold no data and are no input.
MARKERS = frozenset({"_SUCCESS", "_committed", "_started"})
#: Characters DuckDB and Spark (Hadoop) read as glob or URI syntax in a path they are given.
_PATH_SPECIAL = frozenset("*?[]{}\\:,")

#: A folder or file that could not be listed or opened, and why.
Problem = tuple[Path, str]


def _walk(folder: Path, problems: list[Problem] | None) -> list[str]:
    """Every non-hidden file under ``folder`` (as text: :func:`expand` makes the paths), in path
    order; sub-folders that cannot be listed go to ``problems``.

    ``os.scandir`` tells files from folders without a ``stat`` per file, and sorting the paths' parts
    as text instead of as :class:`Path` objects: a Sentinel export of 100,000 files is listed in a
    fraction of a second instead of three.
    """
    found: list[str] = []
    pending = [str(folder)]
    while pending:
        root = pending.pop()
        try:
            with os.scandir(root) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    try:
                        if entry.is_dir():
                            pending.append(entry.path)
                        elif entry.is_file():
                            found.append(entry.path)
                    except OSError:
                        continue  # vanished while listed
        except OSError as exc:
            if problems is not None:
                problems.append((Path(exc.filename or root), f"folder not readable: {exc.strerror or exc}"))
    found.sort(key=lambda p: p.split(os.sep))
    return found


def expand(paths: str | Path | Iterable[str | Path], problems: list[Problem] | None = None) -> list[Path]:
    """Files named by paths, folders (searched recursively) and globs, sorted and de-duplicated.

    One path may be given on its own instead of in a list. A name that is an existing file or folder
    is taken literally (``br[ab].jsonl`` is that file, never ``bra.jsonl``); only a name that exists
    as nothing is tried as a glob. Hidden files (``.name``) inside folders are skipped; sub-folders
    that cannot be listed (permissions) are appended to ``problems`` as ``(path, reason)``. A name
    that matches nothing raises :class:`InputFormatError` naming it, because a typo should not turn
    into "no findings".
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    # Keyed by text: a path's text names it as its Path does (both normalised), and hashing 100,000
    # Path objects costs more than making them.
    found: dict[str, None] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.update(dict.fromkeys(_walk(p, problems)))
        elif p.is_file():
            found[str(p)] = None
        else:
            matches = sorted(Path(m) for m in glob.glob(str(raw), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise InputFormatError("no such file, folder or glob match", path=str(raw))
            found.update(dict.fromkeys(str(f) for f in files))
    return [Path(f) for f in found]


def cannot_open(path: Path) -> str | None:
    """Why ``path`` cannot be opened for reading (permissions, vanished), or ``None``."""
    head = first_bytes(path, 0)
    return head if isinstance(head, str) else None


def first_bytes(path: Path, n: int) -> bytes | str:
    """The first ``n`` bytes of ``path`` (fewer in a shorter file), or why it cannot be opened:
    whether a file can be read and what its magic bytes are, in one open."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        return f"cannot open: {exc.strerror or exc}"


#: Bytes :func:`read_head` reads of each file: more than any sniffer looks at (the sign-in sniffer's
#: 262,144 characters need at most 1 MiB of UTF-8), and the whole of a Sentinel export's small files.
HEAD_BYTES = 1 << 20
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class Head:
    """A file's first bytes as routing read them, handed to every family's sniffer.

    Why: a Sentinel export folder is 100,000 small files; opening each once for its magic bytes and
    again in every sniffer cost more than reading the records. ``whole``: the file ends within
    ``data``, so a sniffer may take its text from them instead of opening the file. ``identity``:
    (size, modification time in ns, inode) of the open file, to tell later whether it has changed.
    """

    data: bytes
    whole: bool
    identity: tuple[int, int, int]

    def text(self) -> str | None:
        """The file's whole text, decoded as :class:`~.stream.TextStream` decodes it, when ``data``
        holds all of a plain (not gzip'd) file; ``None`` when the file must be read for it."""
        if not self.whole or self.data.startswith(GZIP_MAGIC):
            return None
        return decode(self.data)


def read_head(path: Path) -> Head | str:
    """The first :data:`HEAD_BYTES` of ``path`` in one open, or why it cannot be opened (the reason
    :func:`first_bytes` gives). ``os.open`` / ``os.read`` of the size ``fstat`` gives: a buffered
    file object, or a 1 MiB buffer for a file of a few KB, costs more than the read itself."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        return f"cannot open: {exc.strerror or exc}"
    try:
        st = os.fstat(fd)
        pieces, size = [], 0
        want = min(HEAD_BYTES, st.st_size + 1)  # a small file whole, and one byte more to see its end
        while size < HEAD_BYTES:
            piece = os.read(fd, want)
            pieces.append(piece)
            size += len(piece)
            if not piece or (len(piece) < want and size == st.st_size):
                break  # a short read that reaches the file's size is its end: no read to confirm it
            want = HEAD_BYTES - size
    except OSError as exc:
        return f"cannot open: {exc.strerror or exc}"
    finally:
        os.close(fd)
    data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    return Head(data, size < HEAD_BYTES, (st.st_size, st.st_mtime_ns, st.st_ino))


def read_whole(path: Path) -> bytes | None:
    """The whole file, or ``None`` when it cannot be read (a reader's Python pass then names why).
    ``os.read`` of the size ``fstat`` gives: a file object's whole read costs three times as much for a
    file of a few KB, which matters for a folder of 100,000 of them."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        want = os.fstat(fd).st_size + 1  # one byte more: a file that grew is read on, not cut
        pieces = []
        while piece := os.read(fd, want):
            pieces.append(piece)
            want = 1 << 20
        return b"".join(pieces)
    except OSError:
        return None
    finally:
        os.close(fd)


def head_chars(path: Path, size: int, head: Head | None = None) -> tuple[str, str | None]:
    """At least the first ``size`` characters of a file's text (decompressed; whole decoded chunks,
    so often more) and the damage met on the way, if any: from ``head`` when it holds the whole
    plain file, else from the file."""
    text = head.text() if head is not None else None
    return (text, None) if text is not None else _stream_head_chars(path, size)


def head_text(path: str | Path, size: int = 65536, head: Head | None = None) -> str:
    """The first ``size`` characters of a file's text (decompressed), for sniffing its format: from
    ``head`` (:func:`read_head`) when it holds the whole plain file, else from the file."""
    text = head.text() if head is not None else None
    return text[:size] if text is not None else _stream_head_text(path, size)


def is_pattern(path: Path) -> bool:
    """Whether an engine would read ``path`` as a glob or URI pattern rather than as a name."""
    return bool(_PATH_SPECIAL & set(str(path.resolve())))


def safe_path(path: Path, folder: Path) -> Path:
    """``path``, or a link to it in ``folder`` under a plain name when its name holds characters an
    engine would read as a glob or URI (``*``, ``[ab]``, ``:``): DuckDB and Spark take a path as a
    pattern, so ``br[ab].jsonl`` would be read as ``bra.jsonl``."""
    if not is_pattern(path):
        return path
    digest = hashlib.sha1(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    suffix = "".join(c for c in path.suffix if c.isalnum() or c == ".")
    link = folder / f"input-{digest}{suffix}"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(path.resolve())
        except OSError:  # a file system without links: a copy will do
            import shutil

            shutil.copyfile(path, link)
    return link


def is_gzip(path: str | Path) -> bool:
    """Whether the file is gzip'd, by its magic bytes (not its name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def decode(data: bytes) -> str:
    """Text from bytes held in memory (a sniffer's head): UTF-8 (BOM or not) or UTF-16 with BOM."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return decode_counted(data, "utf-16")[0]
    return decode_counted(data, "utf-8-sig")[0]


def iter_lines(path: str | Path, report: ReadReport | None = None, limits: Limits = DEFAULT
               ) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for each non-blank line, 1-based, whatever the compression/encoding;
    damage, over-long lines and replaced bytes go to ``report`` (see :class:`TextStream`)."""
    for number, line in TextStream(path, report, limits).lines():
        line = line.rstrip("\r")
        if line.strip():
            yield number, line
