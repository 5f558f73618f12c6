"""Writing one cell: text that stays text, numbers with their number format, a named style first.

Every text that came from a feed or a catalog is written through ``put_text`` (a cell starting with
``=``, ``+``, ``-``, ``@``, tab or CR carries Excel's quote prefix, so it is never a formula, not even
after editing or a save as CSV); numbers are numbers with a number format (``put_number``). A cell's
named style (``styles.py``) is applied before its value: applying a named style replaces the
cell's whole style, quote prefix and number format included.
"""

from __future__ import annotations

import math
import re
import unicodedata
from weakref import WeakKeyDictionary

import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.reporting.workbook import styles

FORMULA_LIKE_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
"""Text starting with one of these is stored with Excel's quote prefix: Excel would otherwise
revive it as a formula when the cell is edited or the sheet saved as CSV (full-width forms
included: a Japanese IME turns them into the ASCII ones on editing)."""
MAX_CELL_CHARS = 32767  # Excel's limit for one cell
_UNWRITABLE = re.compile(ILLEGAL_CHARACTERS_RE.pattern + "|[\ud800-\udfff\ufffe\uffff]")


def put_text(cell: Cell, value: object, style: str | None = None) -> Cell:
    """Write a value as text, never as a formula, and never fail on its characters.

    Feed and catalog text may start with ``=`` and may hold characters a worksheet cannot: control
    characters (which openpyxl refuses), lone surrogates and U+FFFE/U+FFFF (not XML) are replaced
    by U+FFFD, visibly; text longer than Excel's cell limit is cut with "…". Formula-like text gets
    the quote prefix (the cell style ``quotePrefix``), so it stays text in Excel too."""
    if style is not None:
        cell.style = style
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    text = _UNWRITABLE.sub("\ufffd", text)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    cell.value = text
    cell.data_type = "s"
    if text.startswith(FORMULA_LIKE_STARTS):
        cell.quotePrefix = True
    return cell


def put_number(cell: Cell, value: float, fmt: str | None = None, style: str | None = None) -> Cell:
    """Write a number; ``fmt`` overrides the number format of the cell's named style."""
    if style is not None:
        cell.style = style
    cell.value = float(value)
    if fmt is not None:
        cell.number_format = fmt
    return cell


_STYLE_SLOTS = {
    "font": ("_fonts", "fontId"), "fill": ("_fills", "fillId"), "border": ("_borders", "borderId"),
    "alignment": ("_alignments", "alignmentId"), "protection": ("_protections", "protectionId"),
}
_style_indices: WeakKeyDictionary = WeakKeyDictionary()  # workbook → {(slot, id(style object)): (object, index)}


def restyle(cell: Cell, **attributes) -> Cell:
    """``cell.font = …``, ``cell.fill = …``, ``cell.border = …``, ``cell.alignment = …`` and
    ``cell.protection = …`` at once, the same as assigning them one by one, but each style object is
    looked up in the workbook's style list once: openpyxl hashes the whole object (recursively, every
    time) to find its index, which made ~40 % of a workbook's writing time. Pass style objects that
    live as long as the sheet is written (module constants, or made once per sheet): the index is
    remembered by the object's identity (the object is kept, so the identity stays its own)."""
    wb = cell.parent.parent
    known = _style_indices.get(wb)
    if known is None:
        known = _style_indices[wb] = {}
    if not getattr(cell, "_style", None):
        cell._style = StyleArray()
    array = cell._style
    for slot, value in attributes.items():
        hit = known.get((slot, id(value)))
        if hit is None:
            collection, _ = _STYLE_SLOTS[slot]
            hit = known[(slot, id(value))] = (value, getattr(wb, collection).add(value))
        setattr(array, _STYLE_SLOTS[slot][1], hit[1])
    return cell


def header(ws: Worksheet, row: int, titles: list[str], widths: list[float]) -> None:
    """A row of column titles (style 見出し) and the columns' widths."""
    for col, (title, width) in enumerate(zip(titles, widths), start=1):
        put_text(ws.cell(row, col), title, styles.HEADER)
        ws.column_dimensions[get_column_letter(col)].width = width


LINE_HEIGHT = 15.0  # points per line of 11-point text, Japanese fonts included
ROW_PADDING = 3.0


def display_width(text: object) -> int:
    """How many column-width units a line of text takes: a full-width (Japanese) character counts two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" else 1 for ch in str(text or ""))


def lines_needed(text: object, width: float) -> int:
    """The lines ``text`` wraps to in a column ``width`` units wide (its own line breaks kept)."""
    usable = max(1.0, width - 1.5)  # the cell's inner margins
    # 5% for lines that cannot break at the last character (punctuation kept with its word)
    return sum(max(1, math.ceil(display_width(part) * 1.05 / usable)) for part in str(text or "").split("\n"))


def height_for(lines: int) -> float:
    """The row height (points) that shows ``lines`` lines of text."""
    return LINE_HEIGHT * max(1, lines) + ROW_PADDING
