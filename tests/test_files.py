"""Input discovery and decoding shared by every reader."""

from __future__ import annotations

import codecs
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehound.errors import InputFormatError
from tracehound.readers.files import expand, head_text, iter_lines


def test_expand_folders_globs_and_files_sorted_without_duplicates(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ["a/2.jsonl", "a/1.jsonl.gz", "b.jsonl", "a/.hidden"]:
        (tmp_path / name).write_text("{}\n")
    got = expand([tmp_path / "a", str(tmp_path / "*.jsonl"), tmp_path / "b.jsonl"])
    assert [p.relative_to(tmp_path).as_posix() for p in got] == ["a/1.jsonl.gz", "a/2.jsonl", "b.jsonl"]


def test_expand_names_the_path_that_matched_nothing(tmp_path):
    with pytest.raises(InputFormatError, match="nope"):
        expand([tmp_path / "nope*.jsonl"])


@pytest.mark.parametrize("encode", [
    lambda s: s.encode("utf-8"),
    lambda s: codecs.BOM_UTF8 + s.encode("utf-8"),
    lambda s: s.encode("utf-16"),  # BOM included
    lambda s: gzip.compress(s.encode("utf-8")),
], ids=["utf8", "utf8-bom", "utf16", "gzip"])
def test_iter_lines_handles_encodings_and_compression(tmp_path, encode):
    path = tmp_path / "f.log"
    path.write_bytes(encode('first line\r\n\nthird "ünïcode"\n'))
    assert list(iter_lines(path)) == [(1, "first line"), (3, 'third "ünïcode"')]
    assert head_text(path).lstrip("\ufeff").startswith("first line")


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    path = tmp_path / "bad.log"
    path.write_bytes(b"ok\n\xff\xfebroken\xc3\n")
    lines = list(iter_lines(path))
    assert lines[0] == (1, "ok") and lines[1][0] == 2 and "broken" in lines[1][1]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                        min_size=1).filter(str.strip), min_size=1, max_size=20),
       st.booleans())
def test_lines_round_trip(tmp_path_factory, lines, compress):
    path = tmp_path_factory.mktemp("rt") / "x.log"
    data = "\n".join(lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    assert [text for _, text in iter_lines(path)] == lines
