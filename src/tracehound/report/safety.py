"""Everything that came from a log is attacker-controlled; these make it safe to put in front of people.

A user agent of ``<script>alert(1)</script>`` must render as text in the HTML report; a user name of
``=HYPERLINK(...)`` must not become a formula when the watchlist CSV is opened in a spreadsheet; a
line break inside a value must not start a new entry of a one-per-line file. (No output file is ever
named after log content: every path tracehound writes is fixed or the user's.)
"""

from __future__ import annotations

import html
import re

#: Leading characters that make spreadsheets evaluate a cell (OWASP CSV injection list, plus tab/CR).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: C0 controls, DEL and the C1 controls: never part of a value a person reads in a cell or a line.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: object) -> str:
    """The value's text with every control character (line breaks included) as a space."""
    return _CONTROLS.sub(" ", "" if value is None else str(value))


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text: control characters become spaces (a CR or LF
    inside a cell is a new row to naive readers), and a cell that starts with a formula prefix —
    after any leading spaces, which spreadsheets skip — gets a leading apostrophe."""
    raw = "" if value is None else str(value)
    text = one_line(raw)
    return "'" + text if raw.startswith(FORMULA_PREFIXES) or text.lstrip(" ").startswith(FORMULA_PREFIXES) \
        else text


def html_text(value: object) -> str:
    """Text escaped for HTML element content and attribute values (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)
