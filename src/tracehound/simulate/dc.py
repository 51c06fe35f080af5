"""A domain controller's Kerberos and NTLM credential events, with planted sprays and enumerations.

What a DC's Security log holds, and why each part matters to the credential hunts:

- every working morning each user's workstation asks for a TGT (4768, status 0x0) from its
  address, which the DC writes IPv4-mapped (``::ffff:10.20.3.7``); now and then a mistyped
  password first (4771 0x18), retyped within a minute — the typo the guessing hunt must not count;
- a share of users authenticate by NTLM (4776 from their workstation's name), mistypes included;
- terminal servers where dozens of people sign in every hour (4776 from ``TS-0x``): the benign
  "one source, many accounts" a detector has to live with, typos included;
- a user now and then types someone else's or a wrong name (4768 0x6): a lone unknown user;
- the ``krbtgt`` and machine accounts (``WS-0001$``), which readers drop.

Planted after ``attack_after_day``, each from a randomly chosen source at a random time:
Kerbrute-style enumerations (4768 0x6 for 40–400 names that do not exist, from one address within
minutes; names that do exist log nothing, as pre-authentication is never attempted), NTLM sprays
(4776 0xC000006A for 15–80 real accounts plus a few 0xC0000064 misses, from one workstation name —
a compromised workstation or a rogue ``DESKTOP-…`` — within an hour) and Kerberos sprays (4771
0x18 for 15–80 real accounts from one address).
``truth.jsonl`` lists each with its kind, source, time range and accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import orjson

from .winevents import WinEvent, write_events

START = datetime(2024, 3, 4, tzinfo=timezone.utc)  # a Monday
DOMAIN = "CORP.LOCAL"
FIRST = ("james", "mary", "john", "linda", "robert", "susan", "michael", "karen", "david", "lisa", "omar",
         "fatima", "wei", "yuki", "carlos", "ana", "ivan", "olga", "raj", "priya", "ahmed", "sara", "li", "noah")
LAST = ("smith", "jones", "brown", "garcia", "miller", "davis", "lopez", "wilson", "khan", "chen", "singh",
        "kim", "nguyen", "muller", "rossi", "silva", "novak", "ito", "haddad", "okafor")


@dataclass(frozen=True)
class DcSimConfig:
    users: int = 120
    days: int = 10
    seed: int = 0
    terminal_servers: int = 2
    enumerations: int = 1
    ntlm_sprays: int = 1
    kerberos_sprays: int = 1
    attack_after_day: int = 7
    start: datetime = START
    fmt: str = "evtx-json"          # a key of simulate.winevents.FORMATS


class _Log:
    """Events of one DC in the making, with record ids given in time order at the end."""

    def __init__(self, dc: str) -> None:
        self.dc = dc
        self.rows: list[tuple[float, int, tuple[tuple[str, str], ...]]] = []

    def tgt(self, t: float, user: str, ip: str, status: int) -> None:
        self.rows.append((t, 4768, (("TargetUserName", user), ("TargetDomainName", DOMAIN),
                                    ("ServiceName", f"krbtgt/{DOMAIN}"), ("TicketOptions", "0x40810010"),
                                    ("Status", f"0x{status:x}"), ("PreAuthType", "2" if not status else "-"),
                                    ("IpAddress", f"::ffff:{ip}"), ("IpPort", str(49152 + int(t) % 16000)))))

    def preauth_failed(self, t: float, user: str, ip: str) -> None:
        self.rows.append((t, 4771, (("TargetUserName", user), ("ServiceName", f"krbtgt/{DOMAIN}"),
                                    ("Status", "0x18"), ("PreAuthType", "2"), ("IpAddress", f"::ffff:{ip}"),
                                    ("IpPort", str(49152 + int(t) % 16000)))))

    def ntlm(self, t: float, user: str, workstation: str, status: int) -> None:
        self.rows.append((t, 4776, (("PackageName", "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0"),
                                    ("TargetUserName", user), ("Workstation", workstation),
                                    ("Status", f"0x{status:x}"))))

    def events(self) -> list[WinEvent]:
        self.rows.sort(key=lambda r: r[0])
        return [WinEvent(code, t, f"{self.dc}.{DOMAIN.lower()}", 100_000 + i, data)
                for i, (t, code, data) in enumerate(self.rows)]


def _names(rng, n: int, taken: set[str]) -> list[str]:
    """``n`` plausible account names (``jsmith``, ``mary.lopez``, ``wei.k``) not in ``taken``."""
    out: list[str] = []
    while len(out) < n:
        first, last = FIRST[rng.integers(len(FIRST))], LAST[rng.integers(len(LAST))]
        style = rng.integers(4)
        name = (f"{first[0]}{last}", f"{first}.{last}", f"{first}.{last[0]}", f"{first}{rng.integers(1, 99)}")[style]
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def simulate_dc(out_dir: str | Path, config: DcSimConfig = DcSimConfig()) -> dict:
    """Write the DC's Security events (``config.fmt``) and ``truth.jsonl`` into ``out_dir``."""
    rng = np.random.default_rng(config.seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    users = _names(rng, config.users, taken)
    subnet = int(rng.integers(10, 200))
    ip_of = {u: f"10.{subnet}.{i // 200 + 1}.{i % 200 + 10}" for i, u in enumerate(users)}
    ws_of = {u: f"WS-{i:04d}" for i, u in enumerate(users)}
    ntlm_users = set(rng.choice(users, size=max(1, config.users // 8), replace=False).tolist())
    ts_users = {f"TS-{k + 1:02d}": rng.choice(users, size=min(len(users), int(rng.integers(20, 45))),
                                              replace=False).tolist() for k in range(config.terminal_servers)}
    log = _Log("DC-01")
    day0 = config.start.timestamp()
    for day in range(config.days):
        if (config.start + timedelta(days=day)).weekday() >= 5:
            continue
        base = day0 + day * 86400
        for u in users:
            if rng.random() > 0.93:
                continue
            t = base + rng.normal(8.6, 0.7) * 3600
            if u in ntlm_users:
                if rng.random() < 0.04:
                    log.ntlm(t - 15, u, ws_of[u], 0xC000006A)
                log.ntlm(t, u, ws_of[u], 0)
            else:
                if rng.random() < 0.04:
                    log.preauth_failed(t - 15, u, ip_of[u])
                log.tgt(t, u, ip_of[u], 0)
            log.tgt(t + 30, f"{ws_of[u]}$", ip_of[u], 0)
            if rng.random() < 0.005:  # someone else's or a misspelt name
                log.tgt(t + rng.uniform(60, 3000), _names(rng, 1, taken)[0], ip_of[u], 0x6)
        for ts, people in ts_users.items():
            for u in people:
                if rng.random() > 0.8:
                    continue
                t = base + rng.uniform(8.0, 10.5) * 3600
                if rng.random() < 0.05:
                    log.ntlm(t - 20, u, ts, 0xC000006A)
                log.ntlm(t, u, ts, 0)
    truth = _plant(log, rng, config, users, taken, ip_of, subnet)
    path = write_events(out, log.events(), config.fmt)
    with (out / "truth.jsonl").open("wb") as fh:
        for item in truth:
            fh.write(orjson.dumps(item) + b"\n")
    return {"path": str(path), "events": len(log.rows), "users": config.users, "truth": truth,
            "terminal_servers": sorted(ts_users)}


def _plant(log: _Log, rng, cfg: DcSimConfig, users: list[str], taken: set[str], ip_of: dict[str, str],
           subnet: int) -> list[dict]:
    """Plant the configured attacks on random working days after ``attack_after_day``."""
    days = [d for d in range(cfg.attack_after_day, cfg.days) if (cfg.start + timedelta(days=d)).weekday() < 5]
    plan = ["user_enumeration"] * cfg.enumerations + ["ntlm_spray"] * cfg.ntlm_sprays + \
        ["kerberos_spray"] * cfg.kerberos_sprays
    truth = []
    for kind in plan:
        if not days:
            break
        t0 = cfg.start.timestamp() + int(days[rng.integers(len(days))]) * 86400 + rng.uniform(7, 20) * 3600
        ip = f"10.{subnet}.{int(rng.integers(3, 9))}.{int(rng.integers(210, 250))}"  # a foothold or a rogue box
        if kind == "user_enumeration":
            names = _names(rng, int(rng.integers(40, 401)), taken)
            times = np.sort(t0 + rng.random(len(names)) * rng.uniform(60, 900))
            for t, name in zip(times, names):
                log.tgt(float(t), name, ip, 0x6)
            source = ip
        else:
            accounts = rng.choice(users, size=min(len(users), int(rng.integers(15, 81))), replace=False).tolist()
            misses = _names(rng, int(rng.integers(0, max(1, len(accounts) // 10) + 1)), taken)
            names = accounts + misses
            times = np.sort(t0 + rng.random(len(names)) * rng.uniform(600, 3300))
            rogue = "DESKTOP-" + "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"), size=7))
            source = (rogue if rng.random() < 0.5 else f"WS-{int(rng.integers(len(users))):04d}") \
                if kind == "ntlm_spray" else ip
            for t, name in zip(times, rng.permutation(names)):
                if kind == "ntlm_spray":
                    log.ntlm(float(t), str(name), source, 0xC000006A if name in accounts else 0xC0000064)
                elif name in accounts:
                    log.preauth_failed(float(t), str(name), ip)
                else:
                    log.tgt(float(t), str(name), ip, 0x6)
        truth.append({"kind": kind, "source": source, "start": _iso(float(times[0])), "end": _iso(float(times[-1])),
                      "accounts": [str(n) for n in names]})
    return truth


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")
