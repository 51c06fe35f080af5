"""Sign-in records → canonical ``signins`` fields, one mapper per record family.

Every value in an export is attacker-controlled text, so a wrong type or an unparseable value is a
bad record (:class:`Bad`, whose message is the reason the analyst reads), never a crash. Families:
``signinlogs`` (Entra SigninLogs, whatever container it came in: JSON, CSV, Parquet), ``m365``
(unified audit log sign-in records) and ``signinlogs-portal`` (the Entra portal's CSV download); the
Graph / Azure Monitor and Okta families build on the helpers here (:mod:`.signin_graph`, :mod:`.okta`).
Every mapper also says whose sign-in it is (``provider``) and why it failed in provider-neutral
terms (``failure_kind``, :data:`FAILURE_KINDS`).
Each mapper returns the fields of :data:`MAPPED` in order; :mod:`tracehound.readers.signins` adds
``ip_prefix``, ``success`` and ``source`` per batch.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Callable

import orjson

from .hosts import PLAIN_IP, address

#: Fields a mapper returns, in order; ``ip_prefix`` and ``source`` are added per batch.
MAPPED = ("event_id", "time", "user", "result", "ip", "country", "state", "city", "app",
          "client_app", "user_agent", "browser", "os", "device_name", "is_interactive",
          "provider", "failure_kind", "asn", "is_proxy")
#: Provider-neutral kinds of failed sign-in (``signins.failure_kind``; null for a success), so a hunt
#: can ask "bad password" of Entra, Okta or anything else without knowing each one's codes.
FAILURE_KINDS = ("bad_password", "unknown_user", "locked", "mfa", "other")
#: Entra ID result codes of each failure kind; any other non-zero code is ``other``.
ENTRA_FAILURES: dict[int, str] = {
    50126: "bad_password", 50056: "bad_password",            # invalid username or password; no password
    50034: "unknown_user", 50059: "unknown_user",            # user not found; tenant not found from user
    50053: "locked", 50057: "locked",                        # locked (smart lockout / IdsLocked); disabled
    50074: "mfa", 50076: "mfa", 50079: "mfa", 50158: "mfa",  # strong authentication required / challenge
    500121: "mfa", 50072: "mfa",                             # strong authentication failed; enrolment
}
#: The Entra code standing for each failure kind, for providers without codes of their own (Okta):
#: ``result`` stays one integer scale, so code-based settings (``failure_codes``) read every provider.
KIND_CODES: dict[str, int] = {"bad_password": 50126, "unknown_user": 50034, "locked": 50053, "mfa": 500121,
                              "other": 1}


def entra_failure(result: int) -> str | None:
    """The failure kind of an Entra ID result code (``None`` for a success)."""
    return None if result == 0 else ENTRA_FAILURES.get(result, "other")
#: The M365 audit operations that are sign-ins.
M365_OPERATIONS = ("UserLoggedIn", "UserLoginFailed")
#: The SigninLogs columns the mapper reads; a real export has ~60 more that are not converted.
SIGNINLOGS_USED = ("Id", "TimeGenerated", "CreatedDateTime", "UserPrincipalName", "ResultType", "Status",
                   "IPAddress", "Location", "LocationDetails", "DeviceDetail", "AppDisplayName",
                   "ClientAppUsed", "UserAgent", "IsInteractive", "AutonomousSystemNumber")


class Bad(Exception):
    """One record cannot be mapped; the message is the reason shown to the analyst."""


class NotSignin(Bad):
    """A well-formed record of another kind (an M365 audit operation or Log Analytics table that is no
    sign-in): counted as skipped, not as bad. The message is the skip reason (no values in it)."""


#: Log Analytics tables whose records are sign-ins; a record with another ``Type`` is skipped.
SIGNIN_TYPES = frozenset({"SigninLogs", "AADNonInteractiveUserSignInLogs", "AADServicePrincipalSignInLogs",
                          "AADManagedIdentitySignInLogs", "ADFSSignInLogs", "AADProvisioningLogs"})
_PLAIN_IP = re.compile(PLAIN_IP)


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
                raise Bad(f"field {field!r}: unparseable time {value[:60]!r}, "
                           "expected ISO-8601 like 2024-03-01T12:00:00Z") from None
    elif value is None or value == "":
        raise Bad(f"missing time ({field})")
    else:
        raise Bad(f"field {field!r}: expected an ISO-8601 time, got {type(value).__name__}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)  # Log Analytics times are UTC without a suffix
    if parsed.tzinfo is timezone.utc:  # "...Z": already what the schema wants
        return parsed
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise Bad(f"field {field!r}: time out of range: {str(value)[:60]!r}") from None


def _text(value: object, field: str) -> str | None:
    if value.__class__ is str:  # the common case first: this runs ten times a record
        return value or None
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    raise Bad(f"field {field!r}: expected text, got {type(value).__name__} {str(value)[:40]!r}")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int(value: object, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Bad(f"field {field!r}: expected an integer code, got a boolean")
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
    raise Bad(f"field {field!r}: expected an integer code, got {str(value)[:40]!r}")


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
    raise Bad(f"field {field!r}: expected true/false, got {str(value)[:40]!r}")


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
                raise Bad(f"field {field!r}: not valid JSON text: {value[:60]!r}") from None
            if parsed is None:
                parsed = kind()
            if len(value) <= _DYNAMIC_CACHE_TEXT:
                if len(_DYNAMIC_CACHE) >= _DYNAMIC_CACHE_LIMIT:
                    _DYNAMIC_CACHE.clear()
                _DYNAMIC_CACHE[value] = parsed
        if isinstance(parsed, kind):
            return parsed
    raise Bad(f"field {field!r}: expected a JSON {'object' if kind is dict else 'array'}, "
               f"got {str(value)[:60]!r}")


def _user(value: object, field: str) -> str:
    user = _text(value, field)
    if user is None:
        raise Bad(f"missing user ({field})")
    return user.strip().lower()


def _ip(value: object, field: str) -> str | None:
    ip = _text(value, field)
    if ip is None or not ip.strip():
        return None
    try:
        return address(ip)
    except ValueError as exc:
        raise Bad(f"field {field!r}: {exc}") from None


# ------------------------------------------------------------------------------------------------
# Mapping one record of each family to the canonical fields (order: MAPPED).
# ------------------------------------------------------------------------------------------------

def spelling(location: str, app: str, client_app: str, user_agent: str, device: str) -> tuple[str, ...]:
    """A source's names of ``state`` … ``device_name`` (MAPPED order), as its reject reasons name them:
    the Sentinel table and the Graph resource hold the same fields, spelled differently."""
    return (f"{location}.state", f"{location}.city", app, client_app, user_agent, f"{device}.browser",
            f"{device}.operatingSystem", f"{device}.displayName")


SIGNINLOGS_SPELLING = spelling("LocationDetails", "AppDisplayName", "ClientAppUsed", "UserAgent", "DeviceDetail")


def client_fields(rec: dict, where: dict, device: dict, names: tuple[str, ...]) -> tuple:
    """``state`` … ``device_name`` of one Entra record: ``where`` / ``device`` are its location and
    device objects, ``names`` its :func:`spelling`."""
    state, city, app, client_app, user_agent, browser, system, device_name = names
    return (_text(where.get("state"), state), _text(where.get("city"), city), _text(rec.get(app), app),
            _text(rec.get(client_app), client_app), _text(rec.get(user_agent), user_agent),
            _text(device.get("browser"), browser), _text(device.get("operatingSystem"), system),
            _text(device.get("displayName"), device_name))


def _from_signinlogs(rec: dict) -> tuple:
    kind = rec.get("Type")
    if isinstance(kind, str) and kind not in SIGNIN_TYPES and "UserPrincipalName" not in rec:
        raise NotSignin("not a sign-in record (another Log Analytics table)")
    event_id = _text(rec.get("Id"), "Id")  # None: the reader falls back to "<file>:<line>"
    when = rec.get("TimeGenerated") or rec.get("CreatedDateTime")
    time = _time(when, "TimeGenerated" if rec.get("TimeGenerated") else "CreatedDateTime")
    user = _user(rec.get("UserPrincipalName"), "UserPrincipalName")
    result = _int(rec.get("ResultType"), "ResultType")
    if result is None:
        result = _int(_dynamic(rec.get("Status"), "Status").get("errorCode"), "Status.errorCode")
        if result is None:
            raise Bad("missing ResultType")
    where = _dynamic(rec.get("LocationDetails"), "LocationDetails")
    device = _dynamic(rec.get("DeviceDetail"), "DeviceDetail")
    country = _text(where.get("countryOrRegion"), "LocationDetails.countryOrRegion") \
        or _text(rec.get("Location"), "Location")
    return (
        event_id, time, user, result, _ip(rec.get("IPAddress"), "IPAddress"), country,
        *client_fields(rec, where, device, SIGNINLOGS_SPELLING),
        _bool(rec.get("IsInteractive"), "IsInteractive"),
        "entra", entra_failure(result), _int(rec.get("AutonomousSystemNumber"), "AutonomousSystemNumber"), None,
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
    asn = get("AutonomousSystemNumber")
    if asn is not None and (asn.__class__ is not int or not 0 <= asn <= _INT64_MAX):
        return None
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
    if ip and not _PLAIN_IP.fullmatch(ip):  # a str by now; empty is "no address"
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
        event_id or None, time, user.strip().lower(), result, ip or None,
        country or None, state or None, city or None, app or None, client or None, agent or None,
        browser or None, system or None, name or None, interactive,
        "entra", None if result == 0 else ENTRA_FAILURES.get(result, "other"), asn, None,
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
    if operation not in M365_OPERATIONS:
        if isinstance(operation, str) and operation:
            raise NotSignin("not a sign-in record (another M365 audit operation)")
        raise Bad(f"not a sign-in record: Operation {str(operation)[:40]!r}, "
                   "expected UserLoggedIn or UserLoginFailed")
    event_id = _text(rec.get("Id"), "Id")  # None: the reader falls back to "<file>:<line>"
    time = _time(rec.get("CreationTime"), "CreationTime")
    user = _user(rec.get("UserId"), "UserId")
    # ErrorNumber wins where present: UserLoggedIn records with 50140 (the "stay signed in?"
    # interrupt) are not successes; a UserLoggedIn without one is a plain success.
    result = _int(rec.get("ErrorNumber"), "ErrorNumber")
    if result is None:
        if operation != "UserLoggedIn":
            raise Bad("missing ErrorNumber on a UserLoginFailed record")
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
        None, "entra", entra_failure(result), None, None,
    )


def _from_portal(rec: dict) -> tuple:
    """The portal's CSV: display names, and ``Location`` as "City, State, CC"."""
    event_id = _text(rec.get("Request ID") or rec.get("ID") or rec.get("Id"), "Request ID")
    time = _time(rec.get("Date (UTC)"), "Date (UTC)")
    user = _user(rec.get("Username") or rec.get("User"), "Username")
    result = _int(rec.get("Sign-in error code"), "Sign-in error code")
    if result is None:
        raise Bad("missing Sign-in error code")
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
        None, "entra", entra_failure(result),
        _int(rec.get("Autonomous system number") or rec.get("ASN"), "Autonomous system number"), None,
    )


MAPPERS: dict[str, Callable[[dict], tuple]] = {
    "signinlogs": _from_signinlogs, "m365": _from_m365, "signinlogs-portal": _from_portal,
}
#: Shortcuts for a family's common record (``None`` when they decline it); see _from_signinlogs_plain.
PLAIN_MAPPERS: dict[str, Callable[[dict], tuple | None]] = {"signinlogs": _from_signinlogs_plain}
