"""Okta System Log sign-in events → canonical ``signins`` fields.

Okta's System Log (the ``/api/v1/logs`` API, its JSON export, or a SIEM's JSON Lines copy) records a
sign-in as ``user.session.start`` (primary authentication), ``user.authentication.*`` (MFA, SSO into an
app, verification) with ``outcome.result`` and ``outcome.reason`` (``INVALID_CREDENTIALS``,
``LOCKED_OUT``, ...). Other event types (lifecycle, policy evaluation, system) are skipped and counted.

Mapping, and why:

- ``event_id`` = ``uuid``; ``user`` = ``actor.alternateId`` (the login typed, also for unknown users,
  whose ``actor.id`` is ``unknown``); ``time`` = ``published``.
- ``failure_kind`` from the outcome (:func:`failure_kind`), and ``result`` = the Entra code of that kind
  (:data:`~tracehound.readers.signin_fields.KIND_CODES`, 0 for a success), so every provider is on one
  code scale and code-based settings (the spray hunt's ``failure_codes``) need no Okta variant.
- ``app`` = the ``target[]`` entry of type ``AppInstance`` (its display name).
- ``client_app`` = ``authenticationContext.interface`` where Okta records one (the third-party interface
  the actor authenticated through: for an Okta-federated Office 365 tenant, the legacy client Microsoft
  relayed), else the kind of endpoint in ``debugContext.debugData.requestUri`` (:func:`endpoint_class`:
  ``WS-Fed active`` for Office 365 legacy / basic authentication, ``authn API``, ``Identity Engine``,
  ``SAML``, ...), else null. Why: a spray tool speaks one protocol, and this is where Okta shows which;
  the endpoint is reduced to its kind, never kept as sent, since its path carries ids and client text.
- ``browser`` / ``os`` are left to the enricher, which parses ``client.userAgent.rawUserAgent`` exactly
  as it does for Entra, so features compare across providers (Okta's own ``CHROME`` would not).
- ``country`` / ``state`` / ``city`` from ``client.geographicalContext`` (Okta gives country names);
  ``asn`` / ``is_proxy`` from ``securityContext.asNumber`` / ``isProxy``.
"""

from __future__ import annotations

import re

from .signin_fields import KIND_CODES, Bad, NotSignin, _bool, _dynamic, _int, _ip, _text, _time, _user

#: Okta outcome results that are a successful sign-in.
_SUCCESS = frozenset({"SUCCESS", "ALLOW"})
#: Event types that check a second factor: their failures are MFA failures.
_FACTOR_EVENTS = frozenset({"user.authentication.auth_via_mfa", "user.authentication.verify"})
#: Okta ``outcome.reason`` texts (upper-cased) and the failure kind each means.
_REASONS = (("INVALID_CREDENTIALS", "bad_password"), ("INVALID CREDENTIALS", "bad_password"),
            ("UNKNOWN_USER", "unknown_user"), ("UNKNOWN USER", "unknown_user"),
            ("LOCKED_OUT", "locked"), ("LOCKED OUT", "locked"), ("LOCKED", "locked"),
            ("VERIFICATION_ERROR", "mfa"), ("FACTOR", "mfa"), ("MFA", "mfa"))


#: (request path pattern, endpoint kind), first match wins; ``{key}`` path segments are app ids.
_ENDPOINTS = tuple((re.compile(pattern), kind) for pattern, kind in (
    (r"^/app/[^/]+/[^/]+/sso/wsfed/active", "WS-Fed active"),
    (r"^/app/[^/]+/[^/]+/sso/wsfed/passive", "WS-Fed passive"),
    (r"^/app/[^/]+/[^/]+/sso/saml", "SAML"),
    (r"^/app/[^/]+/[^/]+/sso/wsfed", "WS-Fed"),
    (r"^/api/v1/authn", "authn API"),
    (r"^/idp/idx/", "Identity Engine"),
    (r"^/oauth2/", "OAuth/OIDC"),
    (r"^/api/v1/radius", "RADIUS"),
    (r"^/login/", "sign-in page"),
    (r"^/sso/idps/", "IdP federation"),
))
#: The longest request path read: a longer one is cut there (a hostile log cannot make matching slow).
_MAX_PATH = 512


def endpoint_class(request_uri: str | None) -> str | None:
    """The kind of Okta endpoint a ``requestUri`` names, ``other`` for a path not listed, ``None`` for none.

    Only the path is looked at (query and fragment dropped, case folded) and only a fixed label comes
    out, so app keys, user ids and whatever a client put in the URL never reach a finding.
    """
    if not request_uri:
        return None
    path = request_uri[:_MAX_PATH].split("?", 1)[0].split("#", 1)[0].lower()
    for pattern, kind in _ENDPOINTS:
        if pattern.match(path):
            return kind
    return "other"


def is_signin_event(event_type: str) -> bool:
    """Whether an Okta ``eventType`` is a sign-in attempt."""
    return event_type == "user.session.start" or event_type.startswith("user.authentication.")


def failure_kind(event_type: str, result: str | None, reason: str | None, actor_id: str | None) -> str | None:
    """The provider-neutral failure kind of one Okta sign-in event, ``None`` for a success."""
    word = (result or "").upper()
    if word in _SUCCESS:
        return None
    if word == "CHALLENGE":
        return "mfa"
    if actor_id == "unknown":
        return "unknown_user"
    if event_type in _FACTOR_EVENTS:  # a factor's failure, whatever its reason says (often INVALID_CREDENTIALS)
        return "mfa"
    text = (reason or "").upper()
    for needle, kind in _REASONS:
        if needle in text:
            return kind
    return "other"


def from_okta(rec: dict) -> tuple:
    """One Okta System Log event as the fields of ``signin_fields.MAPPED``."""
    event_type = _text(rec.get("eventType"), "eventType")
    if event_type is None:
        raise Bad("missing eventType")
    if not is_signin_event(event_type):
        raise NotSignin("not a sign-in event (another Okta event type)")
    actor = _dynamic(rec.get("actor"), "actor")
    outcome = _dynamic(rec.get("outcome"), "outcome")
    client = _dynamic(rec.get("client"), "client")
    agent = _dynamic(client.get("userAgent"), "client.userAgent")
    where = _dynamic(client.get("geographicalContext"), "client.geographicalContext")
    security = _dynamic(rec.get("securityContext"), "securityContext")
    authn = _dynamic(rec.get("authenticationContext"), "authenticationContext")
    debug = _dynamic(_dynamic(rec.get("debugContext"), "debugContext").get("debugData"), "debugContext.debugData")
    client_app = (_text(authn.get("interface"), "authenticationContext.interface")
                  or endpoint_class(_text(debug.get("requestUri"), "debugContext.debugData.requestUri")))
    app = None
    for target in _dynamic(rec.get("target"), "target", list):
        if isinstance(target, dict) and target.get("type") == "AppInstance":
            app = _text(target.get("displayName"), "target.displayName")
            break
    outcome_word = _text(outcome.get("result"), "outcome.result")
    if outcome_word is None:
        raise Bad("missing outcome.result")
    kind = failure_kind(event_type, outcome_word, _text(outcome.get("reason"), "outcome.reason"),
                        _text(actor.get("id"), "actor.id"))
    return (
        _text(rec.get("uuid"), "uuid"), _time(rec.get("published"), "published"),
        _user(actor.get("alternateId"), "actor.alternateId"), 0 if kind is None else KIND_CODES[kind],
        _ip(client.get("ipAddress"), "client.ipAddress"),
        _text(where.get("country"), "client.geographicalContext.country"),
        _text(where.get("state"), "client.geographicalContext.state"),
        _text(where.get("city"), "client.geographicalContext.city"),
        app, client_app, _text(agent.get("rawUserAgent"), "client.userAgent.rawUserAgent"),
        None, None, None, None, "okta", kind,
        _int(security.get("asNumber"), "securityContext.asNumber"),
        _bool(security.get("isProxy"), "securityContext.isProxy"),
    )
