"""Real attack records inside a simulated tenant: convert, re-time and re-target them for ``extra_records``.

A real spray run (e.g. MSOLSpray against a test tenant, exported from the M365 unified audit log) lasts
minutes and targets someone else's users. To test whether a hunt finds it when it is spread low and slow
over weeks inside an ordinary tenant, its records are converted to the SigninLogs layout, their times
spread over a window (same order, jittered even spacing) and their users mapped onto the tenant's users.
Everything the run did itself — IPs, user agents, result codes, device properties — is kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from .writer import ExtraRecord, record_time


def _named(items: object) -> dict:
    """UAL ``[{"Name": ..., "Value": ...}]`` lists as a dict."""
    if not isinstance(items, list):
        return {}
    return {str(i.get("Name")): i.get("Value") for i in items if isinstance(i, dict)}


def m365_to_signinlogs(rec: dict) -> dict:
    """One unified-audit-log sign-in record (``UserLoggedIn`` / ``UserLoginFailed``) in SigninLogs layout.

    Mapping (as ../shared/datasets/SOURCES.md gives it): UserId→UserPrincipalName, ClientIP→IPAddress,
    ErrorNumber→ResultType (UserLoggedIn without one → "0"), ExtendedProperties.UserAgent→UserAgent,
    DeviceProperties→DeviceDetail, ApplicationId→AppId, CreationTime (UTC)→TimeGenerated. No location is
    invented: readers look the country up from the IP.
    """
    if rec.get("Operation") not in ("UserLoggedIn", "UserLoginFailed"):
        raise ConfigError(f"record {rec.get('Id')!r} is not a UAL sign-in (Operation={rec.get('Operation')!r})")
    ext, dev = _named(rec.get("ExtendedProperties")), _named(rec.get("DeviceProperties"))
    result = str(rec.get("ErrorNumber") or ("0" if rec.get("Operation") == "UserLoggedIn" else ""))
    when = str(rec.get("CreationTime", ""))
    when = when if when.endswith("Z") or "+" in when[10:] else when + "Z"
    return {"Id": rec.get("Id"), "TimeGenerated": when, "CreatedDateTime": when,
            "UserPrincipalName": rec.get("UserId"), "UserId": rec.get("UserKey"), "ResultType": result,
            "ResultDescription": rec.get("LogonError", ""), "IPAddress": rec.get("ClientIP"),
            "AppId": rec.get("ApplicationId"), "UserAgent": ext.get("UserAgent", ""),
            "DeviceDetail": {"operatingSystem": dev.get("OS", ""), "browser": dev.get("BrowserType", ""),
                             "displayName": dev.get("DisplayName", ""), "deviceId": dev.get("Id", "")},
            "Status": {"errorCode": int(result) if result.isdigit() else None},
            "IsInteractive": True, "Type": "SigninLogs", "Category": "SignInLogs"}


def spread_records(records: Sequence[dict], *, start: str = "2024-01-01", first_day: float, last_day: float,
                   seed: int = 0, users: Sequence[str] | None = None, label: str = "external",
                   kind: str = "low_and_slow_spray") -> list[ExtraRecord]:
    """SigninLogs records re-timed over ``[first_day, last_day)`` days after ``start`` and re-targeted.

    Records keep their order: the k-th of n lands in the k-th of n equal slots, at a random point inside
    it. With ``users`` (e.g. :func:`tenant_user_names`), each distinct original user becomes a distinct
    tenant user (so a success still lands on a user that was tried). Returns labelled
    :class:`ExtraRecord`s for ``simulate_signins(extra_records=...)``.
    """
    if not records:
        return []
    if last_day <= first_day:
        raise ConfigError(f"last_day ({last_day}) must be after first_day ({first_day})")
    rng = np.random.default_rng([seed, 11])
    order = sorted(range(len(records)), key=lambda i: record_time(records[i]))
    slot = (last_day - first_day) / len(records)
    offsets = first_day + (np.arange(len(records)) + rng.random(len(records))) * slot
    base = dt.datetime.fromisoformat(start).replace(tzinfo=dt.timezone.utc)
    originals = list(dict.fromkeys(str(records[i].get("UserPrincipalName", "")).lower() for i in order))
    mapping = {}
    if users is not None:
        if len(users) < len(originals):
            raise ConfigError(f"{len(originals)} distinct users in the records but only {len(users)} to map onto")
        picked = rng.choice(len(users), len(originals), replace=False)
        mapping = {o: users[int(p)] for o, p in zip(originals, picked)}
    out = []
    for i, day in zip(order, offsets):
        rec = dict(records[i])
        when = (base + dt.timedelta(days=float(day))).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rec["TimeGenerated"] = rec["CreatedDateTime"] = when
        original = str(rec.get("UserPrincipalName", "")).lower()
        if original in mapping:
            rec["UserPrincipalName"] = mapping[original]
        out.append(ExtraRecord(rec, label=label, kind=kind))
    return out
