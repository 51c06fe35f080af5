"""Windows credential events and their status codes → protocol and a provider-neutral failure kind.

Why its own table: on premises, a password spray or a user enumeration shows up on the domain
controller as Kerberos and NTLM credential validation, not as logons — 4768 (a TGT was requested:
status ``0x6`` unknown user, ``0x12`` disabled / locked / expired, ``0x18`` bad password), 4771
(pre-authentication failed, ``0x18``) and 4776 (NTLM validation: ``0xC000006A`` bad password,
``0xC0000064`` unknown user). A 4625 names the same reasons in its ``SubStatus`` (or ``Status``).
The hunts ask one question of all of them — *why* did it fail — so each code maps to one of
:data:`FAILURE_KINDS`, the same words the sign-in readers use for identity providers.
"""

from __future__ import annotations

#: The failure kinds, provider-neutral: a wrong password for an account that exists, an account
#: that does not exist (what enumeration produces), an account that may not sign in (locked,
#: disabled, expired), and everything else (clock skew, logon-type restrictions, ...).
FAILURE_KINDS = ("bad_password", "unknown_user", "locked", "other")

#: Kerberos result codes (RFC 4120 §7.5.9) of 4768 / 4771.
KERBEROS = {
    0x6: "unknown_user",    # KDC_ERR_C_PRINCIPAL_UNKNOWN
    0x12: "locked",         # KDC_ERR_CLIENT_REVOKED: disabled, locked out or expired
    0x17: "bad_password",   # KDC_ERR_KEY_EXPIRED: the password was right but has expired
    0x18: "bad_password",   # KDC_ERR_PREAUTH_FAILED
}
#: NTSTATUS codes of 4625 (SubStatus, else Status) and 4776.
NTSTATUS = {
    0xC000006A: "bad_password",   # STATUS_WRONG_PASSWORD
    0xC0000064: "unknown_user",   # STATUS_NO_SUCH_USER
    0xC0000234: "locked",         # STATUS_ACCOUNT_LOCKED_OUT
    0xC0000072: "locked",         # STATUS_ACCOUNT_DISABLED
    0xC0000193: "locked",         # STATUS_ACCOUNT_EXPIRED
    0xC0000071: "bad_password",   # STATUS_PASSWORD_EXPIRED (the password was known)
    0xC0000224: "bad_password",   # STATUS_PASSWORD_MUST_CHANGE
}
#: Event id → protocol, for the credential events whose protocol is the event itself.
PROTOCOL = {4768: "kerberos", 4771: "kerberos", 4776: "ntlm"}
#: The credential-validation events read besides the logon events.
CREDENTIAL_EVENTS = tuple(PROTOCOL)


def failure_kind(event_code: int, status: int | None) -> str | None:
    """The failure kind of a failed event (``None`` for a success); an unlisted code is ``other``."""
    if not status:
        return "other" if event_code in (4625, 4771) else None
    table = KERBEROS if event_code in (4768, 4771) else NTSTATUS
    return table.get(status, "other")


def logon_protocol(package: str | None) -> str | None:
    """A 4624 / 4625's ``AuthenticationPackageName`` (``NTLM``, ``Kerberos``, ``Negotiate``) as a
    protocol name; LANL's auth types the same way."""
    if not package:
        return None
    low = package.strip().lower()
    if low.startswith("ntlm"):
        return "ntlm"
    if low.startswith("kerberos"):
        return "kerberos"
    return low[:32] or None
