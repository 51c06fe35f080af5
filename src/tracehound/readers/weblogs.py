"""Apache / Nginx access logs → canonical ``web_requests``, parsed in the engine.

Raw lines are staged as Parquet (file, line number, text) and parsed by vectorised regular
expressions in the engine (Ibis ``re_extract``), so a 10-million-line log never becomes 10 million
Python calls. Handled variants:

- Apache / Nginx *combined* and *common* format, with or without a leading virtual-host field
  (Apache ``vhost_combined``: ``example.org:443 1.2.3.4 - - [...] ...``);
- lines wrapped in an extra pair of quotes with inner quotes doubled (logs that went through a
  CSV export);
- IPv6 clients; backslash-escaped quotes inside the request, referrer or user agent (Apache writes
  ``\\"`` for a quote an attacker put in the request line);
- gzip'd rotated files (by magic bytes, whatever the name);
- IIS W3C extended logs (``#Fields:`` header), read row by row: :mod:`tracehound.readers.iis`;
- Nginx JSON logs (``log_format ... escape=json '{"remote_addr":"$remote_addr", ...}'``): keys
  ``remote_addr``/``client_ip``/``ip``, ``time_local``/``time_iso8601``/``@timestamp``/``time``,
  ``request`` or ``request_method`` + ``request_uri``/``uri``, ``status``, ``body_bytes_sent``/
  ``bytes_sent``, ``http_referer``, ``http_user_agent``, ``remote_user``.

A line that matches no variant, whose timestamp is impossible or outside the read's bounds, or whose
client is not an IP address (``%h`` / ``$remote_addr`` are addresses unless hostname lookups are on)
is counted and set aside with its file and line in the :class:`~tracehound.badrecords.ReadReport`;
only those lines are pulled back. Lines over ``limits.max_line`` are rejected while staging.
A file whose first lines are not an access log at all is reported as unreadable and skipped.

DuckDB's ``regexp_extract`` accepts group numbers up to 9, so every field has its own pattern with a
single capturing group (the rest of the line pattern is non-capturing); RE2 (DuckDB) and Java (Spark)
both accept every construct used here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..badrecords import MAX_KEPT, ReadReport
from ..engine import Engine
from . import files
from ..schema import WEB_REQUESTS
from .hosts import PLAIN_IP
from .iis import iter_iis_rows, sniff_iis
from .limits import DEFAULT, Limits, TimeBounds
from .staging import PartWriter
from .stream import TextStream
from .weblog_parse import FastSink

#: Bytes read per block when staging raw lines; bounds reader memory whatever the file size.
BLOCK_BYTES = 32 * 1024 * 1024
#: Lines of only spaces, tabs, form feeds or carriage returns are skipped, not counted as bad.
BLANK_LINE = r"^[ \t\f\r]*$"
#: Lines sampled from the head of a file to decide whether it is an access log at all, counted from
#: its first line that is one (a banner of 30 lines before the log is not the log).
SNIFF_LINES = 50

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_QUOTED_NC = r'"(?:[^"\\]|\\.)*"'

# Whole-line patterns, used by the sniffer (Python ``re``); the engine validates the same shape piecewise.
_CLF_BODY = r"^(?:\S+ )?\S+ \S+ \S+ \[[^\]]+\] " + _QUOTED_NC + r" \d{3} (?:\d+|-)"
COMMON_LINE = _CLF_BODY + r"(?: .*)?$"
COMBINED_LINE = _CLF_BODY + " " + _QUOTED_NC + " " + _QUOTED_NC + r"(?: .*)?$"

_JSON_KEYS = {
    "ip": ("remote_addr", "client_ip", "clientip", "ip"),
    "ts": ("time_local", "time_iso8601", "@timestamp", "timestamp", "time"),
    "user": ("remote_user", "user"),
    "request": ("request",),
    "method": ("request_method", "method"),
    "uri": ("request_uri", "uri"),
    "status": ("status",),
    "bytes": ("body_bytes_sent", "bytes_sent", "bytes"),
    "referrer": ("http_referer", "http_referrer", "referer", "referrer"),
    "user_agent": ("http_user_agent", "user_agent"),
}


def _json_patterns(key: str) -> tuple[str, str]:
    """Patterns for one key's value (any alias): as a quoted string, and as a bare number."""
    names = "|".join(re.escape(k) for k in _JSON_KEYS[key])
    prefix = r'"(?:' + names + r')"\s*:\s*'
    return prefix + _QUOTED, prefix + r"(-?\d+)"


JSON_LINE = r'^\s*\{.*"(?:remote_addr|client_ip|clientip|ip)"\s*:.*\}\s*$'

_CLF_TIME = r"^\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$"
_ISO_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?$"
_ISO_ZONE = r"([+-]\d{2}):?(\d{2})$"
_MONTHS = {m: f"{i:02d}" for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)}

_PY_COMBINED = re.compile(COMBINED_LINE)
_PY_COMMON = re.compile(COMMON_LINE)
_PY_JSON = re.compile(JSON_LINE)

RAW_SCHEMA = pa.schema([("file", pa.string()), ("name", pa.string()), ("line", pa.int64()),
                        ("text", pa.string())])


# -- sniffing ------------------------------------------------------------------------------------
def _unwrap_py(line: str) -> str:
    if len(line) >= 2 and line[0] == '"' and line[-1] == '"':
        return line[1:-1].replace('""', '"')
    return line


def sniff_weblog_format(path: str | Path, head: files.Head | None = None) -> str | None:
    """``"iis"``, ``"nginx_json"``, ``"combined"``, ``"common"`` or ``None`` from the first lines of
    a file (an IIS W3C log by its header: :func:`tracehound.readers.iis.sniff_iis`).

    From the first line that matches a variant, at least half of the next :data:`SNIFF_LINES`
    non-blank lines must match one, so a log with some garbage or a banner before it is still
    recognised (the banner lines are rejects with their line numbers) while a CSV or syslog file is not.
    ``head``: the file's first bytes, read once by routing.
    """
    try:
        text = files.head_text(path, head=head)
    except OSError:
        return None
    if sniff_iis(text):
        return "iis"
    lines = [ln.rstrip("\r") for ln in text.split("\n")[:-1] if ln.strip()]
    if not lines and text.strip():  # one line without a newline
        lines = [text.strip()]
    kinds = [_line_kind(_unwrap_py(raw)) for raw in lines]
    start = next((i for i, kind in enumerate(kinds) if kind), None)
    if start is None:
        return None
    window = kinds[start:start + SNIFF_LINES]
    votes = {kind: window.count(kind) for kind in ("nginx_json", "combined", "common")}
    best = max(votes, key=votes.get)
    # half of the window, and more than one line unless the head holds no more than that
    return best if votes[best] * 2 >= len(window) and sum(votes.values()) >= min(3, len(window)) else None


def _line_kind(line: str) -> str | None:
    if _PY_JSON.match(line):
        return "nginx_json"
    if _PY_COMBINED.match(line):
        return "combined"
    if _PY_COMMON.match(line):
        return "common"
    return None


# -- staging raw lines ---------------------------------------------------------------------------
_STAGED = pa.schema([("file", pa.dictionary(pa.int32(), pa.string())),
                     ("name", pa.dictionary(pa.int32(), pa.string())),
                     ("line", pa.int64()), ("text", pa.string())])


def _stage_file(path: Path, folder: Path, parts: int, report: ReadReport, limits: Limits,
                fast: FastSink | None = None) -> int:
    """Write every line of one file as (file, name, line, text) Parquet parts of about
    :data:`BLOCK_BYTES`; returns the part count so far. The shared stream rejects over-long lines
    and notes damage in ``report``. With ``fast``, the lines its regex parses go there as canonical
    rows and only the others are staged."""
    numbers: list[np.ndarray] = []
    texts: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal parts, numbers, texts, size
        n = len(texts)
        table = pa.table({
            "file": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), [str(path)]),
            "name": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), [path.name]),
            "line": pa.array(np.concatenate(numbers) if numbers else np.zeros(0, np.int64)),
            "text": pa.array(texts, pa.string()),
        }, schema=_STAGED)
        pq.write_table(table, folder / f"part-{parts:05d}.parquet")
        parts += 1
        numbers, texts, size = [], [], 0

    for first, block in TextStream(path, report, limits).blocks():
        if fast is not None:
            line_numbers, block = fast.take(path.name, first, block)
        else:
            line_numbers = np.arange(first, first + len(block), dtype=np.int64)
        if fast is None and None in block:
            keep = np.array([line is not None for line in block])
            line_numbers = line_numbers[keep]
            block = [line for line in block if line is not None]
        numbers.append(line_numbers)
        texts.extend(block)
        size += sum(map(len, block))
        if size >= BLOCK_BYTES:
            flush()
    if texts:
        flush()
    return parts


def _stage_lines(paths: Iterable[Path], folder: Path, report: ReadReport, limits: Limits,
                 fast: FastSink | None = None) -> int:
    """Write every line of every file (or those ``fast`` leaves) as Parquet parts; returns parts."""
    parts = 0
    try:
        for path in paths:
            parts = _stage_file(path, folder, parts, report, limits, fast)
    finally:
        if fast is not None:
            fast.close()
    return parts


# -- parsing in the engine -----------------------------------------------------------------------
def _unescape(value: ibis.StringValue) -> ibis.StringValue:
    """Undo the log's backslash escaping of quotes and backslashes (and JSON's ``\\/``)."""
    return value.replace('\\"', '"').replace("\\/", "/").replace("\\\\", "\\")


def _nullify(value: ibis.StringValue) -> ibis.StringValue:
    """Empty or ``-`` (the log's "no value") → NULL."""
    return ibis.ifelse((value == "") | (value == "-"), ibis.null("string"), value)


def _epoch(text: ibis.StringValue) -> ibis.IntegerValue:
    """UTC epoch seconds from CLF (``17/May/2015:10:05:03 +0200``) or ISO-8601 text, NULL if neither.

    Both layouts are fixed-width up to the seconds, so after one validating pattern the pieces are
    cut with ``substr`` — far cheaper than a capture group per piece.
    """
    is_clf = text.re_search(_CLF_TIME)
    is_iso = ~is_clf & text.re_search(_ISO_TIME)
    month = text.substr(3, 3).substitute(_MONTHS, else_="00")
    clf = text.substr(7, 4) + "-" + month + "-" + text.substr(0, 2) + " " + text.substr(12, 8)
    iso = text.substr(0, 10) + " " + text.substr(11, 8)
    local = ibis.cases((is_clf, clf), (is_iso, iso), else_=ibis.null("string")).try_cast("timestamp")
    zone_hours = ibis.ifelse(is_clf, text.substr(21, 3), text.re_extract(_ISO_ZONE, 1))
    zone_minutes = ibis.ifelse(is_clf, text.substr(24, 2), text.re_extract(_ISO_ZONE, 2))
    hours = zone_hours.replace("+", "").try_cast("int64").fill_null(0)
    minutes = zone_minutes.try_cast("int64").fill_null(0)
    offset = hours * 60 + ibis.ifelse(zone_hours.startswith("-"), -minutes, minutes)
    return local.epoch_seconds() - offset * 60


def _split_request(request: ibis.StringValue):
    """(method, path, query) from ``GET /a/b?x=1 HTTP/1.1``; junk requests keep their text as path."""
    pattern = r"^([A-Za-z]+) (\S+)(?: [^ ]*)?$"
    ok = request.re_search(pattern)
    method = ibis.ifelse(ok, request.re_extract(pattern, 1).upper(), ibis.null("string"))
    target = ibis.ifelse(ok, request.re_extract(pattern, 2), request)
    has_query = target.contains("?")
    path = ibis.ifelse(has_query, target.re_extract(r"^([^?]*)", 1), target)
    query = ibis.ifelse(has_query, target.re_extract(r"^[^?]*\?(.*)$", 1), ibis.null("string"))
    return method, path, query


# Stage 1 cuts a CLF line at its first quoted field: the head (``[vhost] ip ident user [time] ``),
# the request, and the tail (`` status bytes ["referrer" "agent"] [extra]``). Stage 2 reads the fields
# from those short pieces, which is several times cheaper than running a whole-line pattern per field.
_HEAD = r'^([^"]*)"'
_REQUEST = r'^[^"]*"((?:[^"\\]|\\.)*)"'
_TAIL = r'^[^"]*"(?:[^"\\]|\\.)*"(.*)$'
_HEAD_OK = r"^(?:\S+ )?\S+ \S+ \S+ \[[^\]]+\] $"
_HEAD_VHOST = r"^\S+ \S+ \S+ \S+ \["
_HEAD_IP = (r"^(\S+) ", r"^\S+ (\S+) ")          # without / with a leading vhost field
_HEAD_USER = (r"^\S+ \S+ (\S+) \[", r"^\S+ \S+ \S+ (\S+) \[")
_HEAD_TS = r"\[([^\]]+)\] $"
_TAIL_COMMON = r"^ \d{3} (?:\d+|-)(?: .*)?$"
_TAIL_COMBINED = r'^ \d{3} (?:\d+|-) ' + _QUOTED_NC + " " + _QUOTED_NC + r"(?: .*)?$"
_TAIL_STATUS = r"^ (\d{3}) "
_TAIL_BYTES = r"^ \d{3} (\d+|-)"
_TAIL_REFERRER = r"^ \d{3} (?:\d+|-) " + _QUOTED
_TAIL_AGENT = r"^ \d{3} (?:\d+|-) " + _QUOTED_NC + " " + _QUOTED


def cut_lines(raw: ibis.Table) -> ibis.Table:
    """Stage 1: (file, name, line) plus the JSON text or the head / request / tail of a CLF line."""
    text = raw.text.re_replace(r"\r$", "")
    wrapped = (text.length() >= 2) & text.startswith('"') & text.endswith('"')
    norm = ibis.ifelse(wrapped, text.substr(1, text.length() - 2).replace('""', '"'), text)
    is_json = norm.lstrip().startswith("{") & norm.re_search(JSON_LINE)
    clf = ~is_json
    none = ibis.null("string")
    return raw.select(
        "file", "name", "line",
        json=ibis.ifelse(is_json, norm, none),
        head=ibis.ifelse(clf, norm.re_extract(_HEAD, 1), none),
        request=ibis.ifelse(clf, norm.re_extract(_REQUEST, 1), none),
        tail=ibis.ifelse(clf & norm.re_search(_TAIL), norm.re_extract(_TAIL, 1), none),
    )


def parse_lines(cut: ibis.Table, bounds: TimeBounds | None = None) -> ibis.Table:
    """Stage 2: canonical columns plus ``format``, ``in_bounds`` and ``ok`` from a :func:`cut_lines`
    table; a line is ``ok`` when it has a format, a client and a time inside ``bounds`` (the read's
    :class:`~tracehound.readers.limits.TimeBounds`, the default limits' when not given)."""
    bounds = bounds or DEFAULT.bounds()
    is_json = cut.json.notnull()
    head, tail = cut["head"].fill_null(""), cut["tail"]
    clf_ok = head.re_search(_HEAD_OK) & tail.notnull()
    is_combined = clf_ok & tail.re_search(_TAIL_COMBINED)
    is_common = clf_ok & ~is_combined & tail.re_search(_TAIL_COMMON)
    fmt = ibis.cases((is_json, "nginx_json"), (is_combined, "combined"), (is_common, "common"),
                     else_=ibis.null("string"))
    tail = tail.fill_null("")

    def js(name: str) -> ibis.StringValue:
        quoted, bare = _json_patterns(name)
        return ibis.ifelse(cut.json.re_search(quoted), cut.json.re_extract(quoted, 1),
                           cut.json.re_extract(bare, 1))

    def pick(json_name: str, clf_value: ibis.StringValue) -> ibis.StringValue:
        return _unescape(ibis.ifelse(is_json, js(json_name), clf_value))

    vhost = head.re_search(_HEAD_VHOST)

    def head_field(patterns: tuple[str, str]) -> ibis.StringValue:
        return ibis.ifelse(vhost, head.re_extract(patterns[1], 1), head.re_extract(patterns[0], 1))

    json_request = ibis.ifelse(js("request") != "", js("request"), js("method") + " " + js("uri"))
    t = cut.mutate(
        format=fmt,
        client_ip=_nullify(pick("ip", head_field(_HEAD_IP))),
        user=_nullify(pick("user", head_field(_HEAD_USER))),
        ts_text=pick("ts", head.re_extract(_HEAD_TS, 1)),
        request=_unescape(ibis.ifelse(is_json, json_request, cut.request)),
        status=pick("status", tail.re_extract(_TAIL_STATUS, 1)).try_cast("int64"),
        bytes=pick("bytes", tail.re_extract(_TAIL_BYTES, 1)).try_cast("int64"),
        referrer=_nullify(ibis.ifelse(is_combined | is_json,
                                      pick("referrer", tail.re_extract(_TAIL_REFERRER, 1)), "")),
        user_agent=_nullify(ibis.ifelse(is_combined | is_json,
                                        pick("user_agent", tail.re_extract(_TAIL_AGENT, 1)), "")),
    )
    method, path, query = _split_request(t.request)
    epoch = _epoch(t.ts_text)
    low, high = (int(b.timestamp()) for b in (bounds.floor, bounds.ceiling))
    t = t.mutate(time=epoch.as_timestamp("s"), in_bounds=(epoch >= low) & (epoch <= high),
                 method=method, path=path, query=query)
    addressed = t.client_ip.notnull() & t.client_ip.re_search(f"^{PLAIN_IP}$").fill_null(False)
    t = t.mutate(addressed=addressed)
    ok = t.format.notnull() & t.time.notnull() & t.in_bounds.fill_null(False) & t.addressed
    return t.mutate(ok=ok, event_id=t.name + ":" + t.line.cast("string"), source=t.format)


def _canonical(parsed: ibis.Table) -> ibis.Table:
    return parsed.filter(parsed.ok).select(
        event_id=parsed.event_id,
        time=parsed.time.cast(ibis.dtype("timestamp('UTC')")),
        client_ip=parsed.client_ip, user=parsed.user, method=parsed.method, path=parsed.path,
        query=parsed.query, status=parsed.status, bytes=parsed.bytes, referrer=parsed.referrer,
        user_agent=parsed.user_agent, source=parsed.source)


def read_weblogs(paths: Iterable[str | Path] | str | Path, engine: Engine, *,
                 limits: Limits = DEFAULT, fast_path: bool = True) -> tuple[ibis.Table, ReadReport]:
    """Read access logs into a canonical ``web_requests`` engine table and a :class:`ReadReport`.

    ``paths`` are files, folders or globs (see :func:`tracehound.readers.files.expand`). Files that
    are not access logs are listed as unreadable; bad lines inside access logs are counted and kept
    aside (file, line, reason, excerpt), as are lines over ``limits.max_line`` and lines stamped
    outside the read's time bounds; a file damaged half-way keeps what precedes the damage. Raises
    :class:`~tracehound.errors.InputFormatError` only when a named path matches nothing.

    Plain CLF lines are parsed by :mod:`tracehound.readers.weblog_parse` as they stream by and the
    rest in the engine; ``fast_path=False`` parses every line in the engine, the reference the fast
    path is tested against (same rows, same rejects).
    """
    report = ReadReport()
    bounds = limits.bounds()
    logs: list[Path] = []
    iis: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for path in files.expand(paths, problems):
        fmt = sniff_weblog_format(path)
        if fmt is None:
            why = files.cannot_open(path) or ("not a web server log (Apache / Nginx combined, common or "
                                              "Nginx JSON, IIS W3C)")
            report.unreadable(path, why)
        else:
            (iis if fmt == "iis" else logs).append(path)
    for folder, why in problems:
        report.unreadable(folder, why)
    report.files = len(logs) + len(iis)
    table = _apache(logs, engine, report, limits, bounds, fast_path)
    if iis:
        table = table.union(_iis(iis, engine, report, limits, bounds, table.schema()), distinct=False)
    return table, report


def _iis(paths: list[Path], engine: Engine, report: ReadReport, limits: Limits, bounds: TimeBounds,
         schema: ibis.Schema) -> ibis.Table:
    """IIS W3C logs, row by row (their columns are per file), typed as the Apache rows are."""
    writer = PartWriter(engine.staging_folder("iis"), WEB_REQUESTS)
    for path in paths:
        before = report.records
        for row in iter_iis_rows(TextStream(path, report, limits), bounds):
            report.records += 1
            writer.add(row)
        report.formats["iis"] += report.records - before
    writer.close()
    table = engine.read_parquet(writer.folder)
    return table.select(**{name: table[name].cast(schema[name]) for name in schema.names})


def _apache(logs: list[Path], engine: Engine, report: ReadReport, limits: Limits,
            bounds: TimeBounds, fast_path: bool = True) -> ibis.Table:
    """Apache / Nginx logs: plain lines by the fast path, the rest parsed in the engine; counts and
    rejects go to ``report``."""
    folder = engine.staging_folder("weblines")
    fast = FastSink(engine.staging_folder("webfast"), bounds) if fast_path else None
    staged = _stage_lines(logs, folder, report, limits, fast) if logs else 0
    if fast is not None:
        report.records += fast.records
        for fmt, n in fast.formats.items():
            if n:
                report.formats[fmt] += n
    if staged == 0:
        empty = engine.load(pa.Table.from_pylist([], schema=RAW_SCHEMA), "weblines")
        slow = _canonical(parse_lines(cut_lines(empty), bounds))
    else:
        slow = _apache_slow(engine.read_parquet(folder), engine, report, bounds)
    if fast is None or not fast.parts:
        return slow
    rows = engine.read_parquet(fast.folder)
    schema = slow.schema()
    rows = rows.select(**{name: rows[name].cast(schema[name]) for name in schema.names})
    # Every line parsed by the fast path: the engine parse of no lines is left out of the plan (on
    # Spark, that plan over an empty in-memory table exhausts the driver's memory).
    return rows.union(slow, distinct=False) if staged else rows


def _apache_slow(raw: ibis.Table, engine: Engine, report: ReadReport, bounds: TimeBounds) -> ibis.Table:
    """Staged raw lines parsed in the engine; counts and rejects go to ``report``."""
    raw = raw.filter(~raw.text.re_search(BLANK_LINE))
    cut = engine.materialize(cut_lines(raw), "webcut")
    parsed = engine.materialize(parse_lines(cut, bounds).drop("json", "head", "request", "tail", "ts_text"),
                                "webparsed")
    counts = engine.to_pandas(parsed.group_by(["ok", "format"]).agg(n=parsed.count()))
    for row in counts.itertuples(index=False):
        if bool(row.ok):
            report.records += int(row.n)
            report.formats[row.format] += int(row.n)
    bad_total = int(counts.loc[~counts["ok"].astype(bool), "n"].sum())
    if bad_total:
        bad = parsed.filter(~parsed.ok).select("file", "line", "format", "in_bounds", "client_ip", "addressed")
        bad = bad.join(raw.select("file", "line", "text"), ["file", "line"])
        bad = engine.to_pandas(bad.order_by(["file", "line"]).limit(MAX_KEPT))
        for rec in bad.itertuples(index=False):
            if rec.format is None:
                reason = "not an Apache/Nginx access-log line"
            elif rec.client_ip is not None and not rec.addressed:
                reason = f"client {str(rec.client_ip)[:60]!r} is not an IP address"
            elif rec.client_ip is not None and rec.in_bounds is not None and not rec.in_bounds:
                reason = (f"timestamp outside the read's bounds ({bounds.floor:%Y-%m-%d} to "
                          f"{bounds.ceiling:%Y-%m-%dT%H:%MZ}; see limits)")
            else:
                reason = "access-log line without a valid client address or timestamp"
            report.reject(rec.file, int(rec.line), reason, rec.text)
        report.bad_count += bad_total - len(bad)
    return _canonical(parsed)
