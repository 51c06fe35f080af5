"""``report.html``: one self-contained file an analyst reads top to bottom.

Summary first, then one section per finding (most severe first, then by score) with its explanation, entities,
plots and the full evidence. No network, no JavaScript: plots are PNG data URIs and a Content-Security-
Policy forbids scripts outright, so even a missed escape could not run attacker text. Every string from
a log goes through :func:`safety.html_text` all the same — the report must *show* the attack, as text.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

from .. import __version__
from ..findings import rank_key
from .plots import plots_for
from .safety import html_text as esc

MAX_ENTITIES_SHOWN = 50
#: Plots cost ~0.3 s each; a log with hundreds of scanner sessions should not take minutes to report.
MAX_PLOTTED_PER_KIND = 20

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f2d3d;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
main{max-width:1100px;margin:0 auto;padding:18px 28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#eef1f4}.sev{border-radius:4px;padding:1px 8px;color:#fff;font-weight:600;font-size:12px}
.high{background:#c0392b}.medium{background:#d68910}.low{background:#5d6d7e}
section.finding{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 18px;margin:18px 0}
section.finding h2{font-size:17px;margin:4px 0 8px}.explain{font-size:15px;background:#f6f8fa;padding:8px 12px;border-left:4px solid #1f4e79}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:8px;font-size:12px;max-height:420px;overflow:auto}
figure{margin:10px 0}figcaption{font-size:12px;color:#555}img{max-width:100%}
code{word-break:break-all}
"""


def _entities(f: dict) -> str:
    """Entities by role: who acted (``actors``) and what they went for (``targets``)."""
    roles = [("actor", f.get("actors") or {}), ("target", f.get("targets") or {})]
    if not any(entities for _, entities in roles):  # a finding written before roles existed
        roles = [("entity", f.get("entities") or {})]
    rows = []
    for role, kind, values in ((r, k, v) for r, entities in roles for k, v in entities.items() if v):
        shown = ", ".join(f"<code>{esc(v)}</code>" for v in values[:MAX_ENTITIES_SHOWN])
        more = f" … and {len(values) - MAX_ENTITIES_SHOWN:,} more" if len(values) > MAX_ENTITIES_SHOWN else ""
        rows.append(f"<tr><th>{role}: {esc(kind)} ({len(values):,})</th><td>{shown}{more}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def _finding(f: dict, anchor: str, *, plot: bool) -> str:
    plots = "".join(f'<figure><img alt="{esc(cap)}" src="{uri}"><figcaption>{esc(cap)}</figcaption></figure>'
                    for cap, uri in plots_for(f)) if plot else (
        f"<p><em>Plots are drawn for the {MAX_PLOTTED_PER_KIND} highest-ranked findings of each kind; "
        "the evidence below holds the same numbers.</em></p>")
    evidence = json.dumps(f.get("evidence", {}), indent=2, default=str, ensure_ascii=False)
    successes = f.get("success_event_ids")
    success_row = (f"<tr><th>matched successful sign-ins</th><td>{len(successes):,}</td></tr>"
                   if successes is not None else "")
    return f"""
<section class="finding" id="{anchor}">
  <h2><span class="sev {esc(f['severity'])}">{esc(f['severity']).upper()}</span> {esc(f['title'])}</h2>
  <table>
    <tr><th>kind</th><td>{esc(f['kind'])}</td></tr><tr><th>score</th><td>{float(f['score']):.3g}</td></tr>
    <tr><th>first seen</th><td>{esc(f.get('first_seen'))}</td></tr><tr><th>last seen</th><td>{esc(f.get('last_seen'))}</td></tr>
    <tr><th>raw records</th><td>{len(f.get('event_ids', [])):,}</td></tr>{success_row}
  </table>
  <p class="explain">{esc(f.get('explanation', ''))}</p>
  {_entities(f)}
  {plots}
  <details><summary>evidence (finding id <code>{esc(f['id'])}</code>)</summary><pre>{esc(evidence)}</pre></details>
</section>"""


def render(findings: list[dict], summary: list[tuple[str, str]], *, title: str = "tracehound report") -> str:
    """The whole report as one HTML string. ``summary`` rows come first (inputs, bad records, outputs)."""
    ordered = sorted(findings, key=rank_key)
    per_kind = Counter((f["kind"], f["severity"]) for f in ordered)
    kinds = sorted({k for k, _ in per_kind})
    kind_rows = "".join(
        f"<tr><td>{esc(k)}</td>" + "".join(f"<td>{per_kind.get((k, s), 0)}</td>" for s in ("high", "medium", "low"))
        + "</tr>" for k in kinds) or '<tr><td colspan="4">no findings</td></tr>'
    toc = "".join(f'<tr><td><span class="sev {esc(f["severity"])}">{esc(f["severity"])}</span></td>'
                  f'<td><a href="#f{i}">{esc(f["title"])}</a></td><td>{float(f["score"]):.3g}</td>'
                  f'<td>{esc(f.get("first_seen"))} → {esc(f.get("last_seen"))}</td></tr>'
                  for i, f in enumerate(ordered))
    summary_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary)
    seen: Counter = Counter()
    sections = []
    for i, f in enumerate(ordered):
        seen[f["kind"]] += 1
        sections.append(_finding(f, f"f{i}", plot=seen[f["kind"]] <= MAX_PLOTTED_PER_KIND))
    body = "".join(sections)
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{_CSS}</style></head>
<body><header><h1>{esc(title)}</h1><div>tracehound {esc(__version__)} · generated {made}</div></header>
<main>
<h2>Summary</h2>
<table>{summary_rows}</table>
<table><tr><th>kind</th><th>high</th><th>medium</th><th>low</th></tr>{kind_rows}</table>
<h2>Findings ({len(ordered):,})</h2>
<table><tr><th>severity</th><th>finding</th><th>score</th><th>active</th></tr>{toc}</table>
{body}
</main></body></html>
"""
