"""Detection rules from a campaign's fingerprint: Sigma rules, converted to KQL by pySigma.

A hunt finds a campaign after the fact; a rule catches its *next* attempt and, above all, its next
*success*. Two families, both written as Sigma (the open rule format) and converted with pySigma's
own Kusto backend into Microsoft Sentinel / Defender KQL — never by string templates:

- **per sign-in campaign** (findings of kinds whose table is ``signins``): the campaign's invariant
  fields, the values every attempt had (``evidence.invariant_fields``), on the SigninLogs field names
  (``ClientAppUsed``, ``UserAgent``, ``DeviceDetail.browser``, ``LocationDetails.countryOrRegion``…).
  The rule does not test the result code, so it matches the campaign's successes as well as its
  failures. Only fields whose listed values cover every attempt are used. Each rule states the most
  of the tenant's successful sign-ins it can match — its rarest field's share among successes, from
  the evidence: the fields are correlated (an agent implies its browser and OS), so their product
  would promise too much — and is levelled by it: a campaign that
  rotates everything but the app has no specific rule, and its rule says so (``level: low``, a
  hunting query rather than an alert). A Conditional Access hint names what a policy can block
  (legacy client apps, the countries of an invariant location); an invariant user agent, which
  Conditional Access cannot test, goes to ``blocklist_user_agents.txt`` and the rule.
- **per web scanner** (kinds whose table is ``web_requests``): the paths of its HIGH-risk refused
  requests (``evidence.probed_paths``), templated parts (``{n}``, ``{uuid}``…) as wildcards, on the webserver taxonomy
  (``cs-uri-stem``), converted for Sentinel's ``W3CIISLog``.

Values come from logs: a value with a control character is left out of a rule (and counted in its
``tracehound`` block), Sigma wildcards in values are escaped, and the YAML is written by a YAML
emitter — log text can make a rule narrower, never a different rule. :func:`canonical_sql` converts a
rule with pySigma's DuckDB backend onto tracehound's canonical tables, to check it on your own data.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import registry
from ..schema import LEGACY_CLIENT_APPS
from .incidents import compromised, technique
from .safety import one_line

#: Canonical sign-in feature → (SigninLogs field for Sigma, KQL expression for it).
SIGNIN_FIELDS: dict[str, tuple[str, str]] = {
    "app": ("AppDisplayName", "AppDisplayName"),
    "client_app": ("ClientAppUsed", "ClientAppUsed"),
    "user_agent": ("UserAgent", "UserAgent"),
    "browser": ("DeviceDetail.browser", "tostring(DeviceDetail.browser)"),
    "os": ("DeviceDetail.operatingSystem", "tostring(DeviceDetail.operatingSystem)"),
    "device_name": ("DeviceDetail.displayName", "tostring(DeviceDetail.displayName)"),
    "country": ("LocationDetails.countryOrRegion", "tostring(LocationDetails.countryOrRegion)"),
    "state": ("LocationDetails.state", "tostring(LocationDetails.state)"),
    "city": ("LocationDetails.city", "tostring(LocationDetails.city)"),
    "ip_prefix": ("IPAddress", "IPAddress"),
}
#: Sigma field → canonical column (for :func:`canonical_sql`).
CANONICAL = {**{sigma: feature for feature, (sigma, _) in SIGNIN_FIELDS.items() if feature != "ip_prefix"},
             "IPAddress": "ip", "cs-uri-stem": "path", "cs-method": "method", "c-ip": "client_ip"}
#: Web taxonomy → Sentinel W3CIISLog columns.
W3C_FIELDS = {"cs-uri-stem": "csUriStem", "cs-method": "csMethod", "c-ip": "cIP"}
#: The empty value of a spray feature (``tracehound.spray`` writes missing values so).
EMPTY = "(empty)"
#: Expected share of benign successes a rule matches, for its level.
ALERT_SHARE, HUNT_SHARE = 1e-3, 1e-2
#: Paths per web rule.
MAX_PATHS = 50
_NAMESPACE = uuid.UUID("6f1c1a55-2b6e-4b7e-9a43-2d7f3c1b9e11")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PLACEHOLDER = re.compile(r"\{(?:n|uuid|hex|date)\}")


@dataclass
class Rule:
    """One rule: its Sigma document, its KQL (None when pySigma could not convert it), and why."""

    sigma: dict
    kql: str | None
    hint: str = ""
    error: str = ""
    finding_ids: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.sigma["id"]


def _escape(value: str) -> str:
    """A literal value for Sigma: its wildcards and escape character escaped."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _tags(kind: str) -> list[str]:
    tech = technique(kind)
    if tech is None:
        return []
    tactic = re.sub(r"(?<!^)(?=[A-Z])", "-", tech.tactic).lower()
    return [f"attack.{tactic}", f"attack.{tech.id.lower()}"]


def _share(field_name: str, values: list[str], ev: dict) -> float:
    """Share of successful sign-ins carrying one of ``values`` on the field (evidence probabilities;
    a value the evidence does not list is one of the rare ones it leaves out: 1e-4)."""
    probs = (ev.get("field_value_probabilities") or {}).get(field_name) or {}
    return min(1.0, sum(float(probs.get(v, 1e-4)) for v in values))


def signin_rule(f: dict) -> Rule | None:
    """The Sigma rule of one sign-in campaign finding, or None when no invariant field can be used."""
    ev = f.get("evidence") or {}
    selection: dict[str, list] = {}
    share, dropped, used = 1.0, 0, []
    for name, described in (ev.get("invariant_fields") or {}).items():
        if name not in SIGNIN_FIELDS:
            continue
        values = [str(v) for v in described.get("values", [])]
        clean = [v for v in values if not _CONTROL.search(v)]
        dropped += len(values) - len(clean)
        if not clean or len(clean) != len(values) or int(described.get("distinct_values", len(values))) > len(values):
            continue  # a value left out, or values the evidence does not list: the rule would miss attempts
        sigma_field, _ = SIGNIN_FIELDS[name]
        if name == "ip_prefix":
            if any(":" in v for v in clean):  # the Kusto backend tests IPv4 ranges only
                continue
            selection[f"{sigma_field}|cidr"] = clean
        else:
            selection[sigma_field] = [v for c in clean for v in ((None, "") if c == EMPTY else (_escape(c),))]
        share = min(share, _share(name, clean, ev))
        used.append(name)
    if not selection:
        return None
    level = "high" if share < ALERT_SHARE else "medium" if share < HUNT_SHARE else "low"
    got_in = compromised(f)
    hint = conditional_access_hint(ev.get("invariant_fields") or {})
    description = (f"Sign-ins carrying the fingerprint of tracehound finding {f['id']} ({f['kind']}): the "
                   f"fields its attempts never varied ({', '.join(used)}). It does not test the result, "
                   f"so the campaign's next success matches too. It matches at most {share:.3%} of "
                   f"the tenant's successful sign-ins"
                   + ("; broad: a hunting query, not an alert." if level == "low" else ".")
                   + (f" Accounts it got into: {len(got_in)}." if got_in else "")
                   + (f" Conditional Access: {hint}" if hint else ""))
    sigma = {
        "title": f"tracehound {f['id']}: sign-ins with the campaign's fingerprint",
        "id": str(uuid.uuid5(_NAMESPACE, f"{f['kind']}|{sorted(selection.items(), key=str)!r}")),
        "status": "experimental",
        "description": description,
        "author": "tracehound",
        "tags": _tags(f["kind"]),
        "logsource": {"product": "azure", "service": "signinlogs"},
        "detection": {"fingerprint": selection, "condition": "fingerprint"},
        "falsepositives": ["Users whose legitimate client shares every value of the fingerprint"],
        "level": level,
        "tracehound": {"finding_id": f["id"], "kind": f["kind"], "max_success_share": round(share, 8),
                       "values_left_out": dropped},
    }
    kql, error = _kql(sigma, "SigninLogs", _signin_aliases(selection))
    return Rule(sigma, kql, hint, error, [f["id"]])


def conditional_access_hint(invariant: dict) -> str:
    """What a Conditional Access policy can block for a campaign's invariant values."""
    parts = []
    apps = [str(v) for v in (invariant.get("client_app") or {}).get("values", [])]
    legacy = [a for a in apps if a.lower() in LEGACY_CLIENT_APPS]
    if legacy:
        parts.append("block legacy authentication (Conditions → Client apps: 'Exchange ActiveSync "
                     "clients' and 'Other clients' → Block access); the campaign uses "
                     + ", ".join(one_line(a) for a in legacy) + ".")
    countries = [str(v) for v in (invariant.get("country") or {}).get("values", []) if str(v) != EMPTY]
    if countries and all(re.fullmatch(r"[A-Z]{2}", c) for c in countries):
        parts.append("block or require MFA from a named location of the countries "
                     + ", ".join(countries) + " if no one works from there.")
    if (invariant.get("user_agent") or {}).get("values"):
        parts.append("Conditional Access cannot test a user agent: alert on this rule and block the agent "
                     "at the edge (blocklist_user_agents.txt).")
    return " ".join(parts)


def _signin_aliases(selection: dict) -> dict[str, tuple[str, str]]:
    """Sigma field → (KQL alias, expression) for the nested SigninLogs fields the rule uses."""
    aliases = {}
    for key in selection:
        sigma_field = key.split("|", 1)[0]
        expr = next(e for s, e in SIGNIN_FIELDS.values() if s == sigma_field)
        if expr != sigma_field:
            aliases[sigma_field] = (sigma_field.replace(".", "_"), expr)
    return aliases


def web_rule(f: dict) -> Rule | None:
    """A path rule from a web scanner's HIGH-risk refused requests, or None when it has none."""
    ev = f.get("evidence") or {}
    states = ev.get("probed_paths")
    if states is None:  # a finding written before probed_paths: its listed transitions
        states = [str(t.get("to", "")) for t in ev.get("rare_transitions") or []
                  if t.get("risk") == "high" and isinstance(t.get("status"), int) and t["status"] >= 400]
    paths = []
    for state in states:
        _, _, path = str(state).partition(" ")
        if not path.startswith("/") or _CONTROL.search(path):
            continue
        pattern = "*".join(_escape(part) for part in _PLACEHOLDER.split(path))
        if pattern not in paths:
            paths.append(pattern)
    if not paths:
        return None
    paths = sorted(paths)[:MAX_PATHS]
    sigma = {
        "title": f"tracehound {f['id']}: requests for the paths a scanner probed",
        "id": str(uuid.uuid5(_NAMESPACE, f"web|{paths!r}")),
        "status": "experimental",
        "description": (f"Requests for the {len(paths)} paths tracehound finding {f['id']} probed and the "
                        "server refused, which (almost) no other client requested: the next scanner "
                        "with the same word list."),
        "author": "tracehound",
        "tags": _tags(f["kind"]),
        "logsource": {"category": "webserver"},
        "detection": {"probe": {"cs-uri-stem": paths}, "condition": "probe"},
        "falsepositives": ["A page of these names that is later published"],
        "level": "medium",
        "tracehound": {"finding_id": f["id"], "kind": f["kind"]},
    }
    kql, error = _kql(sigma, "W3CIISLog", {}, W3C_FIELDS)
    return Rule(sigma, kql, "", error, [f["id"]])


def _pipeline(mapping: dict[str, str]):
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation

    return ProcessingPipeline(name="tracehound field names", priority=10,
                              items=[ProcessingItem(FieldMappingTransformation(mapping))] if mapping else [])


def _kql(sigma: dict, table: str, aliases: dict[str, tuple[str, str]],
         mapping: dict[str, str] | None = None) -> tuple[str | None, str]:
    """The KQL query of a Sigma rule (pySigma's Kusto backend), or None and the error."""
    from sigma.backends.kusto import KustoBackend
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

    names = {**(mapping or {}), **{s: alias for s, (alias, _) in aliases.items()}}
    try:
        condition = KustoBackend(_pipeline(names)).convert_rule(SigmaRule.from_dict(sigma))[0]
    except (SigmaError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {one_line(exc)}"
    extend = ", ".join(f"{alias} = {expr}" for alias, expr in aliases.values())
    return f"{table}\n" + (f"| extend {extend}\n" if extend else "") + f"| where {condition}", ""


def canonical_sql(sigma: dict, table: str = "logs") -> str:
    """The rule as a DuckDB ``SELECT`` over a tracehound canonical table named ``table`` (pySigma's
    DuckDB backend, fields mapped onto canonical columns): run a rule on your own data."""
    from sigma.rule import SigmaRule
    from sigma_backend_duckdb import DuckDBBackend

    query = DuckDBBackend(_pipeline(CANONICAL)).convert_rule(SigmaRule.from_dict(sigma))[0]
    return query.replace("FROM logs", f"FROM {table}", 1)


def rules_for(findings: list[dict]) -> list[Rule]:
    """Every rule the findings support, one per campaign or scanner (identical rules once)."""
    rules: dict[str, Rule] = {}
    for f in findings:
        declared = registry.kind(f.get("kind", ""))
        if declared is None:
            continue
        make = signin_rule if declared.table == "signins" else web_rule if declared.table == "web_requests" else None
        rule = make(f) if make else None
        if rule is None:
            continue
        if rule.id in rules:
            rules[rule.id].finding_ids.append(f["id"])
        else:
            rules[rule.id] = rule
    return list(rules.values())


def write_rules(findings: list[dict], sigma_path: str | Path, kql_path: str | Path) -> tuple[Path, Path]:
    """``detection_rules.yml`` (every Sigma rule, one YAML document each) and ``detection_rules.kql``
    (each rule's KQL under comment lines naming the rule, its level and its Conditional Access hint)."""
    rules = rules_for(findings)
    sigma_path, kql_path = Path(sigma_path), Path(kql_path)
    docs = []
    for rule in rules:
        rule.sigma["tracehound"]["finding_ids"] = rule.finding_ids
        docs.append(rule.sigma)
    sigma_path.write_text(yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, width=100)
                          if docs else "# tracehound: no campaign or scanner to write a rule for\n",
                          encoding="utf-8")
    blocks = []
    for rule in rules:
        head = [f"// {one_line(rule.sigma['title'])} (Sigma id {rule.id}, level {rule.sigma['level']})"]
        if rule.hint:
            head.append(f"// Conditional Access: {one_line(rule.hint)}")
        body = rule.kql if rule.kql is not None else f"// not converted: {rule.error}"
        blocks.append("\n".join(head) + "\n" + body + "\n")
    kql_path.write_text("\n".join(blocks) if blocks else "// tracehound: no rules in this run\n", encoding="utf-8")
    return sigma_path, kql_path
