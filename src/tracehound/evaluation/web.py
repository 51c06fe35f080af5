"""Detection quality of the web hunt against ground-truth labels (``tracehound evaluate web``).

Labels name clients (IP + user agent) with a role: ``scanner`` (attack), ``benign`` or ``crawler``
(not attacks). Every session of a client inherits its role. Reported: the share of scanner sessions
rated HIGH (recall), the share of non-attack sessions rated HIGH (false-positive rate), the same per
scanner kind and for the crawler, and at IP level.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import InputFormatError
from ..web.scores import HIGH


def load_labels(path: str | Path) -> pd.DataFrame:
    """``labels.json`` (``{"clients": [{ip, user_agent, role, kind}, ...]}``) as a DataFrame."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        df = pd.DataFrame(data["clients"])
        return df[["ip", "user_agent", "role", "kind"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFormatError(f"not a tracehound labels file ({exc})", path=str(path)) from None


def evaluate_sessions(sessions: pd.DataFrame, labels: pd.DataFrame) -> dict:
    """Metrics from scored sessions (``client_ip, user_agent, risk``) and client labels."""
    s = sessions.assign(user_agent=sessions["user_agent"].fillna("-"))
    merged = s.merge(labels.rename(columns={"ip": "client_ip"}), on=["client_ip", "user_agent"], how="left")
    merged["role"] = merged["role"].fillna("unlabelled")
    merged["high"] = merged["risk"] >= HIGH

    def rate(frame: pd.DataFrame) -> dict:
        n = int(len(frame))
        hi = int(frame["high"].sum())
        return {"sessions": n, "high": hi, "share_high": (hi / n) if n else None}

    attack = merged[merged["role"] == "scanner"]
    benign = merged[merged["role"].isin(["benign", "crawler"])]
    ips = merged.groupby(["client_ip", "role"], as_index=False)["high"].any()
    return {
        "scanner_sessions": rate(attack),
        "benign_sessions": rate(benign),
        "visitor_sessions": rate(merged[merged["role"] == "benign"]),
        "crawler_sessions": rate(merged[merged["role"] == "crawler"]),
        "by_kind": {k: rate(g) for k, g in attack.groupby("kind")},
        "scanner_ips": rate(ips[ips["role"] == "scanner"].rename(columns={})),
        "benign_ips": rate(ips[ips["role"].isin(["benign", "crawler"])]),
        "unlabelled_sessions": int((merged["role"] == "unlabelled").sum()),
    }
