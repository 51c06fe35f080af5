"""SigninLogs JSON Lines parsed by DuckDB's JSON reader: the fast path for big exports.

Why: a Sentinel / Log Analytics export of half a million sign-ins is ~600 MB of JSON. Parsing and
mapping it record by record in Python costs ~8 s; DuckDB's reader parses it in C++ on every core
in about a second, and the canonical mapping below is SQL over its columns.

Why it is exact: every column is read as DuckDB ``JSON`` (so a number where text belongs stays a
number, instead of being quietly turned into text), and each row carries a ``plain`` flag that is
true only when the row is one the Python mapper's own fast path (``_from_signinlogs_plain`` in
:mod:`.signin_fields`) would map — text or null fields, nested ``LocationDetails`` / ``DeviceDetail``
objects, an ISO time in UTC, an integer result code, an id of its own, a printable ASCII user, a
plain IP address (:data:`~tracehound.readers.hosts.PLAIN_IP`) and a time inside the read's bounds
(:class:`~tracehound.readers.limits.TimeBounds`). For those rows both give the same canonical values (a parity test holds the two paths to
that).

Why it can stop half-way: DuckDB hands rows out in file order, and it stops at the first line that
is not valid JSON or not an object (and at a BOM, bad UTF-8, a duplicate key, a broken gzip). The
reader therefore takes rows from DuckDB until the first row that is not ``plain`` or the first
error, and reports how many records it delivered; the Python path reads the rest of the file from
that record on, with its line numbers, rejects and reasons. A clean export is read here whole; a
damaged one loses nothing and is reported exactly as before.

The reader limits hold here too: one pass over the file's bytes (:func:`records_within_limits`)
finds the first line over ``limits.max_line`` characters or nested deeper than ``limits.max_depth``
(judged exactly as the Python pass judges it), and DuckDB's rows stop before it, so that line is a
located reject from the Python pass like any other. The pass holds one line at a time and costs
about a quarter of DuckDB's own read; it runs in a thread beside DuckDB (:class:`_LimitCheck`), and a
batch is handed on only once the pass has vouched for every record in it, so the limits cost the
read almost no time on a second core and hold exactly as if the pass had run first.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import SIGNINS
from .enrich import Enricher
from .files import is_gzip, is_pattern, safe_path
from .hosts import PLAIN_IP
from .limits import DEFAULT, Limits, TimeBounds
from .signin_fields import ENTRA_FAILURES
from .stream import TextStream, too_deep

#: The SigninLogs fields the canonical mapping reads, as DuckDB types: every value ``JSON``, the two
#: dynamic fields as objects of ``JSON`` values (so each is parsed once; one given as JSON text
#: instead of an object stops this reader, and the Python path takes it from there).
_FIELDS = {
    **{name: "JSON" for name in ("Id", "TimeGenerated", "UserPrincipalName", "ResultType", "IPAddress",
                                 "Location", "AppDisplayName", "ClientAppUsed", "UserAgent",
                                 "IsInteractive", "AutonomousSystemNumber")},
    "LocationDetails": "STRUCT(countryOrRegion JSON, state JSON, city JSON)",
    "DeviceDetail": "STRUCT(browser JSON, operatingSystem JSON, displayName JSON)",
}


def _failure_kind(code: str) -> str:
    """SQL: the failure kind of the Entra result ``code`` (as :func:`.signin_fields.entra_failure`)."""
    kinds: dict[str, list[int]] = {}
    for number, kind in ENTRA_FAILURES.items():
        kinds.setdefault(kind, []).append(number)
    cases = " ".join(f"WHEN {code} IN ({', '.join(map(str, numbers))}) THEN '{kind}'"
                     for kind, numbers in kinds.items())
    return f"CASE WHEN {code} = 0 THEN NULL {cases} ELSE 'other' END"


_ISO_UTC = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?Z?"


def _is_string(json: str) -> str:
    """SQL: the JSON value ``json`` is a JSON string. A JSON value is kept as its text, so its first
    character tells its type without parsing it again (cheaper than ``json_type``)."""
    return f"starts_with({json}::VARCHAR, '\"')"


def _is_text(json: str) -> str:
    """SQL: the JSON value ``json`` is absent, JSON null or a JSON string."""
    return f"coalesce({_is_string(json)} OR {json}::VARCHAR = 'null', true)"


def _is_printable(text: str) -> str:
    """SQL: ``text`` is printable ASCII without whitespace, so SQL's ``trim`` and ``lower`` do exactly
    what Python's ``strip`` and ``lower`` do to it."""
    return f"regexp_full_match({text}, '[!-~]*')"


def _text(json: str) -> str:
    """SQL: the text of a JSON string, empty text as null (as the Python mapper's ``value or None``)."""
    return f"nullif({json} ->> '$', '')"


#: Canonical text columns taken as they are, and the JSON value each comes from.
_PLAIN_TEXT = {
    "state": "LocationDetails.state", "city": "LocationDetails.city",
    "app": "AppDisplayName", "client_app": "ClientAppUsed", "user_agent": "UserAgent",
    "browser": "DeviceDetail.browser", "os": "DeviceDetail.operatingSystem",
    "device_name": "DeviceDetail.displayName",
}
_COLUMNS = ", ".join(f"'{name}': '{kind}'" for name, kind in _FIELDS.items())
_QUERY = f"""
WITH raw AS (
    SELECT * FROM read_json(?, format = 'newline_delimited', records = true, compression = ?,
                            columns = {{{_COLUMNS}}})
), parts AS (
    SELECT *,
        Id ->> '$' AS id_text,
        TimeGenerated ->> '$' AS time_text,
        UserPrincipalName ->> '$' AS user_text,
        IPAddress ->> '$' AS ip_text,
        -- computed once here, each read by the mapping and by the plain check below
        TRY_CAST(TimeGenerated ->> '$' AS TIMESTAMPTZ) AS time_value,
        regexp_full_match(AutonomousSystemNumber::VARCHAR, '[0-9]{{1,18}}') AS asn_digits,
        -- the country from LocationDetails, else the flat Location field
        CASE WHEN coalesce(LocationDetails.countryOrRegion ->> '$', '') = '' THEN Location
             ELSE LocationDetails.countryOrRegion END AS country_json,
        -- an integer code, as a JSON number or as text (at most 18 digits: always an int64)
        CASE WHEN regexp_full_match(ResultType::VARCHAR, '-?[0-9]{{1,18}}')
             THEN CAST(ResultType::VARCHAR AS BIGINT)
             WHEN {_is_string("ResultType")} AND regexp_full_match(ResultType ->> '$', '-?[0-9]{{1,18}}')
             THEN CAST(ResultType ->> '$' AS BIGINT) END AS result_code
    FROM raw
)
SELECT
    id_text AS event_id,
    time_value AS time,
    lower(trim(user_text)) AS "user",
    result_code AS result,
    result_code = 0 AS success,
    nullif(trim(ip_text), '') AS ip,
    CAST(NULL AS VARCHAR) AS ip_prefix,
    {_text("country_json")} AS country,
    {", ".join(f"{_text(json)} AS {name}" for name, json in _PLAIN_TEXT.items())},
    CAST(IsInteractive ->> '$' AS BOOLEAN) AS is_interactive,
    ? AS source,
    'entra' AS provider,
    {_failure_kind("result_code")} AS failure_kind,
    CASE WHEN asn_digits THEN CAST(AutonomousSystemNumber::VARCHAR AS BIGINT) END AS asn,
    CAST(NULL AS BOOLEAN) AS is_proxy,
    ({_is_string("Id")} AND id_text <> ''
     AND {_is_string("TimeGenerated")} AND regexp_full_match(time_text, '{_ISO_UTC}')
     AND substr(time_text, 1, 4) <> '0000' AND time_value IS NOT NULL
     AND {_is_string("UserPrincipalName")} AND user_text <> '' AND {_is_printable("user_text")}
     AND result_code IS NOT NULL
     AND {_is_text("IPAddress")} AND coalesce(ip_text = '' OR regexp_full_match(ip_text, '{PLAIN_IP}'), true)
     AND time_value BETWEEN ?::TIMESTAMPTZ AND ?::TIMESTAMPTZ
     AND {_is_text("country_json")}
     AND {" AND ".join(_is_text(json) for json in _PLAIN_TEXT.values())}
     AND coalesce(IsInteractive::VARCHAR IN ('null', 'true', 'false'), true)
     AND coalesce(AutonomousSystemNumber::VARCHAR = 'null' OR asn_digits, true)
    ) AS plain
FROM parts
"""


class BulkRead:
    """Canonical batches of one SigninLogs JSON Lines file, read by DuckDB as far as it can go.

    After :meth:`batches` is exhausted, :attr:`records` is how many records (non-blank lines, from
    the top of the file) it delivered and :attr:`complete` whether that was the whole file; if not,
    the caller reads the file on from record ``records + 1``.
    """

    def __init__(self, path: Path, *, enricher: Enricher, batch_rows: int, bounds: TimeBounds | None = None,
                 limits: Limits = DEFAULT) -> None:
        self.path = path
        self.enricher = enricher
        self.batch_rows = batch_rows
        self.bounds = bounds or limits.bounds()
        self.limits = limits
        self.records = 0
        self.complete = False

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Canonical batches of about ``batch_rows`` rows. DuckDB hands out small batches (a few
        thousand rows); mapping, enriching and staging each costs a fixed overhead, so they are
        joined first."""
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in self._plain():
            pending.append(batch)
            rows += batch.num_rows
            if rows >= self.batch_rows:
                yield self._canonical(pa.concat_batches(pending))
                pending, rows = [], 0
        if pending:
            yield self._canonical(pa.concat_batches(pending))

    def _plain(self) -> Iterator[pa.RecordBatch]:
        """DuckDB's batches of plain records within the limits, as DuckDB gives them."""
        with contextlib.ExitStack() as stack:
            check = stack.enter_context(_LimitCheck(self.path, self.limits))
            if check.cut_before(1) == 0:
                return
            con = stack.enter_context(duckdb.connect())
            con.execute("SET TimeZone = 'UTC'")
            # DuckDB reads a path as a glob: a file called br[ab].jsonl is handed over as a plain link.
            target = self.path
            if is_pattern(self.path):
                links = stack.enter_context(tempfile.TemporaryDirectory(prefix="tracehound-bulk-"))
                target = safe_path(self.path, Path(links))
            try:
                reader = con.sql(_QUERY, params=[str(target), "gzip" if is_gzip(self.path) else "none",
                                                 str(self.path), self.bounds.floor.isoformat(),
                                                 self.bounds.ceiling.isoformat()]).to_arrow_reader(self.batch_rows)
                for batch in reader:
                    plain = pc.fill_null(batch.column("plain"), False)
                    first_odd = -1 if pc.all(plain).as_py() else pc.index(plain, False).as_py()
                    within = check.cut_before(self.records + batch.num_rows)
                    if within is not None and self.records + batch.num_rows > within:
                        cut = within - self.records
                        first_odd = cut if first_odd < 0 else min(first_odd, cut)
                    if first_odd >= 0:
                        batch = batch.slice(0, first_odd)
                    if batch.num_rows:
                        self.records += batch.num_rows
                        yield batch
                    if first_odd >= 0:
                        return
            except (duckdb.Error, UnicodeError, OSError, pa.ArrowException):
                # UnicodeError: DuckDB's message quotes the bad line cut at a byte count, which can
                # split a character; OSError / ArrowException: the same errors met while the Arrow
                # reader streams. Either way the Python path reads on from here and says what is wrong.
                return
        self.complete = True

    def _canonical(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = [batch.column(f.name).cast(f.type) for f in SIGNINS]
        return self.enricher.enrich(pa.RecordBatch.from_arrays(columns, schema=SIGNINS))


def records_within_limits(path: Path, limits: Limits, progress: Callable[[int], bool] | None = None
                          ) -> int | None:
    """How many records (non-blank lines) precede the first line the Python pass would reject for
    its size or nesting (``limits.max_line``, ``limits.max_depth``); ``None`` when no line is over.

    Judged as :class:`~tracehound.readers.stream.TextStream` and the JSON Lines container judge it:
    a line's length in characters (a line of at most ``max_line`` bytes cannot be longer), and depth
    only for a line with more than ``max_depth`` brackets, by parsing it. A line that cannot be
    judged (bad UTF-8, invalid JSON) also ends the count: DuckDB would stop there, and the Python pass
    says what is wrong with it. Only one line is held at a time, and none over ``4 * max_line`` bytes.
    Why it is cheap: each decompressed chunk is measured whole, in C (brackets per line by deleting
    every other byte); a chunk whose lines are all short enough, shallow enough and hold a bracket
    (a JSON record always has one, so none is blank) is counted without joining or copying it; blank
    lines are looked for only in a chunk with a line that has no bracket, and only a chunk holding a
    line that may be over is gone through line by line. ``progress(records)`` is told, after each
    chunk, how many records are vouched for so far; when it returns ``False`` the pass stops there
    (its reader no longer needs it) and returns that count.
    """
    limit, depth = limits.max_line, limits.max_depth

    def over(line: bytes) -> bool:
        if len(line) > limit:
            try:
                if len(line) > 4 * limit or len(line.decode("utf-8")) > limit:
                    return True
            except UnicodeDecodeError:
                return True
        if line.count(b"{") + line.count(b"[") > depth:
            try:
                return too_deep(orjson.loads(line), depth)
            except orjson.JSONDecodeError:
                return True
        return False

    records = 0
    pending: list[bytes] = []  # the line the last chunk cut, in pieces
    pending_len = 0
    pending_brackets = b""  # its brackets
    for chunk in TextStream(path, limits=limits).raw():
        marks = chunk.translate(None, _NOT_BRACKETS)  # each line's brackets and its newline, in C
        cut = chunk.rfind(b"\n")
        if cut < 0:
            pending.append(chunk)
            pending_len += len(chunk)
            pending_brackets += marks
            if pending_len > 4 * limit:
                return records
            continue
        *brackets, tail = marks.split(b"\n")  # each whole line's brackets; the line the chunk cuts
        brackets[0] = pending_brackets + brackets[0]
        deep = max(map(len, brackets)) > depth
        if deep or pending_len + cut > limit or b"" in brackets:  # a line may be over, or blank
            block = b"".join(pending) + chunk[:cut] if pending else chunk[:cut]  # whole lines only
            if deep or (len(block) > limit and max(map(len, block.split(b"\n"))) > limit):
                for line in block.split(b"\n"):
                    if over(line):
                        return records
                    if line.strip():
                        records += 1
            elif b"" in brackets:  # a line without a bracket: perhaps a blank one, which is no record
                records += nonblank_lines(block)
            else:
                records += len(brackets)
        else:  # the usual chunk: every line holds a bracket (so none is blank), none can be over
            records += len(brackets)
        pending, pending_len, pending_brackets = [chunk[cut + 1:]], len(chunk) - cut - 1, tail
        if progress is not None and not progress(records):
            return records
    if pending_len and over(b"".join(pending)):
        return records
    return None


class _LimitCheck:
    """:func:`records_within_limits` of one file, run in a thread beside DuckDB's parse.

    Why a thread: the pass is a quarter of the read's work and DuckDB's parse rarely keeps both
    cores busy (the reading thread also maps and enriches each batch), so on a second core it costs
    almost nothing. :meth:`cut_before` waits until the pass has vouched for the first ``n`` records
    or has found the line to stop before, so no batch is handed on before its records are checked:
    the result is exactly that of running the pass first.
    """

    def __init__(self, path: Path, limits: Limits) -> None:
        self._path, self._limits = path, limits
        self._changed = threading.Condition()
        self._vouched = 0
        self._done = False
        self._wanted = True
        self._result: int | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tracehound-limits", daemon=True)

    def __enter__(self) -> "_LimitCheck":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._changed:
            self._wanted = False
        self._thread.join()

    def _run(self) -> None:
        try:
            result = records_within_limits(self._path, self._limits, self._progress)
        except BaseException as exc:  # handed to the reading thread, which raises it
            result, self._error = None, exc
        with self._changed:
            self._result, self._done = result, True
            self._changed.notify_all()

    def _progress(self, records: int) -> bool:
        with self._changed:
            self._vouched = records
            self._changed.notify_all()
            return self._wanted

    def cut_before(self, n: int) -> int | None:
        """``None`` when the first ``n`` records are all within the limits; else how many records
        precede the first line that is not (fewer than ``n``)."""
        with self._changed:
            self._changed.wait_for(lambda: self._done or self._vouched >= n)
            if self._error is not None:
                raise self._error
            return None if self._vouched >= n else self._result  # not vouched for: the pass is done


#: Every byte but the brackets that open a level and the newline (deleted to count brackets per line).
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{[\n")
#: The whitespace ``bytes.strip`` removes, but the newline; and a table marking every other byte ``x``,
#: so that after both a non-blank line ends in ``x``.
_SPACES = b" \t\r\x0b\x0c"
_MARKS = bytes(b if b == 10 else 120 for b in range(256))


def nonblank_lines(data: bytes) -> int:
    """Lines of ``data`` holding more than ASCII whitespace: the records a JSON Lines text holds, as
    the Python pass counts them (``data`` may or may not end with a newline). In C: no bytes object
    per line is made."""
    marked = data.translate(_MARKS, _SPACES)
    return marked.count(b"x\n") + marked.endswith(b"x")
