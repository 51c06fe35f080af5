"""Every text format tracehound reads, as data for the hostile-input suite (``test_hostile_readers.py``).

Each :class:`Format` writes valid records with randomised fields, and — per damage class — records
that a reader must reject (a time out of bounds, a wrong type, a missing field), must skip (a record
of another kind) or must keep with a warning (Latin-1 bytes). The suite mixes them at random
positions and checks every line lands in exactly one of kept / rejected / skipped.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

import orjson

UTC = timezone.utc
#: A marker in a valid line's text field that :func:`latin1` turns into one Latin-1 byte.
MARK = "QQ-LATIN-QQ"
START = datetime(2024, 3, 4, tzinfo=UTC)
ISO_EXTREMES = ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1900-01-01T00:00:00Z",
                "1969-12-31T23:59:59Z", "2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                "9999-12-31T23:59:59-14:00", "10000-01-01T00:00:00Z"]
HOSTILE_IPS = ["fe80::1%a } } flush ruleset", "fe80::1%eth0\nflush ruleset", "1.2.3.4/0", "=1+1", "not-an-ip",
               "1.2.3.4; rm -rf /"]


def _csv(values: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)  # quotes a cell holding a newline
    return buf.getvalue()[:-1]


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return f"2001:db8:{rng.randrange(1 << 16):x}::{rng.randrange(1, 1 << 16):x}"
    return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _when(rng: random.Random, i: int) -> datetime:
    """Increasing times over three weeks of 2024 (authlog's year placement needs an order)."""
    return START + timedelta(minutes=37 * i, seconds=rng.randrange(60))


def _user(rng: random.Random) -> str:
    return rng.choice(["alice", "bob", "carol", "dave", "erin", "frank"]) + str(rng.randrange(500))


Line = Callable[[random.Random, int], str]


@dataclass(frozen=True)
class Format:
    """One format: its header lines, and line makers per kind of record (each ``(rng, i) -> str``)."""

    name: str
    table: str
    good: Line
    header: tuple[str, ...] = ()
    #: lines a reader must reject
    rejected: dict[str, list[Line]] = field(default_factory=dict)
    #: lines a reader must read and skip (another event type)
    skipped: list[Line] = field(default_factory=list)
    #: a valid line of ~``n`` characters (for the size limits)
    long: Callable[[random.Random, int, int], str] | None = None
    #: a valid line with one cell of ``n`` characters (CSV formats: the cell limit)
    cell: Callable[[random.Random, int, int], str] | None = None
    #: whether damage makes it lose what follows, line by line (a JSON array is read whole)
    streams: bool = True
    #: the reader takes records' own ids (True) or ``file:line`` ids (False)
    own_ids: bool = False

    def body(self, lines: list[str]) -> str:
        return "".join(f"{h}\n" for h in self.header) + "".join(f"{ln}\n" for ln in lines)


def latin1(text: str) -> bytes:
    """UTF-8 bytes of ``text`` with :data:`MARK` replaced by a Latin-1 ``é`` (not valid UTF-8)."""
    return text.encode("utf-8").replace(MARK.encode(), b"caf\xe9")


# ------------------------------------------------------------------------------------------------
# Sign-ins
# ------------------------------------------------------------------------------------------------

def _signin(rng: random.Random, i: int, **changes) -> dict:
    rec = {"Id": f"sid-{i}-{rng.randrange(1 << 30):08x}", "TimeGenerated": _when(rng, i).isoformat().replace("+00:00", "Z"),
           "UserPrincipalName": f"{_user(rng)}@contoso.com", "ResultType": rng.choice(["0", "50126", "50053"]),
           "IPAddress": _ip(rng), "AppDisplayName": "Office 365 Exchange Online", "ClientAppUsed": "Browser",
           "UserAgent": f"Mozilla/5.0 {MARK} {rng.randrange(100)}", "Type": "SigninLogs",
           "LocationDetails": {"countryOrRegion": "US", "city": "Park Ridge"}}
    rec.update(changes)
    return {k: v for k, v in rec.items() if v is not ...}


def _j(rec: dict) -> str:
    return orjson.dumps(rec).decode()


SIGNINLOGS_JSONL = Format(
    "signinlogs-jsonl", "signins", lambda r, i: _j(_signin(r, i)), own_ids=True,
    rejected={
        "time": [lambda r, i, t=t: _j(_signin(r, i, TimeGenerated=t)) for t in ISO_EXTREMES]
        + [lambda r, i: _j(_signin(r, i, TimeGenerated=1709550000))],
        "wrong": [lambda r, i: _j(_signin(r, i, UserPrincipalName={"nested": "obj"})),
                  lambda r, i: _j(_signin(r, i, ResultType=50126.7)),
                  lambda r, i: _j(_signin(r, i, ResultType=True)),
                  lambda r, i: _j(_signin(r, i, UserAgent=["a", "b"]))]
        + [lambda r, i, a=a: _j(_signin(r, i, IPAddress=a)) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _j(_signin(r, i, UserPrincipalName=...)),
                    lambda r, i: _j(_signin(r, i, TimeGenerated=...)),
                    lambda r, i: _j(_signin(r, i, ResultType=...)),
                    lambda r, i: '{"Id": "cut", "TimeGenerated": '],
    },
    skipped=[lambda r, i: _j({"Type": "AuditLogs", "OperationName": "Add user", "Id": f"a{i}"})],
    long=lambda r, i, n: _j(_signin(r, i, UserAgent="x" * n)),
)

_LA_COLUMNS = ["Id", "TimeGenerated [UTC]", "UserPrincipalName", "ResultType", "IPAddress", "AppDisplayName",
               "UserAgent"]


def _la_row(rng: random.Random, i: int, **changes) -> str:
    rec = _signin(rng, i, **changes)
    return _csv([rec.get(c.removesuffix(" [UTC]"), "") for c in _LA_COLUMNS])


SIGNINLOGS_CSV = Format(
    "signinlogs-csv", "signins", _la_row, header=(",".join(_LA_COLUMNS),), own_ids=True,
    rejected={
        "time": [lambda r, i, t=t: _la_row(r, i, TimeGenerated=t) for t in ISO_EXTREMES],
        "wrong": [lambda r, i: _la_row(r, i, ResultType="5012x"), lambda r, i: _la_row(r, i, ResultType="4624.7")]
        + [lambda r, i, a=a: _la_row(r, i, IPAddress=a) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _la_row(r, i, UserPrincipalName=""), lambda r, i: "only,three,fields",
                    lambda r, i: _la_row(r, i) + ",extra"],
    },
    long=lambda r, i, n: _la_row(r, i, UserAgent="x" * n),
    cell=lambda r, i, n: _la_row(r, i, UserAgent="y" * n),
)


def _m365(rng: random.Random, i: int, **changes) -> dict:
    rec = {"Id": f"m-{i}-{rng.randrange(1 << 30):08x}", "CreationTime": _when(rng, i).strftime("%Y-%m-%dT%H:%M:%S"),
           "Operation": "UserLoginFailed", "UserId": f"{_user(rng)}@contoso.com", "ErrorNumber": "50126",
           "ClientIP": _ip(rng), "Workload": "AzureActiveDirectory", "ApplicationId": MARK}
    rec.update(changes)
    return {k: v for k, v in rec.items() if v is not ...}


M365_JSONL = Format(
    "m365-jsonl", "signins", lambda r, i: _j(_m365(r, i)), own_ids=True,
    rejected={
        "time": [lambda r, i, t=t: _j(_m365(r, i, CreationTime=t)) for t in ISO_EXTREMES],
        "wrong": [lambda r, i: _j(_m365(r, i, UserId=[1, 2])), lambda r, i: _j(_m365(r, i, ErrorNumber=True)),
                  lambda r, i: _j(_m365(r, i, Operation=None))]
        + [lambda r, i, a=a: _j(_m365(r, i, ClientIP=a)) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _j(_m365(r, i, UserId=...)), lambda r, i: _j(_m365(r, i, ErrorNumber=...))],
    },
    skipped=[lambda r, i: _j(_m365(r, i, Operation="MailItemsAccessed"))],
    long=lambda r, i, n: _j(_m365(r, i, ApplicationId="x" * n)),
)


_M365_CSV_COLUMNS = ["CreationDate", "UserIds", "Operations", "AuditData"]


def _m365_csv(rng: random.Random, i: int, **changes) -> str:
    rec = _m365(rng, i, **changes)
    return _csv([rec.get("CreationTime", ""), rec.get("UserId", ""), rec.get("Operation", ""), _j(rec)])


M365_CSV = Format(
    "m365-csv", "signins", _m365_csv, header=(",".join(_M365_CSV_COLUMNS),), own_ids=True,
    rejected={
        "time": [lambda r, i, t=t: _m365_csv(r, i, CreationTime=t) for t in ISO_EXTREMES],
        "wrong": [lambda r, i: _m365_csv(r, i, UserId={"a": 1}), lambda r, i: _m365_csv(r, i, ErrorNumber=4624.7),
                  lambda r, i: _csv(["2024-03-01", "x", "UserLoginFailed", "{not json"])]
        + [lambda r, i, a=a: _m365_csv(r, i, ClientIP=a) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _m365_csv(r, i, UserId=...), lambda r, i: _csv(["2024-03-01", "x", "y"])],
    },
    skipped=[lambda r, i: _m365_csv(r, i, Operation="FileAccessed")],
    long=lambda r, i, n: _m365_csv(r, i, ApplicationId="x" * n),
    cell=lambda r, i, n: _m365_csv(r, i, ApplicationId="y" * n),
)

_PORTAL_COLUMNS = ["Date (UTC)", "Request ID", "Username", "Application", "Sign-in error code", "IP address",
                   "Location", "User agent"]


def _portal(rng: random.Random, i: int, **changes) -> str:
    rec = {"Date (UTC)": _when(rng, i).strftime("%m/%d/%Y, %I:%M:%S %p"), "Request ID": f"req-{i}-{rng.randrange(1 << 30)}",
           "Username": f"{_user(rng)}@contoso.com", "Application": "Azure Portal",
           "Sign-in error code": rng.choice(["0", "50126"]), "IP address": _ip(rng),
           "Location": "Park Ridge, Illinois, US", "User agent": f"Mozilla/5.0 {MARK}"}
    rec.update(changes)
    return _csv([rec[c] for c in _PORTAL_COLUMNS])


PORTAL_CSV = Format(
    "signinlogs-portal-csv", "signins", _portal, header=(",".join(_PORTAL_COLUMNS),), own_ids=True,
    rejected={
        "time": [lambda r, i, t=t: _portal(r, i, **{"Date (UTC)": t}) for t in ISO_EXTREMES + ["02/30/2024, 10:00:00 AM"]],
        "wrong": [lambda r, i: _portal(r, i, **{"Sign-in error code": "50126.5"})]
        + [lambda r, i, a=a: _portal(r, i, **{"IP address": a}) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _portal(r, i, Username=""), lambda r, i: _portal(r, i, **{"Sign-in error code": ""})],
    },
    long=lambda r, i, n: _portal(r, i, **{"User agent": "x" * n}),
    cell=lambda r, i, n: _portal(r, i, **{"User agent": "y" * n}),
)


# ------------------------------------------------------------------------------------------------
# Logons
# ------------------------------------------------------------------------------------------------

def _win(rng: random.Random, i: int, **changes) -> dict:
    rec = {"EventID": rng.choice([4624, 4625, 4648]), "TimeCreated": _when(rng, i).isoformat(),
           "TargetUserName": _user(rng), "TargetDomainName": "CORP", "IpAddress": _ip(rng),
           "Hostname": f"ws{rng.randrange(50)}.corp.local", "LogonType": rng.choice([2, 3, 10]),
           "WorkstationName": f"WS{rng.randrange(50)}", "TargetServerName": "srv1", "Note": MARK}
    rec.update(changes)
    return {k: v for k, v in rec.items() if v is not ...}


WINDOWS_JSON = Format(
    "windows-json", "logons", lambda r, i: _j(_win(r, i)),
    rejected={
        "time": [lambda r, i, t=t: _j(_win(r, i, TimeCreated=t)) for t in ISO_EXTREMES],
        "wrong": [lambda r, i: _j(_win(r, i, EventID=True)), lambda r, i: _j(_win(r, i, EventID=4624.7)),
                  lambda r, i: _j(_win(r, i, EventID="46x4")),
                  lambda r, i: _j(_win(r, i, TargetUserName={"nested": "obj"})),
                  lambda r, i: _j(_win(r, i, EventID=4624, WorkstationName=["a"])),  # a 4648 never reads it
                  lambda r, i: _j(_win(r, i, LogonType="abc"))]
        + [lambda r, i, a=a: _j(_win(r, i, IpAddress=a)) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _j(_win(r, i, EventID=...)), lambda r, i: _j(_win(r, i, EventID=None)),
                    lambda r, i: _j(_win(r, i, TargetUserName=...)), lambda r, i: _j(_win(r, i, TimeCreated=...)),
                    lambda r, i: "[1, 2, 3]"],
    },
    skipped=[lambda r, i: _j(_win(r, i, EventID=4672)), lambda r, i: _j(_win(r, i, TargetUserName="WS9$"))],
    long=lambda r, i, n: _j(_win(r, i, Note="x" * n)),
)

def _beat(rng: random.Random, i: int, **changes) -> str:
    data = {"TargetUserName": _user(rng), "TargetDomainName": "CORP", "IpAddress": _ip(rng),
            "LogonType": str(rng.choice([3, 10])), "WorkstationName": MARK}
    top = {"event_id": rng.choice([4624, 4625]), "computer_name": f"srv{rng.randrange(9)}.corp.local"}
    when = _when(rng, i).isoformat().replace("+00:00", "Z")
    for key, value in changes.items():
        if key in top:
            top[key] = value
        elif key == "@timestamp":
            when = value
        else:
            data[key] = value
    rec = {"@timestamp": when, "event": {"code": str(top["event_id"])},
           "winlog": {**{k: v for k, v in top.items() if v is not ...}, "event_data": {
               k: v for k, v in data.items() if v is not ...}}}
    return _j({k: v for k, v in rec.items() if v is not ...})


WINLOGBEAT = Format(
    "winlogbeat-json", "logons", _beat,
    rejected={
        "time": [lambda r, i, t=t: _beat(r, i, **{"@timestamp": t}) for t in ISO_EXTREMES],
        "wrong": [lambda r, i: _beat(r, i, event_id=True), lambda r, i: _beat(r, i, TargetUserName={"a": "b"}),
                  lambda r, i: _beat(r, i, LogonType="3.0x")]
        + [lambda r, i, a=a: _beat(r, i, IpAddress=a) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _beat(r, i, TargetUserName=...), lambda r, i: _beat(r, i, **{"@timestamp": ...})],
    },
    skipped=[lambda r, i: _beat(r, i, event_id=4634)],
    long=lambda r, i, n: _beat(r, i, WorkstationName="x" * n),
)

_SENTINEL_COLUMNS = ["TimeGenerated", "Computer", "EventID", "TargetUserName", "TargetDomainName", "IpAddress",
                     "LogonType", "WorkstationName"]


def _sentinel(rng: random.Random, i: int, **changes) -> str:
    rec = {"TimeGenerated": _when(rng, i).isoformat().replace("+00:00", "Z"), "Computer": f"srv{rng.randrange(9)}",
           "EventID": str(rng.choice([4624, 4625])), "TargetUserName": _user(rng), "TargetDomainName": "CORP",
           "IpAddress": _ip(rng), "LogonType": "3", "WorkstationName": MARK}
    rec.update(changes)
    return _csv([rec[c] for c in _SENTINEL_COLUMNS])


SENTINEL_CSV = Format(
    "sentinel-csv", "logons", _sentinel, header=(",".join(_SENTINEL_COLUMNS),),
    rejected={
        "time": [lambda r, i, t=t: _sentinel(r, i, TimeGenerated=t) for t in ISO_EXTREMES],
        "wrong": [lambda r, i: _sentinel(r, i, EventID="4624.7"), lambda r, i: _sentinel(r, i, EventID="true"),
                  lambda r, i: _sentinel(r, i, LogonType="3.5")]
        + [lambda r, i, a=a: _sentinel(r, i, IpAddress=a) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _sentinel(r, i, TargetUserName=""), lambda r, i: _sentinel(r, i, EventID=""),
                    lambda r, i: ",".join(_sentinel(r, i).split(",")[:5])],
    },
    skipped=[lambda r, i: _sentinel(r, i, EventID="4672")],
    long=lambda r, i, n: _sentinel(r, i, WorkstationName="x" * n),
    cell=lambda r, i, n: _sentinel(r, i, WorkstationName="y" * n),
)


def _lanl(rng: random.Random, i: int, t: str | None = None, user: str | None = None, orient: str = "LogOn",
          fields: int = 9) -> str:
    u = user if user is not None else f"U{rng.randrange(900)}@DOM1"
    stamp = t if t is not None else str(int((_when(rng, i) - START).total_seconds()))
    parts = [stamp, u, u, f"C{rng.randrange(99)}", f"C{rng.randrange(99)}{MARK}", "Kerberos", "Network", orient,
             rng.choice(["Success", "Fail"])]
    return ",".join(parts[:fields])


LANL = Format(
    "lanl", "logons", _lanl,
    rejected={
        "time": [lambda r, i, t=t: _lanl(r, i, t=t) for t in ("-5", "4102444800", "99999999999999999999", "1e5")],
        "wrong": [lambda r, i: _lanl(r, i, t="abc"), lambda r, i: _lanl(r, i, t="12.5"),
                  lambda r, i: _lanl(r, i).rsplit(",", 1)[0] + ",Maybe"],
        "missing": [lambda r, i: _lanl(r, i, user="@CORP"), lambda r, i: _lanl(r, i, fields=8),
                    lambda r, i: _lanl(r, i, t="")],
    },
    skipped=[lambda r, i: _lanl(r, i, orient="LogOff"), lambda r, i: _lanl(r, i, user="C17$@DOM1")],
    long=lambda r, i, n: _lanl(r, i, user="U" * n + "@DOM1"),
)


def _auth(rng: random.Random, i: int, when: str | None = None, msg: str | None = None) -> str:
    stamp = when if when is not None else _when(rng, i).strftime("%b %e %H:%M:%S")
    text = msg if msg is not None else (f"Failed password for invalid user {_user(rng)} from {_ip(rng)} "
                                        f"port {rng.randrange(1024, 65535)} ssh2")
    return f"{stamp} srv{rng.randrange(5)}{MARK} sshd[{1000 + i}]: {text}"


def _auth_iso(t: str) -> Line:
    return lambda r, i: f"{t} srv1 sshd[{1000 + i}]: Failed password for root from 1.2.3.4 port 22 ssh2"


AUTHLOG = Format(
    "authlog", "logons", _auth,
    rejected={
        "time": [_auth_iso(t) for t in ("2099-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00",
                                         "1900-01-01T00:00:00+00:00", "0000-01-01T00:00:00+00:00")]
        + [lambda r, i: _auth(r, i, when="Feb 30 10:00:00"), lambda r, i: _auth(r, i, when="Mar  4 25:00:00")],
        "wrong": [lambda r, i: _auth(r, i, msg="Failed password for"),
                  lambda r, i: _auth(r, i, msg="message repeated 5 times: Failed password for x from 1.2.3.4")],
        "missing": [lambda r, i: _auth(r, i, msg="Failed password for root from 1.2.3.4"),
                    lambda r, i: "Failed password for root from 1.2.3.4 port 22 ssh2"],
    },
    skipped=[lambda r, i: _auth(r, i, msg="pam_unix(sshd:session): session opened for user x"),
             lambda r, i: f"{_when(r, i):%b %e %H:%M:%S} srv1 CRON[9]: (root) CMD (run-parts)"],
    long=lambda r, i, n: _auth(r, i, msg=f"Failed password for {'x' * n} from 1.2.3.4 port 22 ssh2"),
)

_ZEEK_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
                "orig_bytes", "resp_bytes", "conn_state"]


def _zeek(rng: random.Random, i: int, **changes) -> dict:
    rec = {"ts": f"{_when(rng, i).timestamp():.6f}", "uid": f"C{i}x{rng.randrange(1 << 30):08x}",
           "id.orig_h": _ip(rng), "id.orig_p": str(rng.randrange(1024, 65535)), "id.resp_h": _ip(rng),
           "id.resp_p": str(rng.choice([22, 80, 443, 445])), "proto": "tcp", "service": MARK,
           "duration": f"{rng.random():.3f}", "orig_bytes": str(rng.randrange(9999)),
           "resp_bytes": str(rng.randrange(9999)), "conn_state": "SF"}
    rec.update(changes)
    return rec


def _tsv(rec: dict) -> str:
    return "\t".join(str(rec[f]) for f in _ZEEK_FIELDS)


_EPOCH_EXTREMES = ["-1e12", "4102444800.0", "1e20", "nan", "inf", "-5"]

ZEEK_TSV = Format(
    "zeek-tsv", "connections", lambda r, i: _tsv(_zeek(r, i)), own_ids=True,
    header=("#separator \\x09", "#path\tconn", "#fields\t" + "\t".join(_ZEEK_FIELDS),
            "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring"),
    rejected={
        "time": [lambda r, i, t=t: _tsv(_zeek(r, i, ts=t)) for t in _EPOCH_EXTREMES],
        "wrong": [lambda r, i: _tsv(_zeek(r, i, **{"id.resp_p": "80.5"})),
                  lambda r, i: _tsv(_zeek(r, i, orig_bytes="abc"))]
        + [lambda r, i, a=a: _tsv(_zeek(r, i, **{"id.orig_h": a.replace("\n", " ")})) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _tsv(_zeek(r, i, **{"id.orig_h": "-"})), lambda r, i: _tsv(_zeek(r, i, ts="-")),
                    lambda r, i: "\t".join(_tsv(_zeek(r, i)).split("\t")[:6])],
    },
    long=lambda r, i, n: _tsv(_zeek(r, i, service="x" * n)),
)


def _zeek_json(rng: random.Random, i: int, **changes) -> str:
    rec = {k: v for k, v in _zeek(rng, i).items()}
    rec.update({"ts": float(rec["ts"]), "id.orig_p": int(rec["id.orig_p"]), "id.resp_p": int(rec["id.resp_p"]),
                "duration": float(rec["duration"]), "orig_bytes": int(rec["orig_bytes"]),
                "resp_bytes": int(rec["resp_bytes"])})
    rec.update(changes)
    return _j({k: v for k, v in rec.items() if v is not ...})


ZEEK_JSON = Format(
    "zeek-json", "connections", _zeek_json, own_ids=True,
    rejected={
        "time": [lambda r, i, t=t: _zeek_json(r, i, ts=t) for t in (-1e12, 4102444800.0, 1e20,
                                                                    "9999-12-31T23:59:59-14:00", "2099-01-01T00:00:00Z")],
        "wrong": [lambda r, i: _zeek_json(r, i, **{"id.resp_p": True}), lambda r, i: _zeek_json(r, i, orig_bytes=1.5),
                  lambda r, i: _zeek_json(r, i, **{"id.orig_h": {"x": 1}}), lambda r, i: _zeek_json(r, i, ts=[1])]
        + [lambda r, i, a=a: _zeek_json(r, i, **{"id.resp_h": a}) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _zeek_json(r, i, ts=...), lambda r, i: _zeek_json(r, i, **{"id.resp_h": ...}),
                    lambda r, i: '"just a string"'],
    },
    long=lambda r, i, n: _zeek_json(r, i, service="x" * n),
)


def _fw(rng: random.Random, i: int, **changes) -> str:
    rec = {"timestamp": _when(rng, i).isoformat().replace("+00:00", "Z"), "src": _ip(rng), "dst": _ip(rng),
           "dport": str(rng.choice([22, 443, 3389])), "protocol": "TCP", "application": MARK}
    rec.update(changes)
    return _csv(list(rec.values()))


FIREWALL_CSV = Format(
    "firewall-csv", "connections", _fw, header=("timestamp,src,dst,dport,protocol,application",),
    rejected={
        "time": [lambda r, i, t=t: _fw(r, i, timestamp=t) for t in ISO_EXTREMES],
        "wrong": [lambda r, i: _fw(r, i, dport="445.5"), lambda r, i: _fw(r, i, dport="http")]
        + [lambda r, i, a=a: _fw(r, i, src=a) for a in HOSTILE_IPS],
        "missing": [lambda r, i: _fw(r, i, dst=""), lambda r, i: ",".join(_fw(r, i).split(",")[:3])],
    },
    long=lambda r, i, n: _fw(r, i, application="x" * n),
    cell=lambda r, i, n: _fw(r, i, application="y" * n),
)


# ------------------------------------------------------------------------------------------------
# Web
# ------------------------------------------------------------------------------------------------

def _clf(rng: random.Random, i: int, stamp: str | None = None, client: str | None = None,
         status: str | None = None, path: str | None = None) -> str:
    when = stamp or _when(rng, i).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'{client or _ip(rng)} - - [{when}] "GET {path or f"/p/{rng.randrange(50)}"} HTTP/1.1" '
            f'{status or rng.choice(["200", "404"])} {rng.randrange(9999)} "-" "Mozilla/5.0 {MARK}"')


COMBINED = Format(
    "combined", "web_requests", _clf,
    rejected={
        "time": [lambda r, i, t=t: _clf(r, i, stamp=t) for t in (
            "17/May/0000:10:05:03 +0000", "01/Jan/2099:00:00:00 +0000", "31/Dec/9999:23:59:59 -1400",
            "31/Dec/1969:23:59:59 +0000", "32/Foo/2024:10:05:03 +0000")],
        "wrong": [lambda r, i: _clf(r, i, status="abc"), lambda r, i: _clf(r, i, status="2000")]
        + [lambda r, i, a=a: _clf(r, i, client=a) for a in ("fe80::1%a}}", "1.2.3.4/0", "=1+1", "evil.example")],
        "missing": [lambda r, i: _clf(r, i, client="-"), lambda r, i: "just some text"],
    },
    long=lambda r, i, n: _clf(r, i, path="/" + "x" * n),
)


def _nginx(rng: random.Random, i: int, **changes) -> str:
    rec = {"remote_addr": _ip(rng), "time_iso8601": _when(rng, i).isoformat(),
           "request": f"GET /p/{rng.randrange(50)} HTTP/1.1", "status": rng.choice([200, 404]),
           "body_bytes_sent": rng.randrange(999), "http_user_agent": f"Mozilla/5.0 {MARK}"}
    rec.update(changes)
    return _j({k: v for k, v in rec.items() if v is not ...})


NGINX_JSON = Format(
    "nginx_json", "web_requests", _nginx,
    rejected={
        "wrong": [lambda r, i, a=a: _nginx(r, i, remote_addr=a) for a in HOSTILE_IPS],
        "time": [lambda r, i, t=t: _nginx(r, i, time_iso8601=t) for t in (
            "2099-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59+00:00",
            "0000-01-01T00:00:00+00:00")],
        "missing": [lambda r, i: _nginx(r, i, remote_addr=...), lambda r, i: _nginx(r, i, time_iso8601=...)],
    },
    long=lambda r, i, n: _nginx(r, i, request="GET /" + "x" * n + " HTTP/1.1"),
)

FORMATS = [SIGNINLOGS_JSONL, SIGNINLOGS_CSV, PORTAL_CSV, M365_JSONL, M365_CSV, WINDOWS_JSON, WINLOGBEAT, SENTINEL_CSV,
           LANL, AUTHLOG, ZEEK_TSV, ZEEK_JSON, FIREWALL_CSV, COMBINED, NGINX_JSON]
