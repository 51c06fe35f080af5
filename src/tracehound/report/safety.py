"""Everything that came from a log is attacker-controlled; these make it safe to put in front of people.

A user agent of ``<script>alert(1)</script>`` must render as text in the HTML report; a user name of
``=HYPERLINK(...)`` must not become a formula when the watchlist CSV is opened in a spreadsheet. (No
output file is ever named after log content: every path tracehound writes is fixed or the user's.)
"""

from __future__ import annotations

import html

#: Leading characters that make spreadsheets evaluate a cell (OWASP CSV injection list, plus tab/CR).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text: formula prefixes get a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def html_text(value: object) -> str:
    """Text escaped for HTML element content and attribute values (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)
