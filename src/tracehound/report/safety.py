"""Everything that came from a log is attacker-controlled; these make it safe to put in front of people.

A user agent of ``<script>alert(1)</script>`` must render as text in the HTML report; a user name of
``=HYPERLINK(...)`` must not become a formula when the watchlist CSV is opened in a spreadsheet; a
host name of ``../../etc/passwd`` must never become part of a path we write.
"""

from __future__ import annotations

import html
import re

#: Leading characters that make spreadsheets evaluate a cell (OWASP CSV injection list, plus tab/CR).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text: formula prefixes get a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def html_text(value: object) -> str:
    """Text escaped for HTML element content and attribute values (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def safe_filename(value: object, default: str = "item") -> str:
    """A file-name component derived from log text: no separators, no dot-dot, bounded length."""
    name = _SAFE_NAME.sub("_", "" if value is None else str(value)).strip("._")
    return (name or default)[:80]
