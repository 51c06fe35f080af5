"""``report.html``: one self-contained file an analyst reads top to bottom, triage first.

The top says what to do now: the accounts known to be compromised and the most urgent incidents. Then
one section per incident, in priority order (``incidents.py``), with its findings: each finding's
explanation, roles, plots and full evidence fold open on demand, so a run with hundreds of findings is
still a page one can scroll; the first incident's lead finding is open. The spray model (the mixture,
the same for every campaign of a run) is drawn once.

No network, no JavaScript: plots are PNG data URIs and a Content-Security-Policy forbids scripts
outright, so even a missed escape could not run attacker text. Every string from a log goes through
:func:`safety.html_text` all the same — the report must *show* the attack, as text.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

from .. import __version__, registry
from .incidents import incidents as make_incidents
from .plots import model_plots, plots_for
from .safety import html_text as esc

MAX_ENTITIES_SHOWN = 30
#: Plots cost ~0.3 s each; a log with hundreds of scanner sessions should not take minutes to report.
MAX_PLOTTED_PER_KIND = 20
#: Incidents listed in the triage table at the top (all of them get a section).
TOP_INCIDENTS = 15

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f2d3d;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
main{max-width:1100px;margin:0 auto;padding:18px 28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#eef1f4}.sev{border-radius:4px;padding:1px 8px;color:#fff;font-weight:600;font-size:12px}
.high{background:#c0392b}.medium{background:#d68910}.low{background:#5d6d7e}.tier{font-size:12px;color:#555}
section.incident{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 18px;margin:18px 0}
section.incident h2{font-size:17px;margin:4px 0 8px}.explain{font-size:15px;background:#f6f8fa;padding:8px 12px;border-left:4px solid #1f4e79}
details.finding{border-top:1px solid #eee;padding:6px 0}details.finding>summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:8px;font-size:12px;max-height:420px;overflow:auto}
figure{margin:10px 0}figcaption{font-size:12px;color:#555}img{max-width:100%}
code{word-break:break-all}.alert{background:#fdecea;border:1px solid #c0392b;border-radius:6px;padding:8px 14px}
"""


def _sev(level: str) -> str:
    return f'<span class="sev {esc(level)}">{esc(level).upper()}</span>'


def _entities(roles: list[tuple[str, dict]]) -> str:
    """Entities by role: who acted (``actors``) and what they went for (``targets``)."""
    rows = []
    for role, kind, values in ((r, k, v) for r, entities in roles for k, v in entities.items() if v):
        shown = ", ".join(f"<code>{esc(v)}</code>" for v in values[:MAX_ENTITIES_SHOWN])
        more = f" … and {len(values) - MAX_ENTITIES_SHOWN:,} more" if len(values) > MAX_ENTITIES_SHOWN else ""
        rows.append(f"<tr><th>{role}: {esc(kind)} ({len(values):,})</th><td>{shown}{more}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def _finding_roles(f: dict) -> list[tuple[str, dict]]:
    roles = [("actor", f.get("actors") or {}), ("target", f.get("targets") or {})]
    if not any(entities for _, entities in roles):  # a finding written before roles existed
        roles = [("entity", f.get("entities") or {})]
    got_in = (f.get("evidence") or {}).get("compromised_users") or []
    return roles + ([("compromised", {"users": got_in})] if got_in else [])


def _finding(f: dict, anchor: str, *, plot: bool, open_: bool) -> str:
    plots = "".join(f'<figure><img alt="{esc(cap)}" src="{uri}"><figcaption>{esc(cap)}</figcaption></figure>'
                    for cap, uri in plots_for(f)) if plot else ""
    evidence = json.dumps(f.get("evidence", {}), indent=2, default=str, ensure_ascii=False)
    successes = f.get("success_event_ids")
    success_row = (f"<tr><th>matched successful sign-ins</th><td>{len(successes):,}</td></tr>"
                   if successes is not None else "")
    return f"""
<details class="finding" id="{anchor}"{' open' if open_ else ''}>
  <summary>{_sev(f['severity'])} {esc(f['title'])}</summary>
  <table>
    <tr><th>kind</th><td>{esc(f['kind'])}</td><th>score (within its kind)</th><td>{float(f['score']):.3g}</td></tr>
    <tr><th>first seen</th><td>{esc(f.get('first_seen'))}</td><th>last seen</th><td>{esc(f.get('last_seen'))}</td></tr>
    <tr><th>raw records</th><td>{len(f.get('event_ids', [])):,}</td><th>finding id</th><td><code>{esc(f['id'])}</code></td></tr>{success_row}
  </table>
  <p class="explain">{esc(f.get('explanation', ''))}</p>
  {_entities(_finding_roles(f))}
  {plots}
  <details><summary>evidence</summary><pre>{esc(evidence)}</pre></details>
</details>"""


def _incident(inc: dict, members: list[dict], plotted: Counter, first: bool) -> str:
    """An incident's section: what it is, and each of its findings (the first incident's lead open);
    a one-finding incident's roles are its finding's, shown once."""
    props = inc["properties"]
    techniques = ", ".join(f"{t} ({n})" for t, n in zip(props["additionalData"]["techniques"],
                                                         props["additionalData"]["techniqueNames"]))
    parts = []
    for j, f in enumerate(members):
        plotted[f["kind"]] += 1
        parts.append(_finding(f, f"f-{esc(f['id'])}", plot=plotted[f["kind"]] <= MAX_PLOTTED_PER_KIND,
                              open_=first and j == 0))
    roles = [("actor", inc.get("actors") or {}), ("target", inc.get("targets") or {})]
    if inc.get("compromised_users"):
        roles.append(("compromised", {"users": inc["compromised_users"]}))
    return f"""
<section class="incident" id="inc-{inc['incidentNumber']}">
  <h2>#{inc['incidentNumber']} {_sev(props['severity'].lower())} {esc(props['title'])}</h2>
  <div class="tier">{esc(inc['tier'].replace('_', ' '))} · {len(members):,} finding(s) · {esc(techniques)} ·
  {esc(props.get('firstActivityTimeUtc'))} → {esc(props.get('lastActivityTimeUtc'))}</div>
  {'' if len(members) == 1 else f'<p class="explain">{esc(props["description"])}</p>' + _entities(roles)}
  {''.join(parts)}
</section>"""


def _triage(incs: list[dict]) -> str:
    """The top of the page: compromised accounts, then the most urgent incidents."""
    accounts: dict[str, list[int]] = {}
    for inc in incs:
        for user in inc.get("compromised_users", []):
            accounts.setdefault(user, []).append(inc["incidentNumber"])
    if accounts:
        rows = "".join(f"<tr><td><code>{esc(u)}</code></td><td>"
                       + ", ".join(f'<a href="#inc-{n}">#{n}</a>' for n in nums) + "</td></tr>"
                       for u, nums in sorted(accounts.items()))
        compromised = (f'<div class="alert"><strong>{len(accounts):,} account(s) likely compromised</strong> — '
                       "reset their passwords, revoke their sessions, review their activity:"
                       f"<table><tr><th>account</th><th>incidents</th></tr>{rows}</table></div>")
    else:
        compromised = "<p>No account is known to be compromised.</p>"
    top = "".join(
        f'<tr><td><a href="#inc-{i["incidentNumber"]}">#{i["incidentNumber"]}</a></td>'
        f'<td>{esc(i["tier"].replace("_", " "))}</td><td>{_sev(i["properties"]["severity"].lower())}</td>'
        f'<td>{esc(i["properties"]["title"])}</td><td>{len(i["finding_ids"]):,}</td>'
        f'<td>{esc(i["properties"].get("firstActivityTimeUtc"))} → {esc(i["properties"].get("lastActivityTimeUtc"))}</td></tr>'
        for i in incs[:TOP_INCIDENTS])
    more = (f"<p>… and {len(incs) - TOP_INCIDENTS:,} more incidents below.</p>"
            if len(incs) > TOP_INCIDENTS else "")
    table = (f"<table><tr><th>#</th><th>consequence</th><th>severity</th><th>incident</th><th>findings</th>"
             f"<th>active</th></tr>{top}</table>{more}" if incs else "<p>No findings.</p>")
    return f"<h2>Triage</h2>{compromised}<h3>Most urgent incidents ({len(incs):,} in all)</h3>{table}"


def _model(findings: list[dict]) -> str:
    """The spray model once per run, with the clusters each campaign is."""
    sprays = [f for f in findings if getattr(registry.kind(f.get("kind", "")), "plot", None) == "spray"
              and (f.get("evidence") or {}).get("mixture")]
    if not sprays:
        return ""
    clusters: dict[int, list[str]] = {}
    for f in sprays:
        cluster = f["evidence"]["mixture"].get("cluster")
        if isinstance(cluster, int):
            clusters.setdefault(cluster, []).append(f["id"])
    figures = "".join(f'<figure><img alt="{esc(cap)}" src="{uri}"><figcaption>{esc(cap)}</figcaption></figure>'
                      for cap, uri in model_plots(sprays[0], clusters))
    return (f"<details><summary>The sign-in model behind the {len(sprays)} spray finding(s): mixture "
            f"clusters and their fields</summary>{figures}</details>")


def render(findings: list[dict], summary: list[tuple[str, str]], *, title: str = "tracehound report",
           incidents: list[dict] | None = None) -> str:
    """The whole report as one HTML string: triage, the run's summary, then every incident."""
    incs = make_incidents(findings) if incidents is None else incidents
    by_id = {f["id"]: f for f in findings}
    per_kind = Counter((f["kind"], f["severity"]) for f in findings)
    kind_rows = "".join(
        f"<tr><td>{esc(k)}</td>" + "".join(f"<td>{per_kind.get((k, s), 0)}</td>" for s in ("high", "medium", "low"))
        + "</tr>" for k in sorted({k for k, _ in per_kind})) or '<tr><td colspan="4">no findings</td></tr>'
    summary_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary)
    plotted: Counter = Counter()
    sections = "".join(_incident(inc, [by_id[i] for i in inc["finding_ids"] if i in by_id], plotted, n == 0)
                       for n, inc in enumerate(incs))
    capped = sorted(k for k, n in plotted.items() if n > MAX_PLOTTED_PER_KIND)
    cap_note = (f"<p><em>Plots are drawn for the {MAX_PLOTTED_PER_KIND} most urgent findings of each kind "
                f"({', '.join(map(esc, capped))} have more); the evidence of every finding holds the same "
                "numbers.</em></p>" if capped else "")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{_CSS}</style></head>
<body><header><h1>{esc(title)}</h1><div>tracehound {esc(__version__)} · generated {made}</div></header>
<main>
{_triage(incs)}
<details><summary>Run summary: inputs, hunts, findings per kind</summary>
<table>{summary_rows}</table>
<table><tr><th>kind</th><th>high</th><th>medium</th><th>low</th></tr>{kind_rows}</table></details>
{_model(findings)}
<h2>Incidents ({len(incs):,}) from {len(findings):,} findings</h2>
{cap_note}
{sections}
</main></body></html>
"""
