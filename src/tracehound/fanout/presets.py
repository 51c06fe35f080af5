"""What each fan-out hunt counts: entity, target, filter, bucket — and how its findings read.

A preset is data, not code: the detector is the same for all of them. A user-defined hunt is a
:class:`FanoutSpec` built by hand (or by :func:`custom_spec` from column names and ``column=value``
filters, which is what the CLI passes through — no expression is ever evaluated from text).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import ibis

from ..errors import ConfigError
from ..findings import ENTITY_TYPES

Where = Callable[[ibis.Table], ibis.expr.types.BooleanValue]


#: Column-name endings and the entity type they imply, for user-defined hunts (``custom_spec``).
_COLUMN_TYPES = (("user", "users"), ("_ip", "ips"), ("host", "hosts"), ("port", "ports"))


def column_type(column: str) -> str | None:
    """The entity type a column holds, judged by its name (``user`` → users, ``src_ip`` → ips,
    ``target_host`` → hosts, ``dst_port`` → ports); None when the name says nothing, and a finding
    then leaves the values out of its roles rather than guess."""
    name = column.lower()
    if name == "ip":
        return "ips"
    return next((kind for suffix, kind in _COLUMN_TYPES if name.endswith(suffix)), None)


@dataclass(frozen=True)
class FanoutSpec:
    """One fan-out hunt. Columns name the canonical table; nouns make the explanation read well.

    Roles: the entity is the attacking side (``entity_is_actor``: the account an intruder moves
    with, the scanning address) or, for counts *about* it, the side attacked (brute-force's account,
    av-sustained's user); targets take the other role. ``entity_type`` / ``target_type`` are the
    :data:`~tracehound.findings.ENTITY_TYPES` their values are listed under (None: not listed), and
    the ``*_fallback_type`` the type of values taken from the fallback column (a ``source_host``
    where ``source_ip`` is null is a host, not an address to block).
    """

    name: str
    kind: str                      # findings ``kind``
    table: str                     # canonical table it reads: logons / connections / detections
    entity: str                    # column whose values get a baseline each (user, src_ip)
    target: str                    # column counted distinct per bucket (target_host, dst_ip, ...)
    bucket: str = "1h"
    detect_last: str = "1h"
    where: Where | None = None
    sustained: int = 1             # buckets over the bound needed for one finding (av-sustained: 3)
    entity_type: str | None = "users"
    target_type: str | None = "hosts"
    entity_is_actor: bool = True
    verb: str = "logged on to"
    target_noun: str = "hosts"
    entity_fallback: str | None = None  # column used where ``entity`` is null (source_ip → source_host)
    target_fallback: str | None = None  # column used where ``target`` is null
    entity_fallback_type: str | None = None
    target_fallback_type: str | None = None
    #: What is counted per entity and bucket: ``distinct`` targets (fan-out), or ``events`` (a brute
    #: force is many attempts on *one* account: its distinct count stays 1).
    count: str = "distinct"
    #: Least bound, whatever the baseline (``events`` counting: an account with no history gets the
    #: floor bound 2, and three typos in an hour are not a brute force).
    min_bound: int = 0
    #: ``(column, value, least share, kind)``: a finding whose events are at least that share of
    #: rows with ``column == value`` is of that other kind — a source whose failed attempts nearly
    #: all name accounts that do not exist is enumerating users (Kerbrute), not guessing passwords.
    recast: tuple[str, str, float, str] | None = None
    #: Least bound when no entity has history (a short capture): see ``FanoutDetector``.
    short_floor: int = 0

    def __post_init__(self) -> None:
        types = (self.entity_type, self.target_type, self.entity_fallback_type, self.target_fallback_type)
        bad = [t for t in types if t is not None and t not in ENTITY_TYPES]
        if bad:
            raise ConfigError(f"fan-out hunt {self.name}: unknown entity type(s) {bad}; "
                              f"expected one of {', '.join(ENTITY_TYPES)}")
        if self.count not in ("distinct", "events"):
            raise ConfigError(f"fan-out hunt {self.name}: count must be 'distinct' or 'events', "
                              f"got {self.count!r}")

    def entity_of(self, t: ibis.Table) -> ibis.Value:
        """The entity column, or its fallback where it is null."""
        return _with_fallback(t, self.entity, self.entity_fallback)

    def target_of(self, t: ibis.Table) -> ibis.Value:
        """The target column, or its fallback where it is null."""
        return _with_fallback(t, self.target, self.target_fallback)

    def entity_types(self) -> tuple[str, ...]:
        """Every type an entity value can be listed as (its column's and its fallback's)."""
        return tuple(dict.fromkeys(t for t in (self.entity_type, self.entity_fallback_type) if t))

    def target_types(self) -> tuple[str, ...]:
        """Every type a target value can be listed as."""
        return tuple(dict.fromkeys(t for t in (self.target_type, self.target_fallback_type) if t))

    def kinds(self) -> tuple[str, ...]:
        """Every kind this hunt's findings can have: its own, and the ``recast`` one."""
        return (self.kind, *([self.recast[3]] if self.recast else []))

    def role_types(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(actor types, target types)`` of this hunt's findings, for its :class:`Kind`."""
        if self.entity_is_actor:
            return self.entity_types(), self.target_types()
        return self.target_types(), self.entity_types()

    def with_options(self, **changes) -> "FanoutSpec":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _with_fallback(t: ibis.Table, column: str, fallback: str | None) -> ibis.Value:
    return t[column] if fallback is None else ibis.coalesce(t[column], t[fallback])


def _lateral_where(t: ibis.Table):
    return (t.event_code == 4624) & t.logon_type.isin([3, 10])


#: A failure followed this soon by a success of the same account from the same source is a typo.
RETYPE_SECONDS = 600


#: Successes that prove a failure before them was a typo: a logon, a TGT issued, an NTLM validation.
PROOF_OF_PASSWORD = (4624, 4768, 4776)


def _guessing_where(t: ibis.Table):
    """Failed logons and credential validations (Kerberos 4768 / 4771, NTLM 4776) that were not
    retyped, plus Windows 4648 (explicit credentials).

    A spray run from a Windows host with ``runas``-style tools logs one 4648 per account tried on
    the attacking host, success or not. A failure followed within :data:`RETYPE_SECONDS` by a 4624 of
    the same account from the same source (or a TGT issued, an NTLM validation passed) is a user
    mistyping, not a guess: behind a shared address
    (VPN, NAT, terminal server) enough typos of different people otherwise add up to a "spray".
    """
    failed = t.filter((t.success == False) & t.event_id.notnull())  # noqa: E712 - Ibis expressions
    fkey = ibis.coalesce(failed.source_ip, failed.source_host)
    failed = failed.select(f_id=failed.event_id, f_user=failed.user, f_src=fkey, f_time=failed.time)
    ok = t.filter(t.event_code.isin(PROOF_OF_PASSWORD) & (t.success == True))  # noqa: E712
    ok = ok.select(s_user=ok.user, s_src=ibis.coalesce(ok.source_ip, ok.source_host), s_time=ok.time)
    retyped = failed.join(ok, [failed.f_user == ok.s_user, failed.f_src == ok.s_src,
                               ok.s_time >= failed.f_time,
                               ok.s_time <= failed.f_time + ibis.interval(seconds=RETYPE_SECONDS)])
    typo = t.event_id.isin(retyped.select("f_id").distinct().f_id).fill_null(False)
    return ((t.success == False) & ~typo) | (t.event_code == 4648)  # noqa: E712


#: Share of a guessing finding's attempts naming accounts that do not exist (Kerberos 0x6, NTLM
#: 0xC0000064, sshd "invalid user") from which it is an enumeration: a spray tries passwords on
#: accounts it knows (a few wrong names in its list), an enumeration tests names.
ENUMERATION_SHARE = 0.9
#: Least distinct destinations / ports a source must reach in a bucket to be a scan when nothing
#: has history (a capture shorter than ``min_history_days``): a workstation's half hour with its
#: domain controller (445, 53, 88, 135, 389, 5985 and RPC's dynamic ports) and its cloud services
#: stays below; a subnet sweep or a top-ports scan (hundreds) is far above.
SHORT_CAPTURE_FLOOR = {"host-scan": 64, "port-scan": 32}


def _scan_where(t: ibis.Table):
    """Connections to a unicast destination: multicast (224.0.0.0/4, ff00::/8) and the limited
    broadcast are one packet to many listeners, never a scan target (mDNS, SSDP, LLMNR)."""
    dst = t.dst_ip.lower()
    multicast = dst.re_search(r"^(22[4-9]|23[0-9])\.") | dst.startswith("ff")
    return ~(multicast | (dst == "255.255.255.255")).fill_null(False)


PRESETS: dict[str, FanoutSpec] = {
    "lateral": FanoutSpec("lateral", "lateral_movement", "logons", "user", "target_host",
                          where=_lateral_where, entity_type="users", target_type="hosts",
                          verb="logged on to", target_noun="hosts"),
    "password-guessing": FanoutSpec("password-guessing", "password_guessing", "logons", "source_ip",
                                    "user", detect_last="1d", where=_guessing_where,
                                    entity_fallback="source_host", entity_type="ips",
                                    entity_fallback_type="hosts", target_type="users", verb="tried",
                                    target_noun="accounts",
                                    recast=("failure_kind", "unknown_user", ENUMERATION_SHARE,
                                            "user_enumeration")),
    "brute-force": FanoutSpec("brute-force", "logon_brute_force", "logons", "user", "source_ip",
                              detect_last="1d", where=lambda t: t.success == False,  # noqa: E712
                              target_fallback="source_host", count="events", min_bound=10,
                              entity_type="users", entity_is_actor=False, target_type="ips",
                              target_fallback_type="hosts", verb="had", target_noun="failed logons"),
    "host-scan": FanoutSpec("host-scan", "host_scan", "connections", "src_ip", "dst_ip", where=_scan_where,
                            entity_type="ips", target_type="ips", verb="contacted",
                            target_noun="destination IPs", short_floor=SHORT_CAPTURE_FLOOR["host-scan"]),
    "port-scan": FanoutSpec("port-scan", "port_scan", "connections", "src_ip", "dst_port", where=_scan_where,
                            entity_type="ips", target_type="ports", verb="connected to",
                            target_noun="destination ports", short_floor=SHORT_CAPTURE_FLOOR["port-scan"]),
    "av-sustained": FanoutSpec("av-sustained", "av_sustained", "detections", "user", "detection",
                               bucket="1d", detect_last="3d", sustained=3, entity_type="users",
                               entity_is_actor=False, target_type=None, verb="had",
                               target_noun="distinct AV detections"),
}


def preset(name: str) -> FanoutSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown fan-out preset {name!r}; expected one of "
                          f"{', '.join(PRESETS)} or a custom entity/target") from None


def equals_filter(conditions: Mapping[str, Sequence[str | int]]) -> Where:
    """A filter keeping rows where each column equals one of its listed values (ANDed across columns)."""
    conditions = {col: list(vals) for col, vals in conditions.items()}

    def where(t: ibis.Table):
        expr = None
        for col, vals in conditions.items():
            if col not in t.columns:
                raise ConfigError(f"filter column {col!r} is not in the table ({', '.join(t.columns)})")
            column = t[col]
            typed = [int(v) for v in vals] if column.type().is_integer() else \
                [v in (True, "true", "True", "1") for v in vals] if column.type().is_boolean() else \
                [str(v) for v in vals]
            cond = column.isin(typed)
            expr = cond if expr is None else expr & cond
        return expr if expr is not None else ibis.literal(True)

    return where


def parse_where(items: Sequence[str]) -> Where | None:
    """``["event_code=4624", "logon_type=3,10"]`` → a filter (see :func:`equals_filter`)."""
    if not items:
        return None
    conditions: dict[str, list[str]] = {}
    for item in items:
        col, sep, values = item.partition("=")
        if not sep or not col.strip() or not values.strip():
            raise ConfigError(f"filter {item!r} is not column=value[,value...]")
        conditions.setdefault(col.strip(), []).extend(v.strip() for v in values.split(","))
    return equals_filter(conditions)


def custom_spec(table: str, entity: str, target: str, *, bucket: str = "1h", detect_last: str = "1h",
                where: Where | None = None, sustained: int = 1) -> FanoutSpec:
    """A user-defined fan-out hunt over any table with ``time`` and the two named columns; the
    entity is taken as the actor, and both columns' entity types come from their names
    (:func:`column_type`)."""
    return FanoutSpec("custom", "custom_fanout", table, entity, target, bucket=bucket, detect_last=detect_last,
                      where=where, sustained=sustained, entity_type=column_type(entity),
                      target_type=column_type(target), verb="reached",
                      target_noun=f"distinct {target} values")
