"""Entra ID sign-ins outside Sentinel → canonical ``signins`` fields: Graph, the portal, Azure Monitor.

Why one mapper for three sources: they are one record in three envelopes. The Microsoft Graph
``/auditLogs/signIns`` resource (camelCase, ``status.errorCode``, ``location.countryOrRegion``), the
Entra portal's JSON download (the same resource) and Azure Monitor diagnostic settings, whose record
(``time``, ``category``, ``resultType``, ``callerIpAddress``) carries the Graph resource under
``properties`` — in storage-account ``PT1H.json`` JSON Lines and in Event Hub ``{"records": [...]}``
batches alike. A record of another diagnostic category (audit logs, provisioning) is skipped and
counted; only the four sign-in categories are read.
"""

from __future__ import annotations

from .signin_fields import (Bad, NotSignin, _bool, _dynamic, _int, _ip, _text, _time, _user,
                            client_fields, entra_failure, spelling)

#: Azure Monitor diagnostic categories that are sign-ins.
SIGNIN_CATEGORIES = frozenset({"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs",
                               "ManagedIdentitySignInLogs"})

#: The Graph resource's names of the fields the Sentinel table spells in PascalCase.
GRAPH_SPELLING = spelling("location", "appDisplayName", "clientAppUsed", "userAgent", "deviceDetail")


def is_graph_record(rec: object) -> bool:
    """Whether a parsed record is a Graph sign-in or an Azure Monitor sign-in record (for sniffing)."""
    if not isinstance(rec, dict):
        return False
    if isinstance(rec.get("properties"), dict) and rec.get("category") in SIGNIN_CATEGORIES:
        return True
    return "createdDateTime" in rec and ("userPrincipalName" in rec or "status" in rec)


def from_graph(rec: dict) -> tuple:
    """One Graph / portal / Azure Monitor sign-in record as the fields of ``signin_fields.MAPPED``."""
    outer: dict = {}
    props = rec
    if "properties" in rec and ("category" in rec or "operationName" in rec):
        category = rec.get("category")
        if category not in SIGNIN_CATEGORIES:
            if isinstance(category, str) and category:
                raise NotSignin("not a sign-in record (another Azure Monitor diagnostic category)")
            raise Bad(f"field 'category': expected one of {', '.join(sorted(SIGNIN_CATEGORIES))}, "
                      f"got {str(category)[:40]!r}")
        outer, props = rec, _dynamic(rec.get("properties"), "properties")
    event_id = _text(props.get("id"), "id")
    if props.get("createdDateTime"):
        time = _time(props.get("createdDateTime"), "createdDateTime")
    else:
        time = _time(outer.get("time"), "time")
    user = _user(props.get("userPrincipalName") or props.get("servicePrincipalName")
                 or props.get("servicePrincipalId"), "userPrincipalName")
    result = _int(_dynamic(props.get("status"), "status").get("errorCode"), "status.errorCode")
    if result is None:
        result = _int(outer.get("resultType"), "resultType")
        if result is None:
            raise Bad("missing status.errorCode")
    where = _dynamic(props.get("location"), "location")
    device = _dynamic(props.get("deviceDetail"), "deviceDetail")
    interactive = _bool(props.get("isInteractive"), "isInteractive")
    if interactive is None and outer.get("category") in SIGNIN_CATEGORIES:
        interactive = outer["category"] == "SignInLogs"
    return (
        event_id, time, user, result,
        _ip(props.get("ipAddress") or outer.get("callerIpAddress"), "ipAddress"),
        _text(where.get("countryOrRegion"), "location.countryOrRegion"),
        *client_fields(props, where, device, GRAPH_SPELLING),
        interactive, "entra", entra_failure(result),
        _int(props.get("autonomousSystemNumber"), "autonomousSystemNumber"), None,
    )
