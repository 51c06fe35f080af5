"""Linux auth syslog (``/var/log/auth.log``, ``/var/log/secure``) → the canonical ``logons`` table.

What is read, per line, after the syslog header (``Mon DD HH:MM:SS host prog[pid]: message``, or
rsyslog's high-precision ``2024-03-04T10:00:00.123+01:00 host prog[pid]: message``):

======================================================================  ============================
sshd message                                                            row
======================================================================  ============================
``Failed <method> for [invalid user] X from ADDR port N ssh2``          failure (4625)
``Accepted <method> for X from ADDR port N ssh2``                       success (4624)
``Invalid user X from ADDR`` (``Illegal user`` on old sshd)             failure (4625)
``pam_unix(svc:auth): authentication failure; ... rhost=ADDR user=X``   failure (4625)
``PAM N more authentication failures; ... rhost=ADDR user=X``           N failures (4625)
``message repeated N times: [ <any of the above> ]``                    the inner event N times
======================================================================  ============================

The pam_unix lines also come as ``sshd(pam_unix)[pid]: authentication failure; ...`` (old PAM, as in
loghub's Linux log) and from other services (``su``, ``sudo``, ``login``: local, so no source).

**One attempt, one row.** sshd logs a failed password three times over: ``Invalid user``, the
pam_unix failure and ``Failed password``. Counting each would triple every attempt, so sshd's own
verdict lines (``Failed`` / ``Accepted``) are authoritative: an ``Invalid user`` or pam_unix line
becomes a row only when the same process (syslog host + pid) logged no verdict line in the file —
as with pre-2005 sshd (only pam_unix lines) or a probe that disconnects before trying a password.
A pid reused by a later process in the same file can hide that process's pam-only lines; sshd's
verdict lines are never hidden.

**``message repeated N times``** is counted N times (N rows, event ids ``file:line``,
``file:line.2`` …): each repeat is a real attempt and a brute force is exactly what syslog folds.
N is attacker-controlled (one 21 KB line can say ten million, or 10¹²), so at most
``limits.max_repeat`` rows are made of one line; the repeats beyond are counted in
``ReadReport.skipped``, never made into rows. The same holds for ``PAM N more authentication failures``.

**Year.** Classic syslog stamps have no year. ``year=`` is the year of the *first* line; without it
the *last* line is placed in the file's modification year (the year before, when its stamp is later in
the year than the modification time: a December log copied in January, or on December 1st). Each
other line takes the year that puts it closest in time to its neighbour, so Dec 31 → Jan 1 starts the next year while one line out
of order (a ``Mar 2`` among ``Mar 3`` lines, a straggler from last year) moves nothing else. A stamp
no year makes real (``Feb 30``, ``25:00:00``) is a reject and is ignored for the placing. Stamps are
local time without a zone; they are taken as UTC. ISO stamps carry their own year and zone. Times
outside the read's bounds (:class:`~tracehound.readers.limits.TimeBounds`) are rejects.

**Addresses.** ``ADDR`` / ``rhost`` that is an IP address goes to ``source_ip``; a host name (sshd
with ``UseDNS yes``) goes to ``source_host`` whole and lower-cased (cutting an internet reverse-DNS
name at its first dot, as Windows names are, would leave ``220-135-151-1``). ``target_host`` is the
syslog host, upper-cased without DNS suffix like the Windows readers'. sshd rows get logon type 10
(remote interactive, what Windows gives RDP), so a user ssh-ing into many servers feeds the lateral
hunt; other services get none.

Lines of other programs and other sshd messages are skipped silently and counted in
:class:`AuthLogStats`; a line that looks like one of the events above but cannot be read (truncated,
impossible date) is set aside in the :class:`ReadReport` with file and line. A pam_unix failure
without ``user=`` (the account does not exist; sshd did not say which name was tried) is read but
has no account, and :func:`~tracehound.readers.logons.read_logons` keeps only rows with one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..badrecords import ReadReport
from . import files
from .hosts import LOCAL, host_name, is_ip
from .limits import DEFAULT, Limits, OutOfBounds, TimeBounds

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
#: Non-blank lines of the head that must be syslog-shaped for a file to be taken as an auth log.
SNIFF_LINES = 50
SSH_LOGON_TYPE = 10

_BSD_HEADER = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<clock>\d{2}:\d{2}:\d{2})(?:\.\d+)? "
    r"(?P<host>\S+) (?P<prog>[^\s\[:(]+)(?:\((?P<module>[^)]*)\))?(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$")
_ISO_HEADER = re.compile(
    r"^(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?) "
    r"(?P<host>\S+) (?P<prog>[^\s\[:(]+)(?:\((?P<module>[^)]*)\))?(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$")
_REPEATED = re.compile(r"^message repeated (?P<n>\d{1,18}) times: \[\s*(?P<inner>.*?)\s*\]\s*$")
_FAILED = re.compile(r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) "
                     r"from (?P<addr>\S+) port (?P<port>\d+)(?: ssh\d?)?(?:: .*)?\s*$")
_ACCEPTED = re.compile(r"^Accepted (?P<method>\S+) for (?P<user>.*?) from (?P<addr>\S+) port (?P<port>\d+)"
                       r"(?: ssh\d?)?(?:: .*)?\s*$")
_INVALID = re.compile(r"^(?:Invalid|Illegal) user (?P<user>.*?) from (?P<addr>\S+)(?: port \d+)?\s*$")
_PAM_PREFIX = re.compile(r"^pam_unix\((?P<service>[^):]*)(?::[^)]*)?\):\s*")
_PAM_FAILURE = re.compile(r"^(?:authentication failure|PAM (?P<more>\d{1,18}) more authentication failures?);"
                          r"(?P<kv>.*)$")
_KV = re.compile(r"(\w+)=(\S*)")
#: An sshd / pam_unix message that announces one of the events above; if the full pattern then
#: fails, the line is malformed, not "something else".
_HINT = re.compile(r"^(?:Failed \S+ for|Accepted \S+ for|(?:Invalid|Illegal) user|"
                   r"authentication failure|PAM \d+ more authentication failure)")
#: ``ReadReport.skipped`` reason for repeats of one line beyond ``limits.max_repeat``.
REPEATS_CAPPED = "repeats beyond limits.max_repeat (message repeated / PAM N more failures)"
NOT_AUTH = "syslog line that is no auth event (other programs, other sshd messages)"
FOLDED = "Invalid user / pam_unix line of an attempt its sshd verdict line already counts"
#: The same, anywhere in a line that has no readable syslog header.
_HINT_ANYWHERE = re.compile(r"(?:Failed|Accepted) \S+ for .* from |(?:Invalid|Illegal) user .* from |"
                            r"authentication failure;")


@dataclass
class AuthLogStats:
    """What happened to each line of auth logs: events read, lines skipped, duplicates folded."""

    lines: int = 0
    skipped: int = 0              # not an auth event (other programs, other sshd messages)
    malformed: int = 0            # looked like an auth event, could not be read (in the ReadReport)
    folded: int = 0               # Invalid user / pam_unix lines of a process with an sshd verdict
    events: dict[str, int] = field(default_factory=dict)  # failed/accepted/invalid/pam → rows

    def count(self, kind: str, n: int = 1) -> None:
        self.events[kind] = self.events.get(kind, 0) + n


@dataclass(frozen=True)
class _Line:
    number: int
    raw: str
    when: datetime | None      # ISO header: the full time; BSD header: None (year still unknown)
    month: int
    day: int
    clock: str
    host: str
    prog: str
    module: str | None
    pid: str | None
    msg: str


# --------------------------------------------------------------------------------------------
# sniffing
# --------------------------------------------------------------------------------------------
def sniff_authlog(head: str) -> bool:
    """True when most of the first lines are syslog-shaped and at least one is an auth event."""
    lines = [ln for ln in head.splitlines() if ln.strip()]
    first = lines[:SNIFF_LINES]
    if not first:
        return False
    shaped = sum(1 for ln in first if _header(ln) is not None)
    if shaped * 2 < len(first):
        return False
    for ln in lines:
        parsed = _header(ln)
        try:
            if parsed is not None and _event(parsed) is not None:
                return True
        except ValueError:
            continue
    return False


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------
def _header(line: str, number: int = 0) -> _Line | None:
    m = _BSD_HEADER.match(line)
    if m:
        month = MONTHS.get(m["mon"])
        if month is None:
            return None
        return _Line(number, line, None, month, int(m["day"]), m["clock"], m["host"], m["prog"],
                     m["module"], m["pid"], m["msg"])
    m = _ISO_HEADER.match(line)
    if m:
        try:
            when = datetime.fromisoformat(m["iso"].replace("Z", "+00:00"))
            when = (when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when).astimezone(timezone.utc)
        except (ValueError, OverflowError):  # month 13, year 9999 west of UTC: not a header; an auth
            return None                      # message behind it is a reject
        return _Line(number, line, when, when.month, when.day, f"{when:%H:%M:%S}", m["host"], m["prog"],
                     m["module"], m["pid"], m["msg"])
    return None


def _is_auth_source(line: _Line) -> bool:
    return line.prog.startswith("sshd") or line.module == "pam_unix" or line.msg.startswith("pam_unix(")


def _unwrap(msg: str) -> tuple[int, str]:
    """``message repeated 5 times: [ X ]`` → (5, X); anything else → (1, msg)."""
    m = _REPEATED.match(msg)
    return (int(m["n"]), m["inner"]) if m else (1, msg)


def _address(text: str | None) -> tuple[str | None, str | None]:
    """(source_ip, source_host) from sshd's ``from ADDR`` or pam's ``rhost=``."""
    if not text:
        return None, None
    text = text.strip().strip("[]")
    if not text or text.lower() in LOCAL:
        return None, None
    return (text, None) if is_ip(text) else (None, text.lower())


@dataclass(frozen=True)
class _Event:
    kind: str                 # failed / accepted / invalid / pam
    user: str | None
    addr: str | None
    repeat: int
    verdict: bool             # an sshd verdict line (authoritative for its process)
    unknown: bool = False     # "for invalid user": the account does not exist


#: Event kind → the provider-neutral failure kind (:mod:`tracehound.readers.authcodes`): sshd says
#: "invalid user" for an account that does not exist; pam_unix does not say why.
_FAILURE_KINDS = {"failed": "bad_password", "invalid": "unknown_user", "pam": "other"}


def _event(line: _Line) -> _Event | None:
    """The auth event a header-parsed line holds, None if it holds none; ValueError if malformed."""
    if not _is_auth_source(line):
        return None
    repeat, msg = _unwrap(line.msg)
    if msg.startswith("message repeated"):  # not in the ``[ ... ]`` shape
        if _HINT_ANYWHERE.search(msg):
            raise ValueError("unreadable 'message repeated' line")
        return None
    pam = _PAM_PREFIX.match(msg)
    if pam:
        msg = msg[pam.end():]
    if not _HINT.match(msg):
        return None
    if not pam and line.prog.startswith("sshd") and line.module is None:
        if m := _FAILED.match(msg):
            return _Event("failed", m["user"], m["addr"], repeat, True, unknown=bool(m["invalid"]))
        if m := _ACCEPTED.match(msg):
            return _Event("accepted", m["user"], m["addr"], repeat, True)
        if m := _INVALID.match(msg):
            return _Event("invalid", m["user"], m["addr"], repeat, False)
    if m := _PAM_FAILURE.match(msg):
        kv = dict(_KV.findall(m["kv"]))
        n = repeat * (int(m["more"]) if m["more"] else 1)
        return _Event("pam", kv.get("user") or None, kv.get("rhost") or None, n, False)
    raise ValueError(f"auth message not in a known shape: {msg[:80]!r}")


def _real(year: int, month: int, day: int, clock: str) -> datetime | None:
    """The stamp in ``year``, or ``None`` when that year has no such moment (Feb 29, Feb 30, 25:00)."""
    try:
        h, mi, sec = (int(x) for x in clock.split(":"))
        return datetime(year, month, day, h, mi, sec, tzinfo=timezone.utc)
    except ValueError:
        return None


def _nearest(stamp: tuple[int, int, str], near: datetime) -> datetime | None:
    """``stamp`` (month, day, clock) in the year that puts it closest to ``near`` (later on a tie)."""
    month, day, clock = stamp
    if month == near.month:
        same = _real(near.year, month, day, clock)
        if same is not None:
            return same
    options = [t for y in (near.year - 1, near.year, near.year + 1) if (t := _real(y, month, day, clock))]
    return min(options, key=lambda t: (abs(t - near), t < near)) if options else None


def _place(stamps: list[tuple[int, int, str]], year: int | None, mtime: float | None) -> list[datetime | None]:
    """Each (month, day, clock) stamp as a datetime, in file order; ``None`` for impossible ones.

    With ``year`` (the first line's) the walk goes forward from the first real stamp; without, back
    from the last, placed in the modification time's year (see the module docstring)."""
    out: list[datetime | None] = [None] * len(stamps)
    if not stamps:
        return out
    order = range(len(stamps)) if year is not None else range(len(stamps) - 1, -1, -1)
    if year is None:
        stamp = datetime.fromtimestamp(mtime if mtime is not None else datetime.now(timezone.utc).timestamp(),
                                       tz=timezone.utc)
    near: datetime | None = None
    for i in order:
        month, day, clock = stamps[i]
        if near is None:
            # a line is never written after its file: a Dec 10 stamp in a file last modified on Dec 1 is
            # last year's, as is any month later than the modification month
            if year is not None:
                anchor = year
            else:
                later = (month, day, clock) > (stamp.month, stamp.day, f"{stamp:%H:%M:%S}")
                anchor = stamp.year - (1 if later else 0)
            # Feb 29 as the anchor of a year without one: the nearest leap year is meant
            when = _real(anchor, month, day, clock) or next(
                (t for y in (anchor - 1, anchor + 1, anchor - 2, anchor + 2, anchor - 3, anchor + 3)
                 if (t := _real(y, month, day, clock))), None)
        else:
            when = _nearest(stamps[i], near)
        out[i] = when
        if when is not None:
            near = when
    return out


def iter_authlog_rows(path: str | Path, report: ReadReport, *, year: int | None = None,
                      stats: AuthLogStats | None = None, limits: Limits = DEFAULT,
                      bounds: TimeBounds | None = None) -> Iterator[dict]:
    """Canonical ``logons`` rows of one auth log (before account filtering); see the module docstring.

    Two passes over the file: the first finds the processes with an sshd verdict and places every
    stamp in its year, the second yields rows. ``stats`` (if given) is filled with per-line counts.
    ``bounds``: the read's time bounds (default: ``limits``').
    """
    path = Path(path)
    stats = stats if stats is not None else AuthLogStats()
    bounds = bounds or limits.bounds()
    parsed: list[tuple[_Line, _Event]] = []
    verdict_pids: set[tuple[str, str]] = set()
    for number, raw in files.iter_lines(path, report, limits):
        stats.lines += 1
        line = _header(raw, number)
        if line is None:
            if _HINT_ANYWHERE.search(raw):
                stats.malformed += 1
                report.reject(path, number, "auth message without a readable syslog header", raw)
            else:
                stats.skipped += 1
                report.skip(NOT_AUTH)
            continue
        try:
            event = _event(line)
        except ValueError as exc:
            stats.malformed += 1
            report.reject(path, number, f"ValueError: {exc}", raw)
            continue
        if event is None:
            stats.skipped += 1
            report.skip(NOT_AUTH)
            continue
        if event.verdict and line.pid:
            verdict_pids.add((line.host, line.pid))
        parsed.append((line, event))
    bsd = [(ln.month, ln.day, ln.clock) for ln, _ in parsed if ln.when is None]
    places = iter(_place(bsd, year, path.stat().st_mtime) if bsd else [])
    for line, event in parsed:
        when = line.when if line.when is not None else next(places)
        if when is None:  # Feb 30, 25:00:00
            stats.malformed += 1
            report.reject(path, line.number, f"ValueError: no year has {line.raw[:15]!r}", line.raw)
            continue
        try:
            bounds.check(when)
        except OutOfBounds as exc:
            stats.malformed += 1
            report.reject(path, line.number, str(exc), line.raw)
            continue
        if not event.verdict and line.pid and (line.host, line.pid) in verdict_pids:
            stats.folded += 1
            report.skip(FOLDED)
            continue
        ip, rhost = _address(event.addr)
        stats.count(event.kind, event.repeat)
        rows = min(event.repeat, limits.max_repeat)
        if rows < event.repeat:
            report.skip(REPEATS_CAPPED, event.repeat - rows)
        for i in range(rows):
            yield {
                "event_id": f"{path.name}:{line.number}" + (f".{i + 1}" if i else ""),
                "time": when,
                "user": (event.user or None),
                "domain": None,
                "target_host": host_name(line.host),
                "source_ip": ip,
                "source_host": rhost,
                "logon_type": SSH_LOGON_TYPE if line.prog.startswith("sshd") else None,
                "event_code": 4624 if event.kind == "accepted" else 4625,
                "success": event.kind == "accepted",
                "source": "authlog",
                "auth_protocol": "ssh" if line.prog.startswith("sshd") else None,
                "failure_kind": "unknown_user" if event.unknown else _FAILURE_KINDS.get(event.kind),
            }
