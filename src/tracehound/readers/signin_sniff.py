"""Which sign-in format a file is, from its content: exports get renamed, gzip'd and re-saved.

The formats are listed in :mod:`tracehound.readers.signins`. A file that is not a sign-in log gets
the reason why (shown to the analyst as an unreadable file), not just a no: "Parquet file without
SigninLogs columns", "JSON records that are not sign-ins", the columns its first line has.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Iterator

import orjson
import pyarrow.parquet as pq

from ..schema import ADDED, SIGNINS
from .files import Head, head_chars
from .signin_containers import csv_columns
from .stream import delimiter
from .signin_fields import M365_OPERATIONS
from .signin_graph import is_graph_record
from .json_stream import WRAPPER_KEYS

#: Characters of (decompressed, decoded) content looked at to recognise a format.
SNIFF_BYTES = 262_144
_SIGNINLOGS_KEYS = ("UserPrincipalName", "ResultType")
_PORTAL_KEYS = ("Date (UTC)", "Sign-in error code")


def _json_kind(rec: object) -> str | None:
    """``signinlogs`` / ``m365`` for one JSON record, ``None`` for anything else."""
    if not isinstance(rec, dict):
        return None
    if rec.get("Operation") in M365_OPERATIONS:
        return "m365"
    if all(k in rec for k in _SIGNINLOGS_KEYS) or rec.get("Type") == "SigninLogs":
        return "signinlogs"
    if is_graph_record(rec):
        return "graph"
    if isinstance(rec.get("eventType"), str) and "published" in rec and "uuid" in rec:
        return "okta"
    return None


def _wrapped(rec: object) -> str | None:
    """The kind of the records of a Graph page / Event Hub batch (``{"value": [...]}``)."""
    if not isinstance(rec, dict):
        return None
    for key in WRAPPER_KEYS:
        items = rec.get(key)
        if isinstance(items, list):
            for item in items[:50]:
                kind = _json_kind(item)
                if kind:
                    return kind
    return None


def _kind_by_keys(text: str) -> str | None:
    """``signinlogs`` / ``m365`` from the keys in the head of JSON too long to parse whole."""
    if '"Operation"' in text and ('"UserLoggedIn"' in text or '"UserLoginFailed"' in text):
        return "m365"
    # Exports order keys by the table schema: Category ("SignInLogs", "NonInteractiveUserSignInLogs",
    # ...) and ResultType come early, UserPrincipalName may come after the policies.
    if '"ResultType"' in text and ('"UserPrincipalName"' in text or 'SignInLogs"' in text):
        return "signinlogs"
    if '"createdDateTime"' in text and ('"userPrincipalName"' in text or '"status"' in text):
        return "graph"
    if '"eventType"' in text and '"published"' in text and '"uuid"' in text:
        return "okta"
    return None


_WRAPPER_START = re.compile(r'\{\s*"(@odata\.[A-Za-z]+|value|records)"\s*:')


def _lines(text: str) -> Iterator[str]:
    """``text.split("\n")``, one line at a time: the head of a JSON Lines file is judged by its first
    line nearly always, and splitting all of it cost more than judging that line."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def sniff(path: Path, head: Head | None = None) -> tuple[str | None, str]:
    """``(format, "")`` or ``(None, why it is not a sign-in log)``. ``head``: the file's first bytes
    as routing read them (:func:`~.files.read_head`), so the file is not opened again for them."""
    if head is not None:
        magic = head.data[:4]
    else:
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
        if set(SIGNINS.names) - set(ADDED["signins"]) <= names:  # saved before the added columns: still ours
            return "signins-parquet", ""
        if all(k in names for k in _SIGNINLOGS_KEYS):
            return "signinlogs-parquet", ""
        return None, ("Parquet file without SigninLogs columns (UserPrincipalName, ResultType) "
                      f"or the canonical signins columns; it has: {', '.join(sorted(names)[:12])}")
    text, problem = head_chars(path, SNIFF_BYTES, head)
    text = text.lstrip()
    if not text:
        return None, problem or "empty file (no records)"
    if text[0] == "[":
        kind = _kind_by_keys(text)
        if kind:
            return f"{kind}-json", ""
        return None, "JSON array without SigninLogs, Graph, M365 or Okta sign-in records"
    if text[0] == "{" and _WRAPPER_START.match(text):
        # Graph pages / Event Hub batches, one per line or pretty-printed: judge by their records.
        try:
            kind = _wrapped(orjson.loads(text.split("\n", 1)[0]))
        except orjson.JSONDecodeError:
            kind = None
        kind = kind or _kind_by_keys(text)
        if kind in ("graph", "signinlogs"):
            return f"{kind}-pages", ""
        return None, ("JSON pages / batches ({\"value\": [...]} or {\"records\": [...]}) without "
                      "Entra sign-in records")
    if text[0] == "{":
        # A mixed audit export may start with other record types (25 audit records, then 2,000
        # sign-ins), and the head may cut the last line, so look at every line of the head.
        parsed = False
        for line in (ln for ln in _lines(text) if ln.strip()):
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
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter(first_line)))
    except (csv.Error, StopIteration):
        return None, "not JSON, CSV or Parquet"
    cols = csv_columns(header)
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


def sniff_signin_format(path: str | Path, head: Head | None = None) -> str | None:
    """The sign-in format of one file, from its content, or ``None`` when it is not a sign-in log.

    One of ``signinlogs-jsonl``, ``signinlogs-json``, ``signinlogs-pages``, ``signinlogs-csv``,
    ``signinlogs-portal-csv``, ``signinlogs-parquet``, ``signins-parquet``, ``m365-jsonl``,
    ``m365-json``, ``m365-csv``, ``graph-jsonl``, ``graph-json``, ``graph-pages``, ``okta-jsonl``,
    ``okta-json``. ``head``: the file's first bytes, read once by routing (:class:`~.files.Head`).
    """
    return sniff(path if isinstance(path, Path) else Path(path), head)[0]
