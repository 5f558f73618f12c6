"""差戻しリスト: what a branch must correct, from the quarantine and the load history.

A branch sends its rows inside the association's national feed files; a row the checks refused is
kept in ``quarantine`` with its file, physical line, column, the value as sent and the Japanese
reason. This module turns those tables into the list a branch works through:

- :func:`branch_error_list` — one branch's quarantined rows of the *current* load of every
  feed-month of a fiscal year (rows of superseded loads are history: the corrected file replaced
  them), newest month first; the file-level rejections of those months; and a summary per
  feed-month. A row is the branch's when its 支部コード cell (after NFKC, as the loader reads it)
  is the branch's code; a row whose 支部コード cannot be read (a broken line, an invalid code) is
  listed for the association (``00``), whose list holds every row.
- :func:`file_error_list` — the same shape for one file checked before it is sent (``kenpo validate
  FILE --out``), from a :class:`~kenpo_pipeline.domain.intake.feeds.FeedCheck`.
- :func:`write_error_workbook` — the printable workbook (A4 landscape, header rows repeated).

A rejected file is a national file: it held every branch's rows, so its rejection concerns every
branch and appears in every branch's list (with the reason and whether an earlier load stays
current). Nothing here reads a database or Dagster.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label_ja, japan_time, month_label_ja
from kenpo_pipeline.domain.intake.status import LoadStatus
from kenpo_pipeline.domain.reference import FEED_IDS, NATIONAL_CODE, branch_codes, branch_name, feed_layout

BRANCH_HEADER = "支部コード"
WHOLE_LINE = "（行全体）"  # the quarantine's column name for a line that is not a row

ROW_COLUMNS = ["フィード", "対象月", "ファイル", "行", "列", "送られた値", "理由"]
REJECTION_COLUMNS = ["フィード", "対象月", "ファイル", "却下日時", "理由", "現在のデータ"]
SUMMARY_COLUMNS = ["フィード", "対象月", "取込状況", "ファイル", "差戻し行数"]
UNREADABLE_BRANCH = "支部コードを読めない行（協会全体の一覧に記載）"


@dataclass(frozen=True)
class ErrorList:
    """One branch's (or one file's) error list: the three tables of the workbook."""

    title: str
    scope: str  # branch code, or "" for a single file
    rows: pd.DataFrame  # ROW_COLUMNS
    rejections: pd.DataFrame  # REJECTION_COLUMNS
    summary: pd.DataFrame  # SUMMARY_COLUMNS

    @property
    def empty(self) -> bool:
        return self.rows.empty and self.rejections.empty


def feed_title(feed: str) -> str:
    try:
        return feed_layout(feed).name_ja
    except (KeyError, FileNotFoundError):
        return feed


def normalise_branch(value: object) -> str | None:
    """A 支部コード cell as the loader reads it: NFKC, trimmed, one or two digits → ``"01"``–``"47"``
    (or ``"00"``); anything else is not a branch code."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if text.endswith(".0"):  # a code typed into Excel as a number
        text = text[:-2]
    if not text.isdigit() or len(text) > 2:
        return None
    return text.zfill(2)


def branch_of_row(column_name: str, record: str | None, value: object) -> str | None:
    """The branch a quarantined row belongs to, or None when its 支部コード cannot be read."""
    if column_name == BRANCH_HEADER:
        return normalise_branch(value)  # the code itself was refused: it may still name a branch
    cells: dict = {}
    if record:
        try:
            cells = json.loads(record)
        except ValueError:
            cells = {}
    if WHOLE_LINE in cells:  # a broken line: its first CSV field is the 支部コード of the layouts
        try:
            first = next(csv.reader([str(cells[WHOLE_LINE])]), [None])[0]
        except csv.Error:
            return None
        return normalise_branch(first)
    return normalise_branch(cells.get(BRANCH_HEADER))


def _file_name(path: object) -> str:
    """The file's name only: a branch needs to know which file, not the server's folders."""
    text = str(path or "")
    return ", ".join(Path(p.strip()).name for p in text.split(",")) if text else ""


def _feed_rank(feed: str) -> int:
    return FEED_IDS.index(feed) if feed in FEED_IDS else len(FEED_IDS)


def branch_error_list(quarantine: pd.DataFrame, loads: pd.DataFrame, branch: str, fiscal_year: int) -> ErrorList:
    """``branch``'s error list for ``fiscal_year`` from the ``quarantine`` and ``feed_loads`` tables
    (whole tables or already narrowed to the year: both work)."""
    months = set(fiscal_months(fiscal_year))
    loads = loads[loads["month"].isin(months)] if len(loads) else loads
    current = loads[loads["status"] == LoadStatus.LOADED.value] if len(loads) else loads
    current_ids = set(current["load_id"]) if len(current) else set()

    q = quarantine[quarantine["load_id"].isin(current_ids)] if len(quarantine) else quarantine
    if len(q):
        owners = [branch_of_row(c, r, v) for c, r, v in zip(q["column_name"], q.get("record", [None] * len(q)), q["value"])]
        q = q.assign(_branch=owners)
        if branch != NATIONAL_CODE:
            q = q[q["_branch"] == branch]
    rows = _rows_frame(q, national=branch == NATIONAL_CODE)
    rejections = _rejections_frame(loads, current)
    summary = _summary_frame(loads, current, q, fiscal_year)
    title = f"{fiscal_year_label_ja(fiscal_year)} 差戻しリスト（{branch_name(branch)}）"
    return ErrorList(title, branch, rows, rejections, summary)


def _rows_frame(q: pd.DataFrame, national: bool) -> pd.DataFrame:
    if not len(q):
        return pd.DataFrame(columns=ROW_COLUMNS)
    q = q.assign(_rank=q["feed"].map(_feed_rank)).sort_values(["month", "_rank", "row_number"], ascending=[False, True, True])
    out = pd.DataFrame(
        {
            "フィード": q["feed"].map(feed_title).to_numpy(),
            "対象月": q["month"].map(month_label_ja).to_numpy(),
            "ファイル": q["path"].map(_file_name).to_numpy(),
            "行": q["row_number"].astype(int).to_numpy(),
            "列": q["column_name"].to_numpy(),
            "送られた値": q["value"].astype(object).fillna("").astype(str).to_numpy(),
            "理由": q["reason"].to_numpy(),
        }
    )
    if national:
        out.insert(0, "支部", [branch_name(b) if b else UNREADABLE_BRANCH for b in q["_branch"]])
    return out.reset_index(drop=True)


def _rejections_frame(loads: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    rejected = loads[loads["status"] == LoadStatus.REJECTED.value] if len(loads) else loads
    if not len(rejected):
        return pd.DataFrame(columns=REJECTION_COLUMNS)
    rejected = rejected.sort_values("loaded_at", ascending=False)
    have = {(f, m): lid for f, m, lid in zip(current["feed"], current["month"], current["load_id"])} if len(current) else {}
    out = []
    for r in rejected.to_dict("records"):
        kept = have.get((r["feed"], r["month"]))
        stays = f"以前の取込（load_id {kept}）を使用中" if kept is not None else "この月のデータはありません"
        out.append(
            [feed_title(r["feed"]), month_label_ja(r["month"]), _file_name(r["path"]), _timestamp(r["loaded_at"]), r.get("reason") or "", stays]
        )
    return pd.DataFrame(out, columns=REJECTION_COLUMNS)


def _timestamp(value: object) -> str:
    return japan_time(value)  # stored as UTC (SQLite returns it without its zone): shown in Japan time


def _summary_frame(loads: pd.DataFrame, current: pd.DataFrame, q: pd.DataFrame, fiscal_year: int) -> pd.DataFrame:
    """One line per feed-month that had a file: the month's state and the branch's refused rows."""
    counts = q.groupby(["feed", "month"]).size().to_dict() if len(q) else {}
    latest = {}
    if len(loads):
        for r in loads.sort_values("loaded_at").to_dict("records"):
            if r["status"] != LoadStatus.SUPERSEDED.value:
                latest[(r["feed"], r["month"])] = r
    out = []
    for month in reversed(fiscal_months(fiscal_year)):
        for feed in FEED_IDS:
            r = latest.get((feed, month))
            if r is None:
                continue
            if r["status"] == LoadStatus.REJECTED.value:
                kept = current[(current["feed"] == feed) & (current["month"] == month)] if len(current) else current
                state = "却下（以前の取込を使用中）" if len(kept) else "却下（データなし）"
            else:
                state = "取込済"
            out.append([feed_title(feed), month_label_ja(month), _file_name(r["path"]), state, int(counts.get((feed, month), 0))])
    frame = pd.DataFrame(out, columns=["フィード", "対象月", "ファイル", "取込状況", "差戻し行数"])
    return frame[SUMMARY_COLUMNS]


def file_error_list(check, path: Path | str) -> ErrorList:
    """The error list of one file checked before it is sent (a ``FeedCheck``): every refused row."""
    rows = pd.DataFrame(
        [
            [feed_title(check.feed), month_label_ja(check.month) if check.month else "", Path(path).name, q.row_number, q.column_name, "" if q.value is None else str(q.value), q.reason]
            for q in check.quarantine
        ],
        columns=ROW_COLUMNS,
    )
    summary = pd.DataFrame(
        [[feed_title(check.feed), month_label_ja(check.month) if check.month else "", Path(path).name,
          f"読込可（{check.rows_loaded:,}行）" if not len(rows) else f"{check.rows_loaded:,}行を読込可、{len(rows):,}行は差戻し", len(rows)]],
        columns=["フィード", "対象月", "ファイル", "取込状況", "差戻し行数"],
    )[SUMMARY_COLUMNS]
    return ErrorList(f"送付前チェック　{Path(path).name}", "", rows, pd.DataFrame(columns=REJECTION_COLUMNS), summary)


def rejected_file_list(path: Path | str, feed: str | None, month: str | None, reason: str) -> ErrorList:
    """The error list of a file that would be rejected whole (``kenpo validate FILE --out``)."""
    rejections = pd.DataFrame(
        [[feed_title(feed) if feed else "", month_label_ja(month) if month else "", Path(path).name, "", reason, "このファイルは取り込まれません"]],
        columns=REJECTION_COLUMNS,
    )
    return ErrorList(f"送付前チェック　{Path(path).name}", "", pd.DataFrame(columns=ROW_COLUMNS), rejections, pd.DataFrame(columns=SUMMARY_COLUMNS))


# --- the workbook ----------------------------------------------------------------------------------

_WIDTHS = {"支部": 14, "フィード": 20, "対象月": 12, "ファイル": 30, "行": 8, "列": 12, "送られた値": 22, "理由": 60,
           "却下日時": 16, "現在のデータ": 28, "取込状況": 26, "差戻し行数": 12}


def error_workbook_name(fiscal_year: int, branch: str) -> str:
    return f"errors_FY{fiscal_year}_{branch}.xlsx"


def write_error_workbook(error_list: ErrorList, out: Path, generated_at: dt.datetime | None = None) -> Path:
    """Write the error list as a printable workbook: 概要 (summary and rejections) and 差戻し行."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from kenpo_pipeline.domain.reporting.workbook.cells import put_text, restyle

    generated_at = generated_at or dt.datetime.now(dt.timezone(dt.timedelta(hours=9)))
    stamp = generated_at.strftime("%Y-%m-%d %H:%M")
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="D9E1F2")
    wrap = Alignment(wrap_text=True, vertical="top")

    def table(ws, top: int, frame: pd.DataFrame, empty_text: str) -> int:
        for c, name in enumerate(frame.columns, start=1):
            cell = put_text(ws.cell(top, c), name)
            restyle(cell, font=bold, fill=head_fill)
            ws.column_dimensions[get_column_letter(c)].width = max(ws.column_dimensions[get_column_letter(c)].width or 0, _WIDTHS.get(name, 14))
        if frame.empty:
            put_text(ws.cell(top + 1, 1), empty_text)
            return top + 2
        for i, rec in enumerate(frame.itertuples(index=False), start=top + 1):
            for c, v in enumerate(rec, start=1):
                cell = ws.cell(i, c)
                if isinstance(v, (int,)) and not isinstance(v, bool):
                    cell.value = int(v)
                else:
                    put_text(cell, v)
                restyle(cell, alignment=wrap)
        return top + 1 + len(frame)

    def page(ws, title_rows: str) -> None:
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_title_rows = title_rows
        ws.oddHeader.left.text = error_list.title
        ws.oddHeader.right.text = f"作成日時 {stamp}"
        ws.oddFooter.center.text = "&P / &N ページ"

    wb = Workbook()
    ws = wb.active
    ws.title = "概要"
    put_text(ws.cell(1, 1), error_list.title).font = Font(bold=True, size=14)
    put_text(ws.cell(2, 1), f"作成日時 {stamp}。差戻し行は、取り込まれなかった行です。修正したファイルを再送すると、その月のデータが置き換わります。")
    put_text(ws.cell(4, 1), "フィード・月ごとの状況").font = bold
    row = table(ws, 5, error_list.summary, "この年度に届いたファイルはありません。")
    put_text(ws.cell(row + 1, 1), "ファイル単位の却下（全支部のデータを含むファイル）").font = bold
    table(ws, row + 2, error_list.rejections, "却下されたファイルはありません。")
    page(ws, "1:1")

    detail = wb.create_sheet("差戻し行")
    put_text(detail.cell(1, 1), f"{error_list.title}　差戻し行（{len(error_list.rows):,}行、新しい月から）").font = Font(bold=True, size=12)
    table(detail, 2, error_list.rows, "差戻し行はありません。")
    detail.freeze_panes = "A3"
    if len(error_list.rows):
        detail.auto_filter.ref = f"A2:{get_column_letter(len(error_list.rows.columns))}{len(error_list.rows) + 2}"
    page(detail, "2:2")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    wb.save(tmp)
    tmp.replace(out)  # a reader never sees half a workbook
    return out


def all_branch_codes() -> list[str]:
    """The association (every row) and the 47 branches."""
    return [NATIONAL_CODE, *branch_codes()]
