"""The canonical tables every reader writes and every hunt reads (DESIGN.md §3).

They are Arrow schemas because readers produce Arrow batches and write them as Parquet, which both
engines (DuckDB and Spark) read natively. Times are UTC. Columns may be added, never renamed: users'
scripts and saved Parquet files depend on these names.
"""

from __future__ import annotations

import pyarrow as pa

TIME = pa.timestamp("us", tz="UTC")

SIGNINS = pa.schema([
    ("event_id", pa.string()),
    ("time", TIME),
    ("user", pa.string()),
    ("result", pa.int64()),
    ("success", pa.bool_()),
    ("ip", pa.string()),
    ("ip_prefix", pa.string()),
    ("country", pa.string()),
    ("state", pa.string()),
    ("city", pa.string()),
    ("app", pa.string()),
    ("client_app", pa.string()),
    ("user_agent", pa.string()),
    ("browser", pa.string()),
    ("os", pa.string()),
    ("device_name", pa.string()),
    ("is_interactive", pa.bool_()),
    ("source", pa.string()),
    # Added for other identity providers (issue 14); null where a source does not say.
    ("provider", pa.string()),        # "entra", "okta": whose sign-in it is
    ("failure_kind", pa.string()),    # bad_password / unknown_user / locked / mfa / other; null = success
    ("asn", pa.int64()),              # autonomous system of the address, as the provider recorded it
    ("is_proxy", pa.bool_()),         # the provider judged the address an anonymising proxy (Okta)
])

#: ``signins.client_app`` values of legacy (basic) authentication, lower-cased: what a Conditional Access
#: policy can block, and what an Okta-federated Office 365 tenant relays to Okta's active endpoint.
LEGACY_CLIENT_APPS = frozenset({"exchange activesync", "imap4", "pop3", "authenticated smtp", "other clients",
                                "exchange web services", "mapi over http", "offline address book", "autodiscover",
                                "outlook anywhere (rpc over http)", "exchange online powershell",
                                "reporting web services", "universal outlook"})

LOGONS = pa.schema([
    ("event_id", pa.string()),
    ("time", TIME),
    ("user", pa.string()),
    ("domain", pa.string()),
    ("target_host", pa.string()),
    ("source_ip", pa.string()),
    ("source_host", pa.string()),
    ("logon_type", pa.int64()),
    ("event_code", pa.int64()),
    ("success", pa.bool_()),
    ("source", pa.string()),
    # Added for Kerberos / NTLM (issue 14): ``kerberos`` / ``ntlm`` / ``ssh`` / ...; why a failure
    # failed, provider-neutral (``bad_password``, ``unknown_user``, ``locked``, ``other``; null for a
    # success); the event's raw status code (Kerberos result, NTSTATUS), null where there is none.
    ("auth_protocol", pa.string()),
    ("failure_kind", pa.string()),
    ("status", pa.int64()),
])

WEB_REQUESTS = pa.schema([
    ("event_id", pa.string()),
    ("time", TIME),
    ("client_ip", pa.string()),
    ("user", pa.string()),
    ("method", pa.string()),
    ("path", pa.string()),
    ("query", pa.string()),
    ("status", pa.int64()),
    ("bytes", pa.int64()),
    ("referrer", pa.string()),
    ("user_agent", pa.string()),
    ("source", pa.string()),
])

CONNECTIONS = pa.schema([
    ("event_id", pa.string()),
    ("time", TIME),
    ("src_ip", pa.string()),
    ("dst_ip", pa.string()),
    ("dst_port", pa.int64()),
    ("proto", pa.string()),
    ("service", pa.string()),
    ("bytes_out", pa.int64()),
    ("bytes_in", pa.int64()),
    ("duration", pa.float64()),
    ("source", pa.string()),
])

#: Antivirus / EDR detections, one row per detection on a user's machine: what ``av-sustained``
#: counts (``readers/defender.py``: Defender EVTX / JSON, generic CSV / JSON exports). ``user`` is the
#: account it happened under (``HOST$`` for the system itself); the columns after ``detection`` are
#: what an analyst needs next (which machine, which file, what the product did) and may be null.
DETECTIONS = pa.schema([
    ("event_id", pa.string()),
    ("time", TIME),
    ("user", pa.string()),
    ("detection", pa.string()),
    ("host", pa.string()),
    ("category", pa.string()),
    ("severity", pa.string()),
    ("action", pa.string()),
    ("path", pa.string()),
    ("process", pa.string()),
    ("source", pa.string()),
])

TABLES: dict[str, pa.Schema] = {
    "signins": SIGNINS,
    "logons": LOGONS,
    "web_requests": WEB_REQUESTS,
    "connections": CONNECTIONS,
    "detections": DETECTIONS,
}

#: Columns every row of a table must have (not null): a row without them cannot be hunted or traced
#: back to its raw record. Readers reject such records with the field named; canonical Parquet rows
#: without them are rejects too.
REQUIRED: dict[str, tuple[str, ...]] = {
    "signins": ("event_id", "time", "user", "result"),
    "logons": ("event_id", "time", "user"),
    "web_requests": ("event_id", "time", "client_ip"),
    "connections": ("event_id", "time", "src_ip", "dst_ip"),
    "detections": ("event_id", "time", "user"),
}


#: Columns added to a table after its first release: canonical Parquet written before them lacks
#: them, and is still that table (they read as null).
ADDED: dict[str, tuple[str, ...]] = {
    "logons": ("auth_protocol", "failure_kind", "status"),
    "signins": ("provider", "failure_kind", "asn", "is_proxy"),
}


def empty(table: str) -> pa.Table:
    """An empty table with the canonical schema, for inputs that held no usable record."""
    return TABLES[table].empty_table()
