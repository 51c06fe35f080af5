"""Sign-in logs in, the canonical ``signins`` table (``tracehound.schema.SIGNINS``) out.

Formats, recognised from content rather than the file name (exports get renamed, gzip'd, re-saved):

- ``signinlogs-jsonl`` / ``signinlogs-json``: Entra ID SigninLogs as Sentinel / Log Analytics exports
  them, one object per line or one JSON array. The dynamic fields (``LocationDetails``,
  ``DeviceDetail``, ``Status``) come as nested objects or as JSON text; ``ResultType`` as text or int.
- ``signinlogs-csv``: the Log Analytics CSV export (same column names, ``TimeGenerated [UTC]`` style
  suffixes allowed, dynamic columns hold JSON text).
- ``signinlogs-portal-csv``: the Entra portal's sign-in CSV download ("Date (UTC)", "Username", ...).
- ``signinlogs-parquet``: Parquet with the SigninLogs columns.
- ``signins-parquet``: Parquet already in the canonical schema (read as it is).
- ``m365-jsonl`` / ``m365-json`` / ``m365-csv``: Microsoft 365 unified audit log sign-in records
  (``AzureActiveDirectoryStsLogon``, ``UserLoggedIn`` / ``UserLoginFailed``), as JSON Lines or as the
  audit-search CSV whose ``AuditData`` column holds the record JSON.

Records stream through in Arrow batches of :data:`BATCH_ROWS`, so a 40 GB export never has to fit in
memory; :func:`read_signins` writes them as Parquet parts the engine reads back. Derived fields are
filled per distinct value (:mod:`tracehound.readers.enrich`).
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import itertools
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import ibis
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..badrecords import ReadReport
from ..engine import Engine
from ..errors import InputFormatError
from ..schema import SIGNINS
from .enrich import Enricher
from .signinlogs_bulk import BulkRead
from .files import GZIP_MAGIC, expand

#: Called with (files done, files in all) as a read goes on.
Progress = Callable[[int, int], None]

#: Rows per Arrow batch / Parquet part: big enough to amortise Arrow overhead, small enough to stream.
BATCH_ROWS = 100_000
#: Characters of (decompressed, decoded) content looked at to recognise a format.
SNIFF_BYTES = 262_144
#: Largest CSV field accepted (an ``AuditData`` cell is a few KB; a multi-MB one is not a sign-in).
CSV_FIELD_LIMIT = 8 * 1024 * 1024
_CHUNK = 1 << 20
_GZIP_SLICE = 1 << 14
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

#: Fields a mapper returns, in order; ``ip_prefix`` and ``source`` are added per batch.
_MAPPED = ("event_id", "time", "user", "result", "ip", "country", "state", "city", "app",
           "client_app", "user_agent", "browser", "os", "device_name", "is_interactive")

_M365_OPERATIONS = ("UserLoggedIn", "UserLoginFailed")
_SIGNINLOGS_KEYS = ("UserPrincipalName", "ResultType")
_PORTAL_KEYS = ("Date (UTC)", "Sign-in error code")


class _Bad(Exception):
    """One record cannot be mapped; the message is the reason shown to the analyst."""


# ------------------------------------------------------------------------------------------------
# Opening files: gzip by magic bytes, UTF-8 (BOM or not) or UTF-16 with BOM, truncation noticed.
# ------------------------------------------------------------------------------------------------

class _Text:
    """A file's decompressed, decoded text as a stream of chunks, noting a damaged gzip stream.

    ``files.read_bytes`` reads a whole file at once and gives up on a truncated gzip; here the text
    streams (a 2 GB export is not held in memory) and everything before the damage is kept.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Why the file could not be read to its end (truncated or corrupt gzip), or ``None``.
        self.problem: str | None = None

    def _raw_chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            first = fh.read(_CHUNK)
            if not first.startswith(GZIP_MAGIC):
                while first:
                    yield first
                    first = fh.read(_CHUNK)
                return
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = first
            try:
                # Small slices, so that what precedes damage in the stream is still handed out.
                while data:
                    data, later = data[:_GZIP_SLICE], data[_GZIP_SLICE:]
                    out = inflater.decompress(data)
                    if out:
                        yield out
                    # A gzip file may hold several members back to back (``cat a.gz b.gz``).
                    while inflater.eof and inflater.unused_data.strip(b"\x00"):
                        rest = inflater.unused_data
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        out = inflater.decompress(rest)
                        if out:
                            yield out
                    data = later or fh.read(_CHUNK)
            except zlib.error as exc:
                self.problem = f"gzip data is corrupt ({exc}): records after the damage are lost"
                return
            if not inflater.eof:
                self.problem = "gzip stream is truncated: records after the cut are lost"

    def chunks(self) -> Iterator[str]:
        raw = self._raw_chunks()
        first = b""
        for piece in raw:  # at least 4 bytes to see a BOM
            first += piece
            if len(first) >= 4:
                break
        if first.startswith(_UTF16_BOMS):
            decoder = codecs.getincrementaldecoder("utf-16")("replace")
        else:
            decoder = codecs.getincrementaldecoder("utf-8-sig")("replace")
        if first:
            yield decoder.decode(first)
        for piece in raw:
            yield decoder.decode(piece)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def lines(self, keepends: bool = True) -> Iterator[str]:
        """Lines, with their ``\\n`` if ``keepends`` (the csv module needs it); only ``\\n`` splits."""
        end = "\n" if keepends else ""
        pending: list[str] = []  # pieces of a line longer than a chunk, joined once
        for chunk in self.chunks():
            if "\n" not in chunk:
                pending.append(chunk)
                continue
            parts = chunk.split("\n")
            parts[0] = "".join(pending) + parts[0]
            pending = [parts.pop()]
            if end:
                for part in parts:
                    yield part + end
            else:
                yield from parts
        tail = "".join(pending)
        if tail:
            yield tail

    def read(self) -> str:
        return "".join(self.chunks())


def _head(path: Path, size: int = SNIFF_BYTES) -> tuple[str, str | None]:
    """The first ``size`` characters of text (decompressed) and the damage met on the way, if any."""
    text = _Text(path)
    out, total = [], 0
    for chunk in text.chunks():
        out.append(chunk)
        total += len(chunk)
        if total >= size:
            break
    return "".join(out), text.problem


# ------------------------------------------------------------------------------------------------
# Recognising a format.
# ------------------------------------------------------------------------------------------------

def _json_kind(rec: object) -> str | None:
    """``signinlogs`` / ``m365`` for one JSON record, ``None`` for anything else."""
    if not isinstance(rec, dict):
        return None
    if rec.get("Operation") in _M365_OPERATIONS:
        return "m365"
    if all(k in rec for k in _SIGNINLOGS_KEYS) or rec.get("Type") == "SigninLogs":
        return "signinlogs"
    return None


def _kind_by_keys(text: str) -> str | None:
    """``signinlogs`` / ``m365`` from the keys in the head of JSON too long to parse whole."""
    if '"Operation"' in text and ('"UserLoggedIn"' in text or '"UserLoginFailed"' in text):
        return "m365"
    # Exports order keys by the table schema: Category ("SignInLogs", "NonInteractiveUserSignInLogs",
    # ...) and ResultType come early, UserPrincipalName may come after the policies.
    if '"ResultType"' in text and ('"UserPrincipalName"' in text or 'SignInLogs"' in text):
        return "signinlogs"
    return None


def _delimiter(header_line: str) -> str:
    """Comma, or tab for Excel's "Unicode text" (UTF-16 TSV) saves of an export."""
    return "\t" if header_line.count("\t") > header_line.count(",") else ","


def _csv_columns(header: list[str]) -> list[str]:
    """Log Analytics writes ``TimeGenerated [UTC]``; the rest of tracehound wants the bare name."""
    return [name.strip().removesuffix(" [UTC]").strip() for name in header]


def _sniff(path: Path) -> tuple[str | None, str]:
    """``(format, "")`` or ``(None, why it is not a sign-in log)``."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        return None, f"cannot open: {exc.strerror or exc}"
    if magic == b"PAR1":
        try:
            names = set(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            return None, f"corrupt Parquet file ({exc})"
        if set(SIGNINS.names) <= names:
            return "signins-parquet", ""
        if all(k in names for k in _SIGNINLOGS_KEYS):
            return "signinlogs-parquet", ""
        return None, ("Parquet file without SigninLogs columns (UserPrincipalName, ResultType) "
                      f"or the canonical signins columns; it has: {', '.join(sorted(names)[:12])}")
    text, problem = _head(path)
    text = text.lstrip()
    if not text:
        return None, problem or "empty file (no records)"
    if text[0] == "[":
        kind = _kind_by_keys(text)
        if kind:
            return f"{kind}-json", ""
        return None, "JSON array without SigninLogs or M365 sign-in records"
    if text[0] == "{":
        # A mixed audit export may start with other record types, and the head may cut the last
        # line, so look at the first few lines for one sign-in record.
        parsed = False
        for line in [ln for ln in text.split("\n") if ln.strip()][:20]:
            try:
                kind = _json_kind(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
            parsed = True
            if kind:
                return f"{kind}-jsonl", ""
        if not parsed and len(text) >= SNIFF_BYTES // 2:
            # One record longer than the head (hundreds of conditional-access policies): judge
            # by its keys, and let the reader parse it whole.
            kind = _kind_by_keys(text)
            if kind:
                return f"{kind}-jsonl", ""
        if parsed:
            return None, ("JSON records that are not sign-ins: expected SigninLogs keys "
                          "(Id, UserPrincipalName, ResultType) or an M365 UserLoggedIn / "
                          "UserLoginFailed record")
        return None, "starts like JSON but no line of its beginning is valid JSON"
    first_line = text.split("\n", 1)[0]
    if "\x00" in first_line[:4096]:
        return None, "binary file, not a text or Parquet sign-in export"
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=_delimiter(first_line)))
    except (csv.Error, StopIteration):
        return None, "not JSON, CSV or Parquet"
    cols = _csv_columns(header)
    if "AuditData" in cols:
        return "m365-csv", ""
    if all(k in cols for k in _SIGNINLOGS_KEYS):
        return "signinlogs-csv", ""
    if all(k in cols for k in _PORTAL_KEYS):
        return "signinlogs-portal-csv", ""
    if "\x00" in text[:4096]:
        return None, "binary file, not a text or Parquet sign-in export"
    shown = ", ".join(repr(c) for c in cols[:8]) + (", ..." if len(cols) > 8 else "")
    return None, ("not a sign-in log: its first line has columns " + shown + "; expected a SigninLogs "
                  "export (UserPrincipalName, ResultType, TimeGenerated, ...), a portal export "
                  "('Date (UTC)', 'Sign-in error code', ...) or an M365 audit export (AuditData)")


def sniff_signin_format(path: str | Path) -> str | None:
    """The sign-in format of one file, from its content, or ``None`` when it is not a sign-in log.

    One of ``signinlogs-jsonl``, ``signinlogs-json``, ``signinlogs-csv``, ``signinlogs-portal-csv``,
    ``signinlogs-parquet``, ``signins-parquet``, ``m365-jsonl``, ``m365-json``, ``m365-csv``.
    """
    return _sniff(Path(path))[0]


# ------------------------------------------------------------------------------------------------
# Field helpers: every value is attacker-controlled text; wrong types are bad records, not crashes.
# ------------------------------------------------------------------------------------------------

_TIME_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %H:%M:%S",
                 "%m/%d/%Y, %H:%M:%S")


def _time(value: object, field: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            for fmt in _TIME_FORMATS:
                try:
                    parsed = datetime.strptime(value.strip(), fmt)
                    break
                except ValueError:
                    continue
            else:
                raise _Bad(f"field {field!r}: unparseable time {value[:60]!r}, "
                           "expected ISO-8601 like 2024-03-01T12:00:00Z") from None
    elif value is None or value == "":
        raise _Bad(f"missing time ({field})")
    else:
        raise _Bad(f"field {field!r}: expected an ISO-8601 time, got {type(value).__name__}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)  # Log Analytics times are UTC without a suffix
    if parsed.tzinfo is timezone.utc:  # "...Z": already what the schema wants
        return parsed
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise _Bad(f"field {field!r}: time out of range: {str(value)[:60]!r}") from None


def _text(value: object, field: str) -> str | None:
    if value.__class__ is str:  # the common case first: this runs ten times a record
        return value or None
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    raise _Bad(f"field {field!r}: expected text, got {type(value).__name__} {str(value)[:40]!r}")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int(value: object, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _Bad(f"field {field!r}: expected an integer code, got a boolean")
    number = None
    if isinstance(value, str):
        try:
            number = int(value)  # int() itself allows surrounding whitespace
        except ValueError:
            pass
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is not None and _INT64_MIN <= number <= _INT64_MAX:
        return number
    raise _Bad(f"field {field!r}: expected an integer code, got {str(value)[:40]!r}")


_TRUE = {"true": True, "1": True, "false": False, "0": False}


def _bool(value: object, field: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return _TRUE[value.strip().lower()]
    raise _Bad(f"field {field!r}: expected true/false, got {str(value)[:40]!r}")


#: Parsed JSON text of dynamic fields, by text: a device's ``DeviceDetail`` or a city's
#: ``LocationDetails`` repeats on thousands of rows. Callers only read the parsed values.
_DYNAMIC_CACHE: dict[str, object] = {}
_DYNAMIC_CACHE_LIMIT = 100_000
_DYNAMIC_CACHE_TEXT = 4_096  # longer texts are parsed each time, so the cache stays small


def _dynamic(value: object, field: str, kind: type = dict):
    """A dynamic field: nested already, or JSON text (CSV, and many JSON exports, stringify them)."""
    if value is None or value == "":
        return kind()
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        parsed = _DYNAMIC_CACHE.get(value)
        if parsed is None:
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise _Bad(f"field {field!r}: not valid JSON text: {value[:60]!r}") from None
            if parsed is None:
                parsed = kind()
            if len(value) <= _DYNAMIC_CACHE_TEXT:
                if len(_DYNAMIC_CACHE) >= _DYNAMIC_CACHE_LIMIT:
                    _DYNAMIC_CACHE.clear()
                _DYNAMIC_CACHE[value] = parsed
        if isinstance(parsed, kind):
            return parsed
    raise _Bad(f"field {field!r}: expected a JSON {'object' if kind is dict else 'array'}, "
               f"got {str(value)[:60]!r}")


def _user(value: object, field: str) -> str:
    user = _text(value, field)
    if user is None:
        raise _Bad(f"missing user ({field})")
    return user.strip().lower()


def _ip(value: object, field: str) -> str | None:
    ip = _text(value, field)
    if ip is None:
        return None
    return ip.strip() or None


# ------------------------------------------------------------------------------------------------
# Mapping one record of each family to the canonical fields (order: _MAPPED).
# ------------------------------------------------------------------------------------------------

def _from_signinlogs(rec: dict) -> tuple:
    event_id = _text(rec.get("Id"), "Id")  # None: _read_file falls back to "<file>:<line>"
    when = rec.get("TimeGenerated") or rec.get("CreatedDateTime")
    time = _time(when, "TimeGenerated" if rec.get("TimeGenerated") else "CreatedDateTime")
    user = _user(rec.get("UserPrincipalName"), "UserPrincipalName")
    result = _int(rec.get("ResultType"), "ResultType")
    if result is None:
        result = _int(_dynamic(rec.get("Status"), "Status").get("errorCode"), "Status.errorCode")
        if result is None:
            raise _Bad("missing ResultType")
    where = _dynamic(rec.get("LocationDetails"), "LocationDetails")
    device = _dynamic(rec.get("DeviceDetail"), "DeviceDetail")
    country = _text(where.get("countryOrRegion"), "LocationDetails.countryOrRegion") \
        or _text(rec.get("Location"), "Location")
    return (
        event_id, time, user, result, _ip(rec.get("IPAddress"), "IPAddress"), country,
        _text(where.get("state"), "LocationDetails.state"),
        _text(where.get("city"), "LocationDetails.city"),
        _text(rec.get("AppDisplayName"), "AppDisplayName"),
        _text(rec.get("ClientAppUsed"), "ClientAppUsed"),
        _text(rec.get("UserAgent"), "UserAgent"),
        _text(device.get("browser"), "DeviceDetail.browser"),
        _text(device.get("operatingSystem"), "DeviceDetail.operatingSystem"),
        _text(device.get("displayName"), "DeviceDetail.displayName"),
        _bool(rec.get("IsInteractive"), "IsInteractive"),
    )


_UTC = timezone.utc
_NO_DETAILS: dict = {}


def _plain_details(value: object) -> dict | None:
    """A dynamic field for the fast path: absent → empty, a dict as is, JSON text already in the
    cache → its dict; anything else → None (the full mapper handles it and its errors)."""
    if value is None:
        return _NO_DETAILS
    if value.__class__ is not dict:
        value = _DYNAMIC_CACHE.get(value) if value.__class__ is str else None
    return value if value.__class__ is dict else None


def _from_signinlogs_plain(rec: dict) -> tuple | None:
    """:func:`_from_signinlogs` for the common record, or ``None`` to send it the long way.

    A JSON export's record is almost always plain: text or null fields, nested dynamic fields, an
    ISO time with ``Z``. For that record this gives exactly what :func:`_from_signinlogs` gives with
    a tenth of the function calls; anything else (a wrong type, JSON text it has not seen, an
    unusual time or code) returns ``None`` and :func:`_from_signinlogs` decides, so rejects and
    their reasons never come from here.
    """
    get = rec.get
    event_id, when, user, code = get("Id"), get("TimeGenerated"), get("UserPrincipalName"), get("ResultType")
    ip, app, client, agent = get("IPAddress"), get("AppDisplayName"), get("ClientAppUsed"), get("UserAgent")
    where, device, interactive = get("LocationDetails"), get("DeviceDetail"), get("IsInteractive")
    if when.__class__ is not str or not when or user.__class__ is not str or not user:
        return None
    where, device = _plain_details(where), _plain_details(device)
    if where is None or device is None:
        return None
    wget, dget = where.get, device.get
    country, state, city = wget("countryOrRegion"), wget("state"), wget("city")
    browser, system, name = dget("browser"), dget("operatingSystem"), dget("displayName")
    if country is None or country.__class__ is str and not country:
        country = get("Location")
    for value in (event_id, ip, country, state, city, app, client, agent, browser, system, name):
        if value is not None and value.__class__ is not str:
            return None
    if interactive is not None and interactive.__class__ is not bool:
        return None
    if code.__class__ is str:
        try:
            result = int(code)
        except ValueError:
            return None
    elif code.__class__ is int:
        result = code
    else:
        return None
    if not _INT64_MIN <= result <= _INT64_MAX:
        return None
    try:
        time = datetime.fromisoformat(when.strip())
    except ValueError:
        return None
    if time.tzinfo is None:
        time = time.replace(tzinfo=_UTC)
    elif time.tzinfo is not _UTC:
        return None
    return (
        event_id or None, time, user.strip().lower(), result, (ip.strip() or None) if ip else None,
        country or None, state or None, city or None, app or None, client or None, agent or None,
        browser or None, system or None, name or None, interactive,
    )


def _named(items: object, field: str) -> dict:
    """M365 keeps extras as ``[{"Name": ..., "Value": ...}, ...]``; make that a dict."""
    out = {}
    for item in _dynamic(items, field, list):
        if isinstance(item, dict) and isinstance(item.get("Name"), str):
            out[item["Name"]] = item.get("Value")
    return out


def _from_m365(rec: dict) -> tuple:
    operation = rec.get("Operation")
    if operation not in _M365_OPERATIONS:
        raise _Bad(f"not a sign-in record: Operation {str(operation)[:40]!r}, "
                   "expected UserLoggedIn or UserLoginFailed")
    event_id = _text(rec.get("Id"), "Id")  # None: _read_file falls back to "<file>:<line>"
    time = _time(rec.get("CreationTime"), "CreationTime")
    user = _user(rec.get("UserId"), "UserId")
    # ErrorNumber wins where present: UserLoggedIn records with 50140 (the "stay signed in?"
    # interrupt) are not successes; a UserLoggedIn without one is a plain success.
    result = _int(rec.get("ErrorNumber"), "ErrorNumber")
    if result is None:
        if operation != "UserLoggedIn":
            raise _Bad("missing ErrorNumber on a UserLoginFailed record")
        result = 0
    extended = _named(rec.get("ExtendedProperties"), "ExtendedProperties")
    device = _named(rec.get("DeviceProperties"), "DeviceProperties")
    return (
        event_id, time, user, result,
        _ip(rec.get("ClientIP") or rec.get("ActorIpAddress"), "ClientIP"),
        None, None, None,
        _text(rec.get("ApplicationId"), "ApplicationId"),
        None,
        _text(extended.get("UserAgent"), "ExtendedProperties.UserAgent"),
        _text(device.get("BrowserType"), "DeviceProperties.BrowserType"),
        _text(device.get("OS"), "DeviceProperties.OS"),
        _text(device.get("DisplayName"), "DeviceProperties.DisplayName"),
        None,
    )


def _from_portal(rec: dict) -> tuple:
    """The portal's CSV: display names, and ``Location`` as "City, State, CC"."""
    event_id = _text(rec.get("Request ID") or rec.get("ID") or rec.get("Id"), "Request ID")
    time = _time(rec.get("Date (UTC)"), "Date (UTC)")
    user = _user(rec.get("Username") or rec.get("User"), "Username")
    result = _int(rec.get("Sign-in error code"), "Sign-in error code")
    if result is None:
        raise _Bad("missing Sign-in error code")
    location = [p.strip() or None for p in (_text(rec.get("Location"), "Location") or "").split(",")]
    city = location[0] if len(location) >= 2 else None
    state = location[-2] if len(location) >= 3 else None
    country = location[-1]
    return (
        event_id, time, user, result, _ip(rec.get("IP address"), "IP address"),
        country, state, city,
        _text(rec.get("Application"), "Application"),
        _text(rec.get("Client app"), "Client app"),
        _text(rec.get("User agent"), "User agent"),
        _text(rec.get("Browser"), "Browser"),
        _text(rec.get("Operating System"), "Operating System"),
        _text(rec.get("Device name") or rec.get("Device"), "Device name"),
        None,
    )


_MAPPERS: dict[str, Callable[[dict], tuple]] = {
    "signinlogs": _from_signinlogs, "m365": _from_m365, "signinlogs-portal": _from_portal,
}
#: Shortcuts for a family's common record (``None`` when they decline it); see _from_signinlogs_plain.
_PLAIN_MAPPERS: dict[str, Callable[[dict], tuple | None]] = {"signinlogs": _from_signinlogs_plain}


# ------------------------------------------------------------------------------------------------
# Records of each container: (line or record number, dict) or (number, _Bad) for unparseable ones.
# ------------------------------------------------------------------------------------------------

def _jsonl_records(lines: Iterable[str], first: int = 1, skip: int = 0) -> Iterator[tuple[int, object, str]]:
    """Records of JSON Lines; ``first`` is the file line number of the first of ``lines``; the first
    ``skip`` records (non-blank lines) are passed over unparsed (another reader delivered them)."""
    for number, line in enumerate(lines, start=first):
        if not line or line.isspace():
            continue
        if skip:
            skip -= 1
            continue
        try:
            yield number, orjson.loads(line), line
        except orjson.JSONDecodeError as exc:
            yield number, _Bad(f"invalid JSON: {exc}"), line.rstrip("\r\n")


def _json_array_records(text: _Text) -> Iterator[tuple[int, object, str]]:
    try:
        data = orjson.loads(text.read())
    except orjson.JSONDecodeError as exc:
        yield 1, _Bad(f"invalid JSON array: {exc}"), ""
        return
    if not isinstance(data, list):
        yield 1, _Bad("expected a JSON array of records"), ""
        return
    for number, rec in enumerate(data, start=1):
        yield number, rec, ""


def _csv_records(text: _Text, audit: bool) -> Iterator[tuple[int, object, str]]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    lines = text.lines()
    first = next(lines, "")
    reader = csv.reader(itertools.chain([first], lines), delimiter=_delimiter(first))
    try:
        header = _csv_columns(next(reader))
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, _Bad(f"unreadable CSV header: {exc}"), ""
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, _Bad(f"malformed CSV: {exc}"), ""
            start = reader.line_num + 1
            continue
        number, start = start, reader.line_num + 1
        if not any(row):
            continue
        raw = ",".join(row)
        if len(row) != len(header):
            yield number, _Bad(f"{len(row)} CSV fields, the header has {len(header)}"), raw
            continue
        rec = dict(zip(header, row))
        if audit:
            try:
                yield number, orjson.loads(rec["AuditData"]), raw
            except orjson.JSONDecodeError as exc:
                yield number, _Bad(f"AuditData is not valid JSON: {exc}"), raw
        else:
            yield number, rec, raw


#: The SigninLogs columns the mapper reads; a real export has ~60 more that are not converted.
_SIGNINLOGS_USED = ("Id", "TimeGenerated", "CreatedDateTime", "UserPrincipalName", "ResultType", "Status",
                    "IPAddress", "Location", "LocationDetails", "DeviceDetail", "AppDisplayName",
                    "ClientAppUsed", "UserAgent", "IsInteractive")


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _python_values(column: pa.Array) -> list:
    """A column as Python values, column-wise: ``RecordBatch.to_pylist`` costs ~50 µs a row, and
    pyarrow's tz-aware datetimes ~6 µs each; epoch arithmetic is a tenth of that."""
    if not pa.types.is_timestamp(column.type):
        return column.to_pylist()
    unit = column.type.unit
    out = []
    for ticks in column.cast(pa.int64()).to_pylist():
        if ticks is None:
            out.append(None)
        else:
            micros = ticks // 1_000 if unit == "ns" else ticks * _MICROS[unit]
            out.append(_EPOCH + timedelta(microseconds=micros))
    return out


def _parquet_records(path: Path) -> Iterator[tuple[int, object, str]]:
    number = 0
    try:
        source = pq.ParquetFile(path)
        columns = [c for c in _SIGNINLOGS_USED if c in source.schema_arrow.names]
        for batch in source.iter_batches(batch_size=20_000, columns=columns):
            names = batch.schema.names
            for values in zip(*(_python_values(col) for col in batch.columns)):
                number += 1
                yield number, dict(zip(names, values)), ""
    except (pa.ArrowException, OSError) as exc:
        yield number + 1, _Bad(f"corrupt Parquet data from here on: {exc}"), ""


def _records(path: Path, fmt: str, text: _Text, skip: int = 0) -> Iterator[tuple[int, object, str]]:
    container = fmt.rsplit("-", 1)[1]
    if container == "jsonl":
        return _jsonl_records(text.lines(keepends=False), skip=skip)
    if container == "json":
        return _json_array_records(text)
    if container == "csv":
        return _csv_records(text, audit=fmt == "m365-csv")
    return _parquet_records(path)


# ------------------------------------------------------------------------------------------------
# Batches.
# ------------------------------------------------------------------------------------------------

class _Batcher:
    """Collects mapped rows and turns them into enriched canonical Arrow batches.

    Readers append to :attr:`rows` directly and note which file the rows came from in :attr:`runs`
    (``(source, row count)``), because a method call per row costs more than the mapping itself.
    """

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.runs: list[tuple[str, int]] = []
        self.enricher = Enricher()

    def flush(self) -> pa.RecordBatch:
        cols = dict(zip(_MAPPED, zip(*self.rows)))  # transposed in C by zip
        cols["ip_prefix"] = [None] * len(self.rows)  # the enricher computes it
        cols["success"] = [r == 0 for r in cols["result"]]
        cols["source"] = list(itertools.chain.from_iterable([src] * n for src, n in self.runs))
        batch = pa.RecordBatch.from_arrays(
            [pa.array(cols[f.name], type=f.type) for f in SIGNINS], schema=SIGNINS)
        self.rows, self.runs = [], []
        return self.enricher.enrich(batch)


def _canonical_batches(path: Path, report: ReadReport) -> Iterator[pa.RecordBatch]:
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=SIGNINS.names):
            batch = batch.select(SIGNINS.names).cast(SIGNINS)
            report.records += batch.num_rows
            yield batch
    except (pa.ArrowException, OSError) as exc:
        report.reject(path, None, f"canonical Parquet file unreadable from here on: {exc}")


def _map_records(records: Iterable[tuple[int, object, str]], path: Path, fmt: str, report: ReadReport,
                 batcher: _Batcher) -> Iterator[pa.RecordBatch]:
    """Map ``records`` of one file into ``batcher``; yield full batches as they fill.

    The cyclic garbage collector is paused while this loop runs (not while the caller has a batch):
    parsed records and rows hold no cycles, and its passes over the growing batch cost ~15% of a read.
    """
    family = fmt.rsplit("-", 1)[0]
    mapper = _MAPPERS[family]
    plain = _PLAIN_MAPPERS.get(family)
    source = str(path)
    records_read = 0
    rows = batcher.rows
    start = len(rows)
    collecting = gc.isenabled()
    gc.disable()
    try:
        for number, rec, raw in records:
            if isinstance(rec, _Bad):
                report.reject(source, number, str(rec), raw)
                continue
            if not isinstance(rec, dict):
                report.reject(source, number, f"expected a JSON object, got {type(rec).__name__}", raw)
                continue
            try:
                row = plain(rec) if plain is not None else None
                if row is None:
                    row = mapper(rec)
                if row[0] is None:  # no id of its own: point at the raw record (DESIGN.md §3)
                    row = (f"{path.name}:{number}", *row[1:])
                rows.append(row)
            except _Bad as exc:
                report.reject(source, number, str(exc),
                              raw.rstrip("\r\n") or orjson.dumps(rec, default=str))
                continue
            if len(rows) >= BATCH_ROWS:
                records_read += len(rows) - start
                batcher.runs.append((source, len(rows) - start))
                batch = batcher.flush()
                if collecting:
                    gc.enable()
                yield batch
                gc.disable()
                rows, start = batcher.rows, 0
    finally:
        if collecting:
            gc.enable()
    records_read += len(rows) - start
    if len(rows) > start:
        batcher.runs.append((source, len(rows) - start))
    report.records += records_read


def _read_file(path: Path, fmt: str, report: ReadReport, batcher: _Batcher
               ) -> Iterator[pa.RecordBatch]:
    """Map every record of one file into ``batcher``; yield full batches as they fill.

    SigninLogs JSON Lines go to DuckDB's reader first (:mod:`.signinlogs_bulk`); whatever it could
    not take — from the first record that is not plain, or damaged, to the end — is read here.
    """
    skip = 0
    if fmt == "signinlogs-jsonl":
        bulk = BulkRead(path, enricher=batcher.enricher, batch_rows=BATCH_ROWS)
        for batch in bulk.batches():
            report.records += batch.num_rows
            yield batch
        if bulk.complete:
            return
        skip = bulk.records
    text = _Text(path)
    yield from _map_records(_records(path, fmt, text, skip), path, fmt, report, batcher)
    if text.problem:
        report.reject(str(path), None, text.problem)


def _parse(files: list[tuple[Path, str | None, str]], report: ReadReport,
           progress: Progress | None = None) -> Iterator[pa.RecordBatch]:
    if not files:
        raise InputFormatError("no input files: the folders given hold no files")
    batcher = _Batcher()
    readable = 0
    unreadable: list[str] = []
    for done, (path, fmt, why) in enumerate(files):
        if progress is not None:
            progress(done, len(files))
        if fmt is None:
            report.unreadable(path, why)
            unreadable.append(f"{path}: {why}")
            continue
        readable += 1
        report.files += 1
        report.formats[fmt] += 1
        if fmt == "signins-parquet":
            yield from _canonical_batches(path, report)
            continue
        yield from _read_file(path, fmt, report, batcher)
    if batcher.rows:
        yield batcher.flush()
    if progress is not None:
        progress(len(files), len(files))
    if not readable:
        shown = "; ".join(unreadable[:5]) + (f"; and {len(unreadable) - 5} more"
                                              if len(unreadable) > 5 else "")
        raise InputFormatError(f"no sign-in log among the inputs: {shown}")


#: Marker files Spark / Hadoop leave beside Parquet parts; they hold no data.
_MARKERS = {"_SUCCESS", "_committed", "_started"}


def _sniffed(paths: str | Path | Iterable[str | Path]) -> list[tuple[Path, str | None, str]]:
    files = [p for p in expand(paths) if p.name not in _MARKERS]
    return [(p, *_sniff(p)) for p in files]


def parse_signins(paths: str | Path | Iterable[str | Path], *, report: ReadReport | None = None
                  ) -> Iterator[pa.RecordBatch]:
    """Canonical ``signins`` Arrow batches from files, folders and globs, in any supported format.

    Bad records and unreadable files go to ``report`` (a fresh one if not given) and reading goes
    on; if not one input is a sign-in log, :class:`InputFormatError` names them and says why.
    """
    return _parse(_sniffed(paths), report if report is not None else ReadReport())


def read_signins(paths: str | Path | Iterable[str | Path], engine: Engine, *,
                 progress: Progress | None = None) -> tuple[ibis.Table, ReadReport]:
    """The canonical ``signins`` table on ``engine``, and what was read and set aside.

    Parsed batches are written as Parquet parts into the engine's staging area and read back by the
    engine; Parquet already in the canonical schema is read by the engine straight from its file.
    ``progress(files_done, files_total)`` is called as files are read (the CLI draws a bar with it).
    """
    report = ReadReport()
    sniffed = _sniffed(paths)
    if not sniffed:
        raise InputFormatError("no input files: the folders given hold no files")
    canonical = [p for p, fmt, _ in sniffed if fmt == "signins-parquet"]
    others = [s for s in sniffed if s[1] != "signins-parquet"]
    folder = engine.staging_folder("signins")
    parts = 0
    if others:
        try:
            for batch in _parse(others, report, progress):
                pq.write_table(pa.Table.from_batches([batch]), folder / f"part-{parts:05d}.parquet")
                parts += 1
        except InputFormatError:
            if not canonical:
                raise
    for path in canonical:
        report.files += 1
        report.formats["signins-parquet"] += 1
        report.records += pq.ParquetFile(path).metadata.num_rows
    if parts == 0:  # nothing parsed: an empty part gives the engine the canonical schema
        pq.write_table(SIGNINS.empty_table(), folder / "part-00000.parquet")
    table = engine.read_parquet(folder)
    schema = table.schema()  # the canonical schema as this engine types it
    for path in canonical:
        raw = engine.read_parquet(path)
        table = table.union(raw.select(**{name: raw[name].cast(dtype) for name, dtype in schema.items()}),
                            distinct=False)
    return table, report
