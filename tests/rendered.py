"""What each renderer of an evaluation shows, read back the way its reader sees it: the workbook's
KPI sheet (opened with openpyxl), the command line's lines and the UI's Markdown table. Each reader
returns one (KPI, 達成状況, 対目標比, 備考) tuple per row, in the order shown, so that tests can
compare the three."""

from __future__ import annotations

import html
import re

from kenpo_pipeline.domain.reporting.markdown import WORD_JOINER

_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")
_ESCAPE = re.compile(r"\\(.)")
_CLI_ROW = re.compile(r"^      目標 .*?   実績 .*?(?:   対目標比 (?P<ratio>\S+))?   達成状況 (?P<status>\S+?)(?:（(?P<remarks>.*)）)?(?:   ＜参考＞.*)?$")


def shown_number(value, number_format: str) -> str:
    """A percentage cell as Excel shows it (``0.0%`` → ``99.9%``)."""
    if value is None or value == "":
        return ""
    decimals = len(number_format.split(".")[1].rstrip("%")) if "." in number_format else 0
    assert number_format.endswith("%") and not number_format.endswith('"%"'), number_format  # a fraction shown as a percent
    return f"{float(value) * 100:.{decimals}f}%"


def workbook_rows(ws) -> list[tuple[str, str, str, str]]:
    """The KPI sheet (KPI実績一覧表): row 3 holds the titles, the KPI rows follow until the legend."""
    titles = [c.value for c in ws[3]]
    col = {t: i + 1 for i, t in enumerate(titles) if t}
    out = []
    for r in range(4, ws.max_row + 1):
        kpi = ws.cell(r, col["KPI"]).value
        if not kpi:
            break
        ratio = ws.cell(r, col["対目標比"])
        out.append((kpi, ws.cell(r, col["達成状況"]).value, shown_number(ratio.value, ratio.number_format), ws.cell(r, col["備考"]).value or ""))
    return out


def cli_rows(lines: list[str]) -> list[tuple[str, str, str, str]]:
    """``presentation.evaluation_text`` as printed: a KPI line, then its values line."""
    out = []
    for kpi_line, values in zip(lines, lines[1:]):
        m = _CLI_ROW.match(values)
        if m and kpi_line.startswith("  ") and not kpi_line.startswith("   "):
            out.append((kpi_line[2:], m["status"], m["ratio"] or "", m["remarks"] or ""))
    return out


def _unescape(cell: str) -> str:
    return html.unescape(_ESCAPE.sub(r"\1", cell.strip())).replace(WORD_JOINER, "")


def markdown_rows(md: str) -> list[tuple[str, str, str, str]]:
    """A Markdown table of ``presentation.evaluation_markdown``, its cells unescaped."""
    lines = [line for line in md.splitlines() if line.startswith("|")]
    header = [_unescape(c) for c in _UNESCAPED_BAR.split(lines[0])[1:-1]]
    out = []
    for line in lines[2:]:
        cells = dict(zip(header, (_unescape(c) for c in _UNESCAPED_BAR.split(line)[1:-1])))
        out.append((cells["KPI"], cells["達成状況"], cells["対目標比"], cells["備考"]))
    return out
