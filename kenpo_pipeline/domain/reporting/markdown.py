"""Markdown for the Dagster UI, with every piece of text escaped.

Metadata shown as Markdown (``MetadataValue.md``) carries text from feeds (cells, header names,
quarantine reasons) and catalogs (KPI sentences). Rendered as Markdown, a cell such as
``![a](http://host/x)`` becomes an image the operator's browser fetches, ``<img src=…>`` becomes
HTML, and ``|`` breaks a table. Everything that goes into Markdown metadata therefore goes
through this module: ``escape`` makes a value literal text, ``table`` renders a DataFrame as a
Markdown table and ``bullets`` a list as Markdown bullets, escaping every cell and capping its
length (so metadata stays small whatever a file holds).

Escaping: every ASCII punctuation character is backslash-escaped (CommonMark lets any of them be
escaped, and then none of them starts emphasis, a link, an image, code, a heading, a list, a
table cell or an autolink); ``<``, ``>`` and ``&`` become HTML entities; line breaks, tabs and
other control or invisible formatting characters become spaces; an invisible word joiner keeps
URLs and e-mail addresses in the text from being linked by GFM's literal-autolink pass. What a
reader sees is the original text. Plain functions, no Dagster.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from typing import Any, Iterable

import pandas as pd

MAX_CELL_CHARS = 200
"""Characters of one table cell or bullet kept (before escaping); longer text ends with "…"."""
MAX_ROWS = 200
"""Rows of a table or items of a list shown at most; the rest is counted in a last line."""
EMPTY = "_(なし)_"

WORD_JOINER = "\u2060"
"""Invisible; put before ``http://``, ``https://`` and ``www.`` and after ``@`` so that a GFM
renderer's literal-autolink pass (remark-gfm, which the Dagster UI uses, links URLs and e-mail
addresses found in plain text *after* escapes are resolved) leaves them as text, not links."""
_AUTOLINK = re.compile(r"(?i)(?=https?:|www\.)|(?<=@)")
_BLANKED = ("Cc", "Cf", "Cs", "Zl", "Zp")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_ESCAPED = {c: "\\" + c for c in string.punctuation}
_ESCAPED.update(_ENTITIES)


def _plain(value: Any) -> str:
    """A value as text: missing → "", whole floats without ".0", others as ``str``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return str(value)
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # list-likes: not a missing value
        pass
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars → Python
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def escape(value: Any, max_chars: int = MAX_CELL_CHARS) -> str:
    """``value`` as Markdown that renders exactly as its text, on one line, at most ``max_chars``
    characters of it (then "…")."""
    text = _plain(value)
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    # line breaks, tabs, controls, bidi overrides and zero-width characters become spaces
    text = "".join(" " if unicodedata.category(c) in _BLANKED else c for c in text)
    text = _AUTOLINK.sub(WORD_JOINER, text)
    return "".join(_ESCAPED.get(c, c) for c in text)


def table(frame: pd.DataFrame, index: bool = False, max_rows: int = MAX_ROWS, empty: str = EMPTY) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` with every header and cell escaped. With
    ``index``, the index is the first column (headed by its name, if any)."""
    if frame is None or len(frame) == 0 or len(frame.columns) == 0:
        return empty
    shown = frame.head(max_rows)
    headers = [escape(c) for c in shown.columns]
    rows = [[escape(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    if index:
        headers.insert(0, escape(shown.index.name or ""))
        for cells, label in zip(rows, shown.index):
            cells.insert(0, escape(label))
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    if len(frame) > max_rows:
        lines.append("")
        lines.append(f"…ほか {len(frame) - max_rows:,} 行")
    return "\n".join(lines)


def bullets(items: Iterable[Any], max_items: int = MAX_ROWS, empty: str = EMPTY) -> str:
    """A Markdown bullet list, one escaped item per line."""
    items = list(items)
    if not items:
        return empty
    lines = [f"- {escape(item)}" for item in items[:max_items]]
    if len(items) > max_items:
        lines.append(f"- …ほか {len(items) - max_items:,} 件")
    return "\n".join(lines)


def paragraphs(*parts: str) -> str:
    """Markdown pieces (already rendered by this module) separated by blank lines."""
    return "\n\n".join(p for p in parts if p)
