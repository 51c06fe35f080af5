"""Columnar events → SigninLogs JSON Lines or Parquet, plus ``labels.csv``, without per-event Python objects.

Each JSON line is assembled from pre-serialised fragments: every distinct user, IP, place, agent, app and
result is serialised once (with orjson, so escaping is right), and Arrow's vectorised ``take`` and
``binary_join_element_wise`` glue the fragments of a whole chunk of rows together in C++. Ids and times
are fixed-width and built as byte matrices in numpy. The joined chunk's data buffer *is* the file content,
so it is written in one call. Output is byte-identical for the same inputs (gzip without name or mtime).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip as gzip_module
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog
from .events import KINDS, Events, Tables

TENANT_ID = "4b2462a4-bbee-495a-a0e1-f23ae524cc9c"
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass
class ExtraRecord:
    """A ready-made SigninLogs record (needs ``Id`` and ``TimeGenerated`` or ``CreatedDateTime``) and its label."""

    record: dict
    label: str = "external"
    kind: str = "external"


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mixer: distinct inputs give distinct, random-looking outputs."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def guid_matrix(seed: int, index: np.ndarray) -> np.ndarray:
    """(n, 36) ASCII GUIDs (version 4 layout) for event numbers ``index``: unique and stable under seed."""
    key = np.uint64(_splitmix64(np.array([seed & 0xFFFFFFFF], np.uint64))[0])
    idx = index.astype(np.uint64)
    hi = _splitmix64(idx ^ key)  # bijective in idx, so ids are unique
    lo = _splitmix64(hi ^ np.uint64(0x5851F42D4C957F2D))
    raw = np.stack([hi, lo], axis=1).astype(">u8").view(np.uint8).reshape(-1, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    nib = np.empty((len(idx), 32), np.uint8)
    nib[:, 0::2], nib[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 0x0F]
    dash = np.full((len(idx), 1), ord("-"), np.uint8)
    return np.hstack([nib[:, :8], dash, nib[:, 8:12], dash, nib[:, 12:16], dash, nib[:, 16:20], dash, nib[:, 20:]])


def iso_matrix(time_ms: np.ndarray) -> np.ndarray:
    """(n, 24) ASCII ``YYYY-MM-DDTHH:MM:SS.mmmZ`` UTC times (years 1970–9999).

    Dates are formatted once per distinct day and the time of day is written digit by digit, which is
    several times faster than formatting every timestamp.
    """
    n = len(time_ms)
    out = np.empty((n, 24), np.uint8)
    if n == 0:
        return out
    day, rem = np.divmod(time_ms.astype(np.int64), 86_400_000)
    first = int(day.min())
    dates = np.datetime_as_string(np.arange(first, int(day.max()) + 1).astype("datetime64[D]")).astype("S10")
    out[:, :10] = dates.view(np.uint8).reshape(-1, 10)[day - first]
    hour, rem = np.divmod(rem, 3_600_000)
    minute, rem = np.divmod(rem, 60_000)
    second, milli = np.divmod(rem, 1000)
    for col, value, width in ((11, hour, 2), (14, minute, 2), (17, second, 2), (20, milli, 3)):
        for k in range(width):
            out[:, col + k] = 48 + (value // 10 ** (width - 1 - k)) % 10
    for col, char in ((10, "T"), (13, ":"), (16, ":"), (19, "."), (23, "Z")):
        out[:, col] = ord(char)
    return out


def _const(n: int, text: bytes) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(text, np.uint8), (n, len(text)))


def _fixed_strings(matrix: np.ndarray) -> pa.Array:
    """Rows of a (n, w) byte matrix as an Arrow string array, without a Python object per row."""
    n, w = matrix.shape
    data = np.ascontiguousarray(matrix).tobytes()
    offsets = (np.arange(n + 1, dtype=np.int64) * w).astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def _j(value: object) -> str:
    return orjson.dumps(value).decode()


def _csv_field(text: str) -> str:
    """A CSV field, quoted only when it has to be (campaign names are user-chosen)."""
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


class Fragments:
    """Every distinct value serialised once, as JSON fragments (for lines) and plain values (for Parquet)."""

    def __init__(self, tables: Tables) -> None:
        self.codes = np.array(sorted(catalog.RESULTS), dtype=np.int64)
        res = [(c, catalog.RESULTS[c]) for c in self.codes.tolist()]
        status = [{"errorCode": c} if c == 0 else {"errorCode": c, "failureReason": d} for c, d in res]
        self.result = pa.array([f'"ResultType":{_j(str(c))},"ResultDescription":{_j(d)},"Status":{_j(s)},'
                                for (c, d), s in zip(res, status)])
        self.user = pa.array([f'"UserPrincipalName":{_j(u)},"UserDisplayName":{_j(d)},"UserId":{_j(i)},'
                              f'"Identity":{_j(d)},' for u, d, i in tables.users])
        self.ip = pa.array([f'"IPAddress":{_j(ip)},' for ip in tables.ips])
        details = [{"countryOrRegion": p.country, "state": p.state, "city": p.city,
                    "geoCoordinates": {"latitude": p.lat, "longitude": p.lon}} for p in tables.places]
        self.place = pa.array([f'"Location":{_j(p.country)},"LocationDetails":{_j(d)},'
                               for p, d in zip(tables.places, details)])
        self.app = pa.array([f'"AppDisplayName":{_j(a)},"AppId":{_j(i)},' for a, i in catalog.APPS])
        self.client = pa.array([f'"ClientAppUsed":{_j(c)},' for c in catalog.CLIENTS])
        self.agent = pa.array([f'"UserAgent":{_j(a.user_agent)},"DeviceDetail":{_j(a.device_detail)},'
                               for a in tables.agents])
        tail = f',"Type":"SigninLogs","TenantId":"{TENANT_ID}","SourceSystem":"Azure AD"}}\n'
        self.interactive = pa.array(['"IsInteractive":false' + tail, '"IsInteractive":true' + tail])
        self.label = pa.array([_csv_field(x) + "," for x in tables.labels])
        self.kind = pa.array([f"{k}," for k in KINDS])
        self.success = pa.array(["false\n", "true\n"])
        # Plain values for Parquet columns.
        self.plain = {
            "ResultType": pa.array([str(c) for c, _ in res]), "ResultDescription": pa.array([d for _, d in res]),
            "Status": pa.array([_j(s) for s in status]),
            "UserPrincipalName": pa.array([u for u, _, _ in tables.users]),
            "UserDisplayName": pa.array([d for _, d, _ in tables.users]),
            "UserId": pa.array([i for _, _, i in tables.users]), "IPAddress": pa.array(tables.ips),
            "Location": pa.array([p.country for p in tables.places]),
            "LocationDetails": pa.array([_j(d) for d in details]),
            "AppDisplayName": pa.array([a for a, _ in catalog.APPS]), "AppId": pa.array([i for _, i in catalog.APPS]),
            "ClientAppUsed": pa.array(list(catalog.CLIENTS)),
            "UserAgent": pa.array([a.user_agent for a in tables.agents]),
            "DeviceDetail": pa.array([_j(a.device_detail) for a in tables.agents]),
        }

    def result_index(self, result: np.ndarray) -> np.ndarray:
        # External rows may carry codes outside the table; their fragment is replaced, so clipping is safe.
        return np.clip(np.searchsorted(self.codes, result), 0, len(self.codes) - 1)


def _join(parts: list) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def write_lines(stream: BinaryIO, arr: pa.Array) -> None:
    """Write a string array's concatenated values (each already ends with a newline) in one call."""
    if len(arr) == 0:
        return
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    stream.write(memoryview(arr.buffers()[2])[int(offsets[0]):int(offsets[-1])])


def _splice(simulated: pa.Array, ext_rows: np.ndarray, ext_values: list) -> pa.Array:
    """Replace rows ``ext_rows`` of ``simulated`` by ``ext_values`` (external records), keeping order."""
    if not len(ext_rows):
        return simulated
    idx = np.arange(len(simulated), dtype=np.int64)
    idx[ext_rows] = len(simulated) + np.arange(len(ext_rows))
    return pa.concat_arrays([simulated, pa.array(ext_values, type=simulated.type)]).take(pa.array(idx))


class ChunkWriter:
    """Serialises sorted events chunk by chunk into JSON lines or Parquet columns, and label lines."""

    def __init__(self, tables: Tables, extras: list[ExtraRecord], seed: int) -> None:
        self.frag = Fragments(tables)
        self.extras = extras
        self.ext_lines = [orjson.dumps(e.record).decode() + "\n" for e in extras]
        self.ext_ids = [str(e.record["Id"]) for e in extras]
        self.seed = seed

    def _ids(self, index: np.ndarray) -> np.ndarray:
        return guid_matrix(self.seed, index)

    def json_lines(self, ev: Events, index: np.ndarray) -> pa.Array:
        n = len(ev)
        ts = iso_matrix(ev.time_ms)
        head = np.hstack([_const(n, b'{"Id":"'), self._ids(index), _const(n, b'","TimeGenerated":"'), ts,
                          _const(n, b'","CreatedDateTime":"'), ts,
                          _const(n, b'","OperationName":"Sign-in activity","Category":"SignInLogs",')])
        f = self.frag
        lines = _join([_fixed_strings(head), f.result.take(pa.array(f.result_index(ev.result))),
                       f.user.take(pa.array(ev.user)), f.ip.take(pa.array(ev.ip)), f.place.take(pa.array(ev.place)),
                       f.app.take(pa.array(ev.app)), f.client.take(pa.array(ev.client)),
                       f.agent.take(pa.array(ev.agent)), f.interactive.take(pa.array(ev.interactive.astype(np.int8)))])
        rows = np.flatnonzero(ev.ext >= 0)
        return _splice(lines, rows, [self.ext_lines[i] for i in ev.ext[rows]])

    def label_lines(self, ev: Events, index: np.ndarray) -> pa.Array:
        n = len(ev)
        f = self.frag
        ids = _fixed_strings(np.hstack([self._ids(index), _const(n, b",")]))
        rows = np.flatnonzero(ev.ext >= 0)
        ids = _splice(ids, rows, [self.ext_ids[i] + "," for i in ev.ext[rows]])
        return _join([ids, f.label.take(pa.array(ev.label)), f.kind.take(pa.array(ev.kind)),
                      f.success.take(pa.array((ev.result == 0).astype(np.int8)))])

    def parquet_table(self, ev: Events, index: np.ndarray) -> pa.Table:
        f = self.frag.plain
        ridx = pa.array(self.frag.result_index(ev.result))
        time = pa.array(ev.time_ms.astype("datetime64[ms]"), type=pa.timestamp("ms", tz="UTC"))
        users, places, agents = pa.array(ev.user), pa.array(ev.place), pa.array(ev.agent)
        n = len(ev)
        cols = {
            "Id": _fixed_strings(self._ids(index)), "TimeGenerated": time, "CreatedDateTime": time,
            "OperationName": _repeat("Sign-in activity", n), "Category": _repeat("SignInLogs", n),
            "ResultType": f["ResultType"].take(ridx), "ResultDescription": f["ResultDescription"].take(ridx),
            "Status": f["Status"].take(ridx), "UserPrincipalName": f["UserPrincipalName"].take(users),
            "UserDisplayName": f["UserDisplayName"].take(users), "UserId": f["UserId"].take(users),
            "Identity": f["UserDisplayName"].take(users),
            "IPAddress": f["IPAddress"].take(pa.array(ev.ip)), "Location": f["Location"].take(places),
            "LocationDetails": f["LocationDetails"].take(places),
            "AppDisplayName": f["AppDisplayName"].take(pa.array(ev.app)),
            "AppId": f["AppId"].take(pa.array(ev.app)), "ClientAppUsed": f["ClientAppUsed"].take(pa.array(ev.client)),
            "UserAgent": f["UserAgent"].take(agents), "DeviceDetail": f["DeviceDetail"].take(agents),
            "IsInteractive": pa.array(ev.interactive), "Type": _repeat("SigninLogs", n),
            "TenantId": _repeat(TENANT_ID, n), "SourceSystem": _repeat("Azure AD", n),
        }
        rows = np.flatnonzero(ev.ext >= 0)
        if len(rows):
            recs = [self.extras[i].record for i in ev.ext[rows]]
            cols = {name: _splice(arr, rows, [_parquet_value(r, name) for r in recs]) for name, arr in cols.items()}
        return pa.table(cols)


def _repeat(value: str, n: int) -> pa.Array:
    return pa.array([value]).take(pa.array(np.zeros(n, np.int8)))


def _parquet_value(rec: dict, name: str) -> object:
    """An external record's value in the Parquet layout (dynamic fields as JSON strings)."""
    value = rec.get(name)
    if name in ("TimeGenerated", "CreatedDateTime"):
        return record_time(rec)
    if isinstance(value, (dict, list)):
        return _j(value)
    if name == "IsInteractive":
        return None if value is None else bool(value)
    return None if value is None else str(value)


def record_time(rec: dict) -> dt.datetime:
    """An external record's time (TimeGenerated, else CreatedDateTime), as aware UTC."""
    when = rec.get("TimeGenerated") or rec.get("CreatedDateTime")
    if not isinstance(when, str) or not when:
        raise ValueError(f"external record {rec.get('Id')!r} has no TimeGenerated/CreatedDateTime")
    parsed = dt.datetime.fromisoformat(when)
    return parsed.replace(tzinfo=dt.timezone.utc) if parsed.tzinfo is None else parsed.astimezone(dt.timezone.utc)


@contextlib.contextmanager
def open_output(path: Path, gzip: bool) -> Iterator[BinaryIO]:
    """A binary file; gzip'd without file name or mtime in the header so output is byte-identical."""
    with open(path, "wb") as raw:
        if not gzip:
            yield raw
            return
        with gzip_module.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=3) as zipped:
            yield zipped
