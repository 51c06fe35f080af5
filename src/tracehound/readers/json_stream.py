"""Records of JSON documents streamed one at a time: arrays, Graph pages, Event Hub batches.

Why not ``orjson.loads`` on the whole file: a Log Analytics JSON-array export or a day of Event Hub
batches can be gigabytes, and parsing it whole holds all of it (and its Python objects) at once.
Here the text is scanned for its structure — strings skipped whole by one regular expression, only
brackets counted — and each record's text is cut out and parsed alone, so memory is one record plus
one chunk, and each record gets the line it starts on, a size limit (``limits.max_line``, as a JSON
Lines record has) and a nesting limit (``limits.max_depth``) like any other record.

Documents understood (several may follow one another in a file, as saved pages often do):

- a JSON array of records: ``[{...}, {...}]``;
- a wrapper object whose ``value`` (Microsoft Graph ``/auditLogs/signIns`` pages, with
  ``@odata.context`` / ``@odata.nextLink``) or ``records`` (Azure Monitor Event Hub batches) holds
  the records; its other keys are passed over.

A value in a record array that is not an object is a bad record; text that is not JSON where a
document should start ends the file as one bad record (its line named), as the record boundaries
after it cannot be trusted.
"""

from __future__ import annotations

import re
from typing import Iterator

import orjson

from .signin_fields import Bad
from .stream import TextStream, too_deep

#: Keys of a wrapper object whose array holds the records.
WRAPPER_KEYS = frozenset({"value", "records"})
#: Everything up to the next bracket: text outside strings and whole strings, in one C-speed match.
_SKIP = re.compile(r'[^"{}\[\]]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"{}\[\]]*)*', re.S)
#: The rest of a string the previous chunk cut: up to its closing quote (or a cut escape, or the end).
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.S)
#: The last complete string of a stretch (a wrapper's key, just before its ``[``).
_LAST_KEY = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"\s*:\s*\Z', re.S)

Record = tuple[int, object, str]


class _Scanner:
    """One scan's state: nesting depth, the document's kind, where the current record began."""

    def __init__(self, text: TextStream) -> None:
        self.text = text
        self.limit = text.limits.max_line
        self.depth_limit = text.limits.max_depth
        self.buffer = ""
        self.base_line = 1            # line number of buffer[0]
        self.pos = 0                  # buffer index after the last bracket
        self.resume = 0               # buffer index where scanning resumes (>= pos)
        self.depth = 0
        self.top = ""                 # "[" or "{": the document being read
        self.in_records = False       # inside a wrapper's record array
        self.start = -1               # buffer index where the current record began; -1: none open
        self.start_line = 0
        self.record_depth = 0         # depth outside the current record
        self.oversize = False         # the current record is over the size limit; its text is dropped
        self.head = ""                # the first characters of an oversize record, for the excerpt
        self.failed = False
        self.in_string = False        # a chunk ended inside a string; scanning resumes inside it
        self.counted = (0, 1)         # (buffer index, its line number): lines are counted forward once

    def _line_of(self, index: int) -> int:
        at, line = self.counted
        if index < at:  # behind the last count (a scalar before the record): count from the top
            at, line = 0, self.base_line
        line += self.buffer.count("\n", at, index)
        self.counted = (index, line)
        return line

    def records(self) -> Iterator[Record]:
        for chunk in self.text.chunks():
            self.buffer += chunk
            yield from self._scan()
            if self.failed:
                self.text.finish()
                return
            self._trim()
        rest = self.buffer[self.pos:].strip()
        if self.start >= 0 or self.depth:
            reason = ("record cut short by the damage below" if self.text.problem
                      else "the document ends inside a record or array")
            excerpt = self.head if self.oversize else self.buffer[max(self.start, 0):][:300]
            self.text.report.reject(self.text.label, self.start_line or self._line_of(self.pos), reason, excerpt)
        elif rest:
            yield from self._junk(self.pos, rest)
        self.text.finish()

    def _scan(self) -> Iterator[Record]:
        buf, size = self.buffer, len(self.buffer)
        pos = self.pos        # start of the stretch since the last bracket (scalars, keys are in it)
        at = self.resume      # where scanning goes on (inside a string a chunk cut)
        if self.in_string:
            at = _STRING_REST.match(buf, at).end()
            if at >= size or buf[at] != '"':  # still open (or an escape cut in two): wait for more
                self.resume = at
                self._check_size(at)
                return
            self.in_string, at = False, at + 1
        while True:
            stop = _SKIP.match(buf, at).end()
            if stop >= size or buf[stop] == '"':  # the text ends, or inside a string: wait for more
                if self.depth == 0 and (buf[pos:stop].strip() or stop < size):
                    yield from self._junk(pos, buf[pos:stop + 1].strip())
                    return
                if stop < size:  # resume inside the string, never rescanning what it holds so far
                    self.in_string, stop = True, _STRING_REST.match(buf, stop + 1).end()
                self.pos, self.resume = pos, stop
                self._check_size(stop)
                return
            token, end = buf[stop], stop + 1
            if self.depth == 0:
                if buf[pos:stop].strip() or token not in "[{":
                    yield from self._junk(pos, buf[pos:end].strip())
                    return
                self.top, self.depth = token, 1
            elif token in "[{":
                if (self.top == "[" and self.depth == 1) or (self.in_records and self.depth == 2):
                    yield from self._scalars(pos, stop)
                    self.start, self.start_line, self.record_depth = stop, self._line_of(stop), self.depth
                elif self.top == "{" and self.depth == 1 and token == "[":
                    key = _LAST_KEY.search(buf, pos, stop)
                    self.in_records = key is not None and key.group(1) in WRAPPER_KEYS
                self.depth += 1
            else:
                if self.start < 0 and ((self.top == "[" and self.depth == 1) or (self.in_records and self.depth == 2)):
                    yield from self._scalars(pos, stop)
                self.depth -= 1
                if self.start >= 0 and self.depth == self.record_depth:
                    yield self._record(buf[self.start:end])
                    self.start, self.oversize = -1, False
                elif self.in_records and self.depth == 1:
                    self.in_records = False
                if self.depth == 0:
                    self.top, self.in_records = "", False
            pos = at = end
            self._check_size(end)

    def _check_size(self, end: int) -> None:
        """Mark the open record as over ``limits.max_line`` once its text reaches past it."""
        if self.start >= 0 and not self.oversize and end - self.start > self.limit:
            self._over()

    def _scalars(self, pos: int, stop: int) -> Iterator[Record]:
        """Values between records that are not objects (``[{...}, 7, {...}]``): one bad record."""
        stretch = self.buffer[pos:stop]
        between = stretch.strip(" \t\r\n,")
        if between:
            at = pos + len(stretch) - len(stretch.lstrip(" \t\r\n,"))
            yield self._line_of(at), Bad(f"expected a JSON object, got {between[:40]!r}"), between

    def _over(self) -> None:
        self.oversize, self.head = True, self.buffer[self.start:self.start + 300]

    def _record(self, raw: str) -> Record:
        line = self.start_line
        if self.oversize or len(raw) > self.limit:
            return line, Bad(f"record longer than {self.limit:,} characters (limits.max_line)"), self.head
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return line, Bad(f"invalid JSON: {exc}"), raw
        if raw.count("{") + raw.count("[") > self.depth_limit and too_deep(rec, self.depth_limit):
            return line, Bad(f"JSON nested deeper than {self.depth_limit} levels (limits.max_depth)"), raw
        return line, rec, raw

    def _junk(self, pos: int, junk: str) -> Iterator[Record]:
        """Text where a document should start: one bad record, and the rest of the file given up."""
        self.failed = True
        yield (self._line_of(pos), Bad("not JSON where a document should start; the rest of the file "
                                       "cannot be split into records"), junk[:300])

    def _trim(self) -> None:
        """Drop the text already scanned, except an open record's (unless it is over the limit)."""
        keep = self.start if self.start >= 0 and not self.oversize else self.pos
        if self.oversize or (self.start < 0 and self.resume - self.pos > self.limit):
            keep = self.resume  # an oversize record's (or stretch's) text is dropped as it is scanned
        if keep <= 0:
            return
        self.base_line = self._line_of(keep)
        self.buffer = self.buffer[keep:]
        self.counted = (0, self.base_line)
        self.pos = max(0, self.pos - keep)
        self.resume -= keep
        if self.start >= 0:
            self.start = max(0, self.start - keep)


def json_document_records(text: TextStream) -> Iterator[Record]:
    """``(line, record or Bad, raw text)`` for every record of the JSON documents in ``text``."""
    return _Scanner(text).records()
