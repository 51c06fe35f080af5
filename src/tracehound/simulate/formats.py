"""A simulated tenant's SigninLogs written again in the other shapes sign-ins are exported in.

Why from the SigninLogs file rather than from the events: every format then holds the very same
sign-ins (same ids, times, addresses, agents), so a test can demand the same findings from each, id
for id, and the Okta evaluation scores against the tenant's own ``labels.csv``. Each writer streams
record by record; the shapes follow the public schemas:

=================  =====================================================================================
``graph-pages``    Microsoft Graph ``/auditLogs/signIns`` pages, one file per page:
                   ``{"@odata.context", "value": [...], "@odata.nextLink"}`` (camelCase resource)
``portal-json``    the Entra portal's JSON download: one pretty-printed array of the same resources
``portal-csv``     the Entra portal's CSV download ("Date (UTC)", "Request ID", "Username", ...)
``azure-monitor``  diagnostic settings into a storage account: ``y=/m=/d=/h=/m=00/PT1H.json`` JSON Lines,
                   ``category`` SignInLogs or NonInteractiveUserSignInLogs, the resource under ``properties``
``event-hub``      diagnostic settings into an Event Hub: ``{"records": [...]}`` batches, one per line
``okta``           the Okta System Log (JSON Lines of LogEvents): ``user.session.start`` /
                   ``user.authentication.auth_via_mfa``, outcome and reason from the result code, the
                   app as the ``AppInstance`` target, ``securityContext``; browser and modern clients
                   through ``/api/v1/authn``; legacy protocols as Office 365 active authentication
                   (:func:`to_okta`)
=================  =====================================================================================
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import zlib
from pathlib import Path
from typing import Callable, Iterator, Sequence

import orjson

from ..errors import ConfigError
from ..schema import LEGACY_CLIENT_APPS
from .writer import TENANT_ID

FORMATS = ("graph-pages", "portal-json", "portal-csv", "azure-monitor", "event-hub", "okta")
_CONTEXT = "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns"
_NEXT = "https://graph.microsoft.com/beta/auditLogs/signIns?$skiptoken="
_RESOURCE = f"/tenants/{TENANT_ID}/providers/Microsoft.aadiam"
#: Country names as Okta's geographicalContext gives them, for the simulator's countries.
COUNTRY_NAMES = {
    "AU": "Australia", "BG": "Bulgaria", "BR": "Brazil", "CA": "Canada", "CH": "Switzerland", "CN": "China",
    "CZ": "Czechia", "DE": "Germany", "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom",
    "HK": "Hong Kong", "ID": "Indonesia", "IN": "India", "IS": "Iceland", "IT": "Italy", "JP": "Japan",
    "KR": "South Korea", "LU": "Luxembourg", "MD": "Moldova", "MX": "Mexico", "NG": "Nigeria",
    "NL": "Netherlands", "PA": "Panama", "PL": "Poland", "RO": "Romania", "RU": "Russia", "SC": "Seychelles",
    "SE": "Sweden", "SG": "Singapore", "TR": "Turkey", "UA": "Ukraine", "US": "United States", "VN": "Vietnam",
}
#: Entra result code → (Okta eventType, outcome.result, outcome.reason); codes not here are FAILURE /
#: UNKNOWN. 50140 ("keep me signed in?") has no Okta counterpart and is not written.
_OKTA_OUTCOMES = {
    0: ("user.session.start", "SUCCESS", None),
    50126: ("user.session.start", "FAILURE", "INVALID_CREDENTIALS"),
    50034: ("user.session.start", "FAILURE", "INVALID_CREDENTIALS"),
    50053: ("user.session.start", "FAILURE", "LOCKED_OUT"),
    50055: ("user.session.start", "FAILURE", "PASSWORD_EXPIRED"),
    50074: ("user.authentication.auth_via_mfa", "CHALLENGE", None),
    500121: ("user.authentication.auth_via_mfa", "FAILURE", "VERIFICATION_ERROR"),
}
_NOT_IN_OKTA = frozenset({50140})
#: The Okta Office 365 app instance's label, the ``AppInstance`` target of every relayed legacy sign-in.
OKTA_O365_APP = "Microsoft Office 365"


def _records(paths: Sequence[Path]) -> Iterator[dict]:
    for path in paths:
        with open(path, "rb") as raw:
            zipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if zipped else open(path, "rb")) as fh:
            for line in fh:
                if line.strip():
                    yield orjson.loads(line)


def _code(rec: dict) -> int:
    try:
        return int(rec.get("ResultType"))
    except (TypeError, ValueError):
        return -1


def _details(value: object) -> dict:
    if isinstance(value, str) and value:
        value = orjson.loads(value)
    return value if isinstance(value, dict) else {}


def to_graph(rec: dict) -> dict:
    """A SigninLogs record as the Graph ``signIn`` resource (beta: with ``userAgent``)."""
    status = _details(rec.get("Status")) or {"errorCode": _code(rec)}
    out = {
        "id": rec.get("Id"), "createdDateTime": rec.get("CreatedDateTime") or rec.get("TimeGenerated"),
        "userDisplayName": rec.get("UserDisplayName"), "userPrincipalName": rec.get("UserPrincipalName"),
        "userId": rec.get("UserId"), "appId": rec.get("AppId"), "appDisplayName": rec.get("AppDisplayName"),
        "ipAddress": rec.get("IPAddress"), "clientAppUsed": rec.get("ClientAppUsed"),
        "userAgent": rec.get("UserAgent"), "correlationId": rec.get("CorrelationId"),
        "conditionalAccessStatus": "notApplied", "isInteractive": rec.get("IsInteractive"),
        "status": {"errorCode": int(status.get("errorCode", _code(rec))),
                   "failureReason": status.get("failureReason", ""), "additionalDetails": None},
        "deviceDetail": _details(rec.get("DeviceDetail")),
        "location": _details(rec.get("LocationDetails")) or {"countryOrRegion": rec.get("Location")},
    }
    if rec.get("AutonomousSystemNumber") is not None:
        out["autonomousSystemNumber"] = rec["AutonomousSystemNumber"]
    return out


def to_azure_monitor(rec: dict) -> dict:
    """A SigninLogs record as Azure Monitor diagnostic settings deliver it (Graph resource in properties)."""
    graph = to_graph(rec)
    return {
        "time": rec.get("TimeGenerated") or graph["createdDateTime"], "resourceId": _RESOURCE,
        "operationName": "Sign-in activity", "operationVersion": "1.0",
        "category": "SignInLogs" if rec.get("IsInteractive", True) else "NonInteractiveUserSignInLogs",
        "tenantId": TENANT_ID, "resultType": str(graph["status"]["errorCode"]), "resultSignature": "None",
        "resultDescription": graph["status"]["failureReason"], "durationMs": 0,
        "callerIpAddress": rec.get("IPAddress"), "correlationId": rec.get("CorrelationId") or rec.get("Id"),
        "identity": rec.get("UserDisplayName"), "Level": 4, "location": rec.get("Location"),
        "properties": graph,
    }


def _asn(ip: str | None) -> int | None:
    """A simulated autonomous system: addresses in one /16 (IPv4) or /32 (IPv6) share one."""
    if not ip:
        return None
    head = ".".join(ip.split(".")[:2]) if "." in ip else ":".join(ip.split(":")[:2])
    return 1000 + zlib.crc32(head.encode()) % 60000


def _okta_client(rec: dict) -> tuple[str | None, str, str, str | None, str | None]:
    """Where Okta saw the sign-in come in: (interface, requestUri, client.device, app label, app key).

    Why the split: Okta records no Entra client app, but an Okta-federated Office 365 tenant sends every
    legacy-protocol sign-in (IMAP, SMTP AUTH, ActiveSync, ...) to the Office 365 app instance's active
    endpoint, ``/app/office365/{key}/sso/wsfed/active``, with the client named in the request (what Okta's
    Office 365 client-access rules read and ``authenticationContext.interface``, "the third-party user
    interface the actor authenticates through", records; the simulator writes Entra's name for it) and
    no device Okta can classify. Browser and modern clients come through Okta's own sign-in API.
    """
    client = rec.get("ClientAppUsed")
    app, app_id = rec.get("AppDisplayName"), rec.get("AppId")
    if isinstance(client, str) and client.lower() in LEGACY_CLIENT_APPS:
        key = f"exk{zlib.crc32(OKTA_O365_APP.encode()):010d}"
        return client, f"/app/office365/{key}/sso/wsfed/active", "Unknown", OKTA_O365_APP, OKTA_O365_APP
    return None, "/api/v1/authn", "Computer", app, app_id


def to_okta(rec: dict) -> dict | None:
    """A SigninLogs record as an Okta System Log LogEvent (``None``: Okta records no such event)."""
    code = _code(rec)
    if code in _NOT_IN_OKTA:
        return None
    interface, request_uri, device, app, app_key = _okta_client(rec)
    event_type, result, reason = _OKTA_OUTCOMES.get(code, ("user.session.start", "FAILURE", "UNKNOWN"))
    where = _details(rec.get("LocationDetails"))
    coords = where.get("geoCoordinates") or {}
    user = rec.get("UserPrincipalName")
    unknown = code == 50034
    ip = rec.get("IPAddress")
    return {
        "actor": {"id": "unknown" if unknown else "00u" + str(rec.get("UserId", ""))[:17].replace("-", ""),
                  "type": "User", "alternateId": user,
                  "displayName": "unknown" if unknown else rec.get("UserDisplayName"), "detailEntry": None},
        "client": {"userAgent": {"rawUserAgent": rec.get("UserAgent"), "os": "Unknown", "browser": "UNKNOWN"},
                   "zone": "null", "device": device, "id": None, "ipAddress": ip,
                   "geographicalContext": {"city": where.get("city"), "state": where.get("state"),
                                           "country": COUNTRY_NAMES.get(where.get("countryOrRegion") or "",
                                                                        where.get("countryOrRegion")),
                                           "postalCode": None,
                                           "geolocation": {"lat": coords.get("latitude"),
                                                           "lon": coords.get("longitude")}}},
        "authenticationContext": {"authenticationProvider": None, "credentialProvider": None,
                                  "credentialType": None, "issuer": None, "interface": interface,
                                  "authenticationStep": 0, "externalSessionId": "trs" + str(rec.get("Id"))[:20]},
        "displayMessage": "User login to Okta" if event_type == "user.session.start"
        else "Authentication of user via MFA",
        "eventType": event_type,
        "outcome": {"result": result, "reason": reason},
        "published": rec.get("TimeGenerated") or rec.get("CreatedDateTime"),
        "securityContext": {"asNumber": _asn(ip), "asOrg": None, "isp": None, "domain": None, "isProxy": False},
        "severity": "INFO" if result == "SUCCESS" else "WARN",
        "debugContext": {"debugData": {"requestUri": request_uri}},
        "legacyEventType": "core.user_auth.login_success" if result == "SUCCESS" else "core.user_auth.login_failed",
        "transaction": {"type": "WEB", "id": str(rec.get("Id"))[:24], "detail": {}},
        "uuid": rec.get("Id"), "version": "0",
        "request": {"ipChain": [{"ip": ip, "geographicalContext": None, "version": "V4" if ip and "." in ip
                                 else "V6", "source": None}]},
        "target": [{"id": f"0oa{zlib.crc32(str(app_key).encode()):010d}", "type": "AppInstance",
                    "alternateId": app, "displayName": app, "detailEntry": None}] if app else [],
    }


_PORTAL_COLUMNS = ("Date (UTC)", "Request ID", "User agent", "Correlation ID", "User ID", "User", "Username",
                   "User type", "Application", "Application ID", "IP address", "Location", "Status",
                   "Sign-in error code", "Failure reason", "Client app", "Browser", "Operating System",
                   "Device name", "Autonomous system number")


def _portal_row(rec: dict) -> list:
    graph = to_graph(rec)
    where, device = graph["location"], graph["deviceDetail"]
    code = graph["status"]["errorCode"]
    place = ", ".join(p for p in (where.get("city"), where.get("state"), where.get("countryOrRegion")) if p)
    return [graph["createdDateTime"], graph["id"], graph["userAgent"] or "", graph["correlationId"] or "",
            graph["userId"] or "", graph["userDisplayName"] or "", graph["userPrincipalName"], "Member",
            graph["appDisplayName"] or "", graph["appId"] or "", graph["ipAddress"] or "", place,
            "Success" if code == 0 else "Failure", code, graph["status"]["failureReason"] or "",
            graph["clientAppUsed"] or "", device.get("browser") or "", device.get("operatingSystem") or "",
            device.get("displayName") or "", graph.get("autonomousSystemNumber") or ""]


def _hour_path(out: Path, when: str) -> Path:
    t = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    return out / "insights-logs-signinlogs" / f"resourceId={_RESOURCE}" / (
        f"y={t:%Y}/m={t:%m}/d={t:%d}/h={t:%H}/m=00/PT1H.json")


def write_format(signinlogs: Sequence[Path], out_dir: str | Path, fmt: str, *, page_size: int = 1000) -> list[Path]:
    """Write the records of the SigninLogs JSON Lines ``signinlogs`` into ``out_dir`` as ``fmt``
    (one of :data:`FORMATS`); the files written, in order. ``out_dir`` may neither hold the inputs'
    folder nor lie inside it (a reader pointed at one would read both copies)."""
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if page_size < 1:
        raise ConfigError(f"page_size must be at least 1, got {page_size}")
    out = Path(out_dir).resolve()
    for p in signinlogs:
        folder = Path(p).resolve().parent
        if out == folder or out in folder.parents or folder in out.parents:
            raise ConfigError(f"{out} holds or lies inside the folder of the SigninLogs being converted "
                              f"({folder}); write the {fmt} copy elsewhere, or reading that folder reads both")
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, Callable[[Iterator[dict], Path, int], list[Path]]] = {
        "graph-pages": _graph_pages, "portal-json": _portal_json, "portal-csv": _portal_csv,
        "azure-monitor": _azure_monitor, "event-hub": _event_hub, "okta": _okta}
    return writers[fmt](_records(signinlogs), out, page_size)


def _chunks(records: Iterator[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _graph_pages(records: Iterator[dict], out: Path, size: int) -> list[Path]:
    paths: list[Path] = []
    pending: tuple[Path, list[dict]] | None = None
    for number, chunk in enumerate(_chunks(records, size), start=1):
        if pending is not None:
            _write_page(*pending, next_link=f"{_NEXT}{number}")
        pending = (out / f"signIns-page-{number:05d}.json", chunk)
        paths.append(pending[0])
    if pending is not None:
        _write_page(*pending, next_link=None)
    return paths


def _write_page(path: Path, chunk: list[dict], *, next_link: str | None) -> None:
    page: dict = {"@odata.context": _CONTEXT, "value": [to_graph(r) for r in chunk]}
    if next_link:
        page["@odata.nextLink"] = next_link
    path.write_bytes(orjson.dumps(page))


def _portal_json(records: Iterator[dict], out: Path, size: int) -> list[Path]:
    path = out / "InteractiveSignIns.json"
    with open(path, "wb") as fh:
        fh.write(b"[")
        for i, rec in enumerate(records):
            fh.write((b",\n  " if i else b"\n  ") + orjson.dumps(to_graph(rec), option=orjson.OPT_INDENT_2))
        fh.write(b"\n]\n")
    return [path]


def _portal_csv(records: Iterator[dict], out: Path, size: int) -> list[Path]:
    path = out / "InteractiveSignIns.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(_PORTAL_COLUMNS)
        for rec in records:
            writer.writerow(_portal_row(rec))
    return [path]


def _azure_monitor(records: Iterator[dict], out: Path, size: int) -> list[Path]:
    paths: list[Path] = []
    current, fh = None, None
    try:
        for rec in records:
            path = _hour_path(out, rec.get("TimeGenerated") or rec["CreatedDateTime"])
            if path != current:
                if fh is not None:
                    fh.close()
                path.parent.mkdir(parents=True, exist_ok=True)
                fh, current = open(path, "ab" if path in paths else "wb"), path
                if path not in paths:
                    paths.append(path)
            fh.write(orjson.dumps(to_azure_monitor(rec)) + b"\n")
    finally:
        if fh is not None:
            fh.close()
    return paths


def _event_hub(records: Iterator[dict], out: Path, size: int) -> list[Path]:
    path = out / "eventhub-signinlogs.json"
    with open(path, "wb") as fh:
        for chunk in _chunks(records, size):
            fh.write(orjson.dumps({"records": [to_azure_monitor(r) for r in chunk]}) + b"\n")
    return [path]


def _okta(records: Iterator[dict], out: Path, size: int) -> list[Path]:
    path = out / "okta-systemlog.jsonl"
    with open(path, "wb") as fh:
        for rec in records:
            event = to_okta(rec)
            if event is not None:
                fh.write(orjson.dumps(event) + b"\n")
    return [path]
