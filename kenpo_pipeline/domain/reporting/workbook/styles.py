"""The workbook's cell styles: openpyxl ``NamedStyle``s, registered once per workbook.

A cell takes a style by name (``cell.style = styles.HEADER``) instead of being given its font, fill,
border and alignment one by one: the workbook carries each style once (Excel lists them under
セルのスタイル, and editing one there restyles every cell that uses it). The names are Japanese (a
planner sees them in Excel). Colours of statuses and outlooks come from the one presentation
(``presentation.FILLS`` / ``FONTS``). A ``NamedStyle`` object belongs to one workbook, so
``register`` builds fresh ones for each.
"""

from __future__ import annotations

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side

from kenpo_pipeline.domain.kpis.judgement import ACHIEVED, MISSED, UNKNOWN
from kenpo_pipeline.domain.reporting.presentation import FILLS, FONTS, OUTLOOK_ACHIEVED, OUTLOOK_WARNING, RATIO_FORMAT

TITLE = "表題"  # a sheet's title line
HEADER = "見出し"  # column titles
TEXT = "本文"  # a bordered cell of text, wrapped, top-aligned
VALUE = "値"  # a bordered value, centred
NUMBER = "数値"  # a bordered number, centred, never wrapped (shrunk to fit rather than broken mid-number)
RATIO = "対目標比"  # a bordered, centred fraction shown as a percent (0.0%)
COUNT = "件数"  # a bordered whole number (#,##0)
EMPHASIS = "強調"  # bold, no border (a KPI's name above its monthly table, a total's label)
TOTAL = "合計"  # bold, bordered (the count of branches achieving a KPI)
DIFFERENCE = "再計算との差異"  # a bordered text on yellow: a recomputation differs from the published figure
STATUS = {s: s for s in (ACHIEVED, MISSED, UNKNOWN, OUTLOOK_ACHIEVED, OUTLOOK_WARNING)}
"""The style of each status word and outlook (named after it): its fill, its font colour, centred."""

HEADER_FILL = "DDEBF7"
DIFFERENCE_FILL = "FFEB9C"
_THIN = Side(style="thin", color="808080")


def _border() -> Border:
    return Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _centred() -> Alignment:
    return Alignment(horizontal="center", vertical="center", wrap_text=True)


def _wrapped() -> Alignment:
    return Alignment(wrap_text=True, vertical="top")


def _solid(rgb: str) -> PatternFill:
    return PatternFill("solid", fgColor=rgb)


def named_styles() -> list[NamedStyle]:
    """Fresh ``NamedStyle`` objects for one workbook."""
    out = [
        NamedStyle(TITLE, font=Font(size=14, bold=True)),
        NamedStyle(HEADER, font=Font(bold=True), fill=_solid(HEADER_FILL), border=_border(), alignment=_centred()),
        NamedStyle(TEXT, border=_border(), alignment=_wrapped()),
        NamedStyle(VALUE, border=_border(), alignment=Alignment(horizontal="center", vertical="top", wrap_text=True)),
        NamedStyle(NUMBER, border=_border(), alignment=Alignment(horizontal="center", vertical="top", shrink_to_fit=True)),
        NamedStyle(RATIO, border=_border(), alignment=Alignment(horizontal="center", vertical="top"), number_format=RATIO_FORMAT),
        NamedStyle(COUNT, border=_border(), alignment=_wrapped(), number_format="#,##0"),
        NamedStyle(EMPHASIS, font=Font(bold=True)),
        NamedStyle(TOTAL, font=Font(bold=True), border=_border(), alignment=Alignment(horizontal="center")),
        NamedStyle(DIFFERENCE, fill=_solid(DIFFERENCE_FILL), border=_border(), alignment=_wrapped()),
    ]
    for status, name in STATUS.items():
        font = Font(color=FONTS[status]) if status in FONTS else Font()
        out.append(NamedStyle(name, font=font, fill=_solid(FILLS[status]), border=_border(), alignment=_centred()))
    return out


NAMES = tuple(s.name for s in named_styles())


def register(wb: Workbook) -> None:
    """Add the workbook's named styles to ``wb`` (once, before any cell uses them)."""
    for style in named_styles():
        wb.add_named_style(style)
