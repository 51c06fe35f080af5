"""``tracehound web``, ``tracehound simulate weblogs`` and ``tracehound evaluate web``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import List, Optional

import typer

from ..config import HuntConfig
from ..errors import ConfigError
from ..outputs import atomic
from ..windows import utc
from . import app, evaluate_app, simulate_app
from .common import (ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, friendly_errors, open_engine, out,
                     report_reads, summary_table)
from .hunt_cmd import run_and_report


def _parse_time(text: str | None) -> datetime | None:
    return utc(text, "--baseline-until")


#: The hunt section this command runs.
SECTION = "web"


@app.command()
def web(
    paths: List[str] = typer.Argument(..., help="Access logs: files, folders or globs (gzip is fine)."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for findings.jsonl, ips.csv and the other outputs."),
    blocklist: Optional[Path] = typer.Option(None, "--blocklist", help="Write the HIGH client IPs here."),
    blocklist_format: str = typer.Option("plain", "--blocklist-format",
                                         help="Blocklist format: plain, nftables or ipset."),
    baseline_until: Optional[str] = typer.Option(
        None, "--baseline-until", help="Fit on requests before this ISO time; default: fit on all."),
    canary: List[str] = typer.Option([], "--canary", help="Canary path prefix (repeatable)."),
    robots: Optional[Path] = typer.Option(None, "--robots", help="robots.txt whose Disallow paths are canaries."),
    min_severity: str = typer.Option("high", "--min-severity", help="Findings from: high or medium."),
    gap_minutes: float = typer.Option(30.0, "--gap-minutes", help="Inactivity gap that ends a session."),
    client: str = typer.Option("ip_ua", "--client", help="Client key: ip_ua (IP + user agent) or ip."),
    engine: str = ENGINE_OPTION,
    spark_master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Hunt scanners in access logs: rare request transitions, rated HIGH / MEDIUM / LOW (`hunt --only web`)."""
    from ..report.blocklist import FORMATS, write_blocklist
    from ..report.tables import write_csv
    from ..web.scoring import canaries_from_robots

    with friendly_errors():
        canaries = list(canary)
        if robots is not None:
            try:
                canaries += canaries_from_robots(robots.read_text(encoding="utf-8", errors="replace"))
            except OSError as exc:
                raise ConfigError(f"cannot read robots.txt {robots}: {exc.strerror}") from None
        if blocklist_format not in FORMATS:
            raise ConfigError(f"--blocklist-format must be one of {', '.join(FORMATS)}")
        params = {"gap_minutes": gap_minutes, "client": client, "min_severity": min_severity}
        if canaries:
            params["canary_paths"] = tuple(canaries)

        def extra(result, write_dir: Path, final_dir: Path) -> list[tuple[str, str]]:
            scores = result.scores.get(SECTION)
            if scores is None:
                return []
            clients = scores.per_client()
            write_csv(clients.sort_values(["high_sessions", "score", "client_ip"], ascending=[False, False, True]),
                      write_dir / "ips.csv")
            high = scores.high_ips()
            rows = [("clients in model", f"{scores.n_clients:,}"), ("HIGH client IPs", f"{len(high):,}"),
                    ("ips.csv", str(final_dir / "ips.csv"))]
            if blocklist is not None:
                with atomic(blocklist) as tmp:
                    _, written, skipped = write_blocklist(high, tmp, blocklist_format)
                rows.append(("blocklist", f"{blocklist} ({written} addresses, {skipped} invalid skipped)"))
            return rows

        result = run_and_report(paths, out_dir, engine_name=engine, master=spark_master,
                                config=HuntConfig({SECTION: params}), only=[SECTION], quiet=quiet,
                                baseline_until=_parse_time(baseline_until), extra=extra,
                                extra_files=(blocklist,) if blocklist else (), extra_names=("ips.csv",),
                                title="tracehound web report")
        for f in result.findings[:10]:
            out.print(f.title, highlight=False)


@simulate_app.command("weblogs")
def simulate_weblogs_cmd(
    out_dir: Path = typer.Argument(..., help="Folder for access.log and labels.json."),
    visitors: int = typer.Option(1500, help="Benign visitors (1-3 sessions each)."),
    scanners: int = typer.Option(12, help="Scanners, split between dirbrute, cms and sqli."),
    days: int = typer.Option(3, help="Days of traffic."),
    seed: int = typer.Option(0, help="Random seed (same seed, same log)."),
) -> None:
    """Write a realistic access log with planted scanners, a slow crawler and ground-truth labels."""
    from ..simulate.weblogs import simulate_weblogs

    with friendly_errors():
        if visitors < 1 or scanners < 0 or days < 1:
            raise ConfigError("visitors and days must be at least 1, scanners at least 0")
        info = simulate_weblogs(out_dir, visitors=visitors, scanners=scanners, days=days, seed=seed)
        out.print(f"wrote {info['lines']:,} lines to {info['log']} and labels to {info['labels']}")


@evaluate_app.command("web")
def evaluate_web(
    paths: List[str] = typer.Argument(..., help="Access logs to hunt in."),
    labels: Path = typer.Option(..., "--labels", help="labels.json from `tracehound simulate weblogs`."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Also write the metrics as JSON here."),
    engine: str = ENGINE_OPTION,
    spark_master: Optional[str] = MASTER_OPTION,
) -> None:
    """Share of scanner sessions rated HIGH and of benign sessions rated HIGH, against labels."""
    from .. import hunt as hunting
    from ..evaluation.web import evaluate_sessions, load_labels

    with friendly_errors():
        truth = load_labels(labels)
        with open_engine(engine, spark_master) as eng:
            result = hunting.run(paths, eng, HuntConfig(), only=[SECTION])
            report_reads(result.read_summary(), None)
            scored = result.scores[SECTION].sessions
            sessions = eng.to_pandas(scored.select("client_ip", "user_agent", "risk"))
        metrics = evaluate_sessions(sessions, truth)
        text = json.dumps(metrics, indent=2)
        if out_file is not None:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            out_file.write_text(text + "\n", encoding="utf-8")
        s, b = metrics["scanner_sessions"], metrics["benign_sessions"]
        out.print(summary_table("tracehound evaluate web", [
            ("scanner sessions HIGH", f"{s['high']} / {s['sessions']}"),
            ("benign sessions HIGH", f"{b['high']} / {b['sessions']}"
                                     + (f" ({100 * b['share_high']:.2f}%)" if b["sessions"] else "")),
        ]))
        out.print(text, highlight=False)
