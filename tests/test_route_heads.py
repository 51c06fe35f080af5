"""Routing reads each file's head once and every sniffer judges those bytes as it judges the file.

Why: a Sentinel export folder is 100,000 small files, and opening each once per sniffer cost more
than reading its records (issue 15). The reference is each sniffer reading the file itself (no
``head``): every format of the hostile-input suite at random sizes and encodings, gzip'd, over
:data:`~tracehound.readers.files.HEAD_BYTES`, empty, binary, Parquet, and the real exports in
``tests/data``, must get the same format and the same why-not message either way.
"""

from __future__ import annotations

import builtins
import codecs
import gzip
import io
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracehound.readers import families
from tracehound.readers.families import FAMILIES, route
from tracehound.readers.files import HEAD_BYTES, first_bytes, read_head
from tracehound.readers.signin_sniff import sniff
from tracehound.readers.signinlogs_folder import _records, _write
from tracehound.schema import SIGNINS

from hostile_formats import FORMATS, latin1

DATA = Path(__file__).parent / "data"


def _plain_corpus(root: Path, rng: random.Random) -> list[Path]:
    """Every format as plain text files of random length, in UTF-8, UTF-8 with BOM, UTF-16 and with
    Latin-1 bytes: files the head holds whole, so routing must not open them again."""
    out = []
    for fmt in FORMATS:
        body = fmt.body([fmt.good(rng, i) for i in range(rng.randrange(1, 40))])
        encodings = {"utf8": body.encode("utf-8"), "bom": codecs.BOM_UTF8 + body.encode("utf-8"),
                     "utf16": body.encode("utf-16"), "latin1": latin1(body)}
        for name, data in rng.sample(sorted(encodings.items()), 2):
            path = root / f"{fmt.name}-{name}.log"
            path.write_bytes(data)
            out.append(path)
    for name, data in {"empty": b"", "blank": b" \n\t\n", "binary": bytes(rng.randrange(256) for _ in range(3000)),
                       "notes": b"meeting at 10, bring the slides\n", "cut-utf8": "caf\u00e9".encode()[:-1]}.items():
        path = root / f"{name}.txt"
        path.write_bytes(data)
        out.append(path)
    return out


def _corpus(root: Path, rng: random.Random) -> list[Path]:
    """The plain files plus those a sniffer must open again (gzip, longer than the head, Parquet)."""
    out = _plain_corpus(root, rng)
    for fmt in rng.sample(FORMATS, 4):
        body = fmt.body([fmt.good(rng, i) for i in range(rng.randrange(1, 40))]).encode("utf-8")
        path = root / f"{fmt.name}.gz"
        path.write_bytes(gzip.compress(body))
        out.append(path)
        big = root / f"{fmt.name}-big.log"
        lines = [fmt.good(rng, i) for i in range(200)]
        while sum(map(len, lines)) < HEAD_BYTES + rng.randrange(1000):
            lines += lines
        big.write_text(fmt.body(lines))
        out.append(big)
    saved = root / "saved.parquet"
    pq.write_table(SIGNINS.empty_table(), saved)
    other = root / "other.parquet"
    pq.write_table(pa.table({"a": [1]}), other)
    return out + [saved, other]


@pytest.fixture(params=[11, 12, 13])
def rng(request) -> random.Random:
    return random.Random(request.param)


def test_route_opens_each_plain_file_once(tmp_path: Path, rng: random.Random, monkeypatch):
    files = _plain_corpus(tmp_path, rng)
    expected = {}
    for path in files:  # the first family whose sniffer, reading the file itself, takes it
        expected[path] = next((f.table for f in FAMILIES if f.sniff(path)), None)
    opened: list[str] = []

    def counting(real):
        def opener(file, *args, **kwargs):
            opened.append(os.fspath(file) if not isinstance(file, int) else "fd")
            return real(file, *args, **kwargs)
        return opener

    monkeypatch.setattr(os, "open", counting(os.open))
    monkeypatch.setattr(builtins, "open", counting(builtins.open))
    monkeypatch.setattr(io, "open", counting(io.open))
    routing = route([tmp_path])
    assert sorted(p for p in opened if p.startswith(str(tmp_path))) == sorted(str(p) for p in files)
    got = {p: table for table, paths in routing.files.items() for p in paths}
    assert {p: got.get(p) for p in files} == expected
    assert sorted(routing.unrecognised) == sorted(p for p in files if expected[p] is None)


def test_every_sniffer_judges_the_head_as_it_judges_the_file(tmp_path: Path, rng: random.Random):
    files = _corpus(tmp_path, rng) + sorted(p for p in DATA.rglob("*") if p.is_file())
    for path in files:
        head = read_head(path)
        assert not isinstance(head, str), path
        assert sniff(path, head) == sniff(path), path
        for family in FAMILIES:
            assert family.sniff(path, head=head) == family.sniff(path), (family.table, path)


def test_read_head_says_what_it_read(tmp_path: Path, rng: random.Random):
    small = tmp_path / "small"
    small.write_bytes(os.urandom(rng.randrange(HEAD_BYTES)))
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * HEAD_BYTES)
    big = tmp_path / "big"
    big.write_bytes(b"y" * (HEAD_BYTES + rng.randrange(1, 5000)))
    for path, whole in ((small, True), (exact, False), (big, False)):
        head = read_head(path)
        st = path.stat()
        assert head.data == path.read_bytes()[:HEAD_BYTES]
        assert head.whole is whole
        assert head.identity == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert read_head(small).text() is not None and read_head(big).text() is None
    zipped = tmp_path / "z.gz"
    zipped.write_bytes(gzip.compress(b"{}\n"))
    assert read_head(zipped).text() is None  # its text is the inflated bytes: the sniffer reads the file


def test_an_unreadable_file_is_named_with_why(tmp_path: Path, monkeypatch):
    locked = tmp_path / "locked.jsonl"
    locked.write_text('{"a": 1}\n')
    (tmp_path / "other.jsonl").write_text('{"a": 1}\n')

    def refusing(real):
        def opener(file, *args, **kwargs):
            if os.fspath(file) == str(locked):
                raise PermissionError(13, "Permission denied", str(locked))
            return real(file, *args, **kwargs)
        return opener

    monkeypatch.setattr(os, "open", refusing(os.open))
    monkeypatch.setattr(builtins, "open", refusing(builtins.open))
    why = first_bytes(locked, 4)
    assert why == "cannot open: Permission denied"
    assert read_head(locked) == why
    routing = route([tmp_path])
    assert routing.unreadable == [(locked, why)]
    assert routing.unrecognised == [tmp_path / "other.jsonl"]


def test_a_file_changed_after_routing_is_sniffed_again(tmp_path: Path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"Id": "a", "UserPrincipalName": "u@x", "ResultType": "0"}\n')
    route([tmp_path])
    assert families._recall([path]) == {path: "signinlogs-jsonl"}
    route([tmp_path])
    path.write_bytes(b"UserPrincipalName,ResultType\nu@x,0\n")
    assert families._recall([path]) == {}


def test_records_counts_non_blank_lines_however_they_are_spaced(rng: random.Random):
    pieces = [b'{"a": 1}', b"  {\"b\": 2}", b"", b" ", b"\t\r", b"\x0b\x0c", b"x", b"{}\r", b"{"]
    for _ in range(500):
        data = b"\n".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12))) + b"\n"
        assert _records(data) == sum(1 for line in data.split(b"\n") if line.strip()), data


def test_joined_file_holds_every_piece_in_order_even_after_a_short_write(tmp_path: Path, rng: random.Random,
                                                                         monkeypatch):
    blobs = [os.urandom(rng.randrange(0, 300)) for _ in range(rng.randrange(1, 3000))]
    _write(tmp_path / "whole", blobs)
    assert (tmp_path / "whole").read_bytes() == b"".join(blobs)
    real = os.writev

    def short(fd, pieces):  # writes a random prefix of what it is given, as a signal may cut it
        data = b"".join(pieces)
        return real(fd, [data[:rng.randrange(len(data) + 1)]])

    monkeypatch.setattr(os, "writev", short)
    _write(tmp_path / "cut", blobs)
    assert (tmp_path / "cut").read_bytes() == b"".join(blobs)
