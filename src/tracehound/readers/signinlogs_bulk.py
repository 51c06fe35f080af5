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

What this path does not apply: ``limits.max_line`` and ``limits.max_depth`` bound what the Python
pass holds and parses; DuckDB's reader manages its own memory and reads only the fields above, so a
plain record longer or deeper than those limits (in fields tracehound does not read) is kept here.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import SIGNINS
from .enrich import Enricher
from .files import is_gzip, is_pattern, safe_path
from .hosts import PLAIN_IP
from .limits import DEFAULT, Limits, TimeBounds

#: The SigninLogs fields the canonical mapping reads, as DuckDB types: every value ``JSON``, the two
#: dynamic fields as objects of ``JSON`` values (so each is parsed once; one given as JSON text
#: instead of an object stops this reader, and the Python path takes it from there).
_FIELDS = {
    **{name: "JSON" for name in ("Id", "TimeGenerated", "UserPrincipalName", "ResultType", "IPAddress",
                                 "Location", "AppDisplayName", "ClientAppUsed", "UserAgent",
                                 "IsInteractive")},
    "LocationDetails": "STRUCT(countryOrRegion JSON, state JSON, city JSON)",
    "DeviceDetail": "STRUCT(browser JSON, operatingSystem JSON, displayName JSON)",
}


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
    TRY_CAST(time_text AS TIMESTAMPTZ) AS time,
    lower(trim(user_text)) AS "user",
    result_code AS result,
    result_code = 0 AS success,
    nullif(trim(ip_text), '') AS ip,
    CAST(NULL AS VARCHAR) AS ip_prefix,
    {_text("country_json")} AS country,
    {", ".join(f"{_text(json)} AS {name}" for name, json in _PLAIN_TEXT.items())},
    CAST(IsInteractive ->> '$' AS BOOLEAN) AS is_interactive,
    ? AS source,
    ({_is_string("Id")} AND id_text <> ''
     AND {_is_string("TimeGenerated")} AND regexp_full_match(time_text, '{_ISO_UTC}')
     AND substr(time_text, 1, 4) <> '0000' AND TRY_CAST(time_text AS TIMESTAMPTZ) IS NOT NULL
     AND {_is_string("UserPrincipalName")} AND user_text <> '' AND {_is_printable("user_text")}
     AND result_code IS NOT NULL
     AND {_is_text("IPAddress")} AND coalesce(ip_text = '' OR regexp_full_match(ip_text, '{PLAIN_IP}'), true)
     AND TRY_CAST(time_text AS TIMESTAMPTZ) BETWEEN ?::TIMESTAMPTZ AND ?::TIMESTAMPTZ
     AND {_is_text("country_json")}
     AND {" AND ".join(_is_text(json) for json in _PLAIN_TEXT.values())}
     AND coalesce(IsInteractive::VARCHAR IN ('null', 'true', 'false'), true)
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
        self.records = 0
        self.complete = False

    def batches(self) -> Iterator[pa.RecordBatch]:
        with contextlib.ExitStack() as stack:
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
                    if first_odd >= 0:
                        batch = batch.slice(0, first_odd)
                    if batch.num_rows:
                        self.records += batch.num_rows
                        yield self._canonical(batch)
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
