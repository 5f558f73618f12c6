"""自己評価・要因分析: commentary written in the workbook, read back, and kept across regenerations.

Planning and branch staff write four texts per fiscal year × scope × KPI — 実施内容, 自己評価,
要因分析, 今後の取組 — in the KPI sheet of the workbook the pipeline wrote for them. The round trip:

1. **Writing.** :func:`add_commentary_columns` adds the four columns beside the KPI table, filled
   with the latest stored commentary, their cells unlocked and shaded as the only editable cells of
   a protected sheet (no password: protection guards against accidents, not people); every other
   cell is locked, so the KPI rows cannot be moved or retyped by mistake. :func:`write_identity`
   adds a very hidden sheet ``_kenpo`` naming what the workbook is (fiscal year, scope, when it was
   written) and, for each KPI row, its ``kpi_id`` and the commentary version it was written with.
2. **Reading.** :func:`read_commentary_workbook` opens a returned file and checks, with a Japanese
   reason for each refusal, that it is a workbook this pipeline wrote (the identity sheet, the KPI
   sheet, the column titles where they were written); it returns every KPI row's four texts.
3. **Deciding what to store** (:func:`changes_to_store`): only KPIs whose texts differ from the
   version the workbook was written with are new versions. When the stored commentary moved on
   after this workbook was written (someone imported a newer file), a differing row of the older file
   is a *conflict*: it is not stored and is reported, so an older file never silently overwrites a
   newer assessment. Unchanged rows of an older file are simply skipped.

Nothing here reads a database; the warehouse keeps every version (``kpi_commentary``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

FIELDS: tuple[tuple[str, str], ...] = (
    ("implementation", "実施内容"),
    ("self_assessment", "自己評価"),
    ("cause_analysis", "要因分析"),
    ("next_steps", "今後の取組"),
)
FIELD_NAMES = [f for f, _ in FIELDS]
TITLES = [t for _, t in FIELDS]
IDENTITY_SHEET = "_kenpo"
KIND = "kenpo-pipeline PDCA workbook"
MAX_CHARS = 4000  # per cell: a paragraph or two; more belongs in the report itself
EDITABLE_FILL = "FFF2CC"  # the shade of the cells to write in
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and line breaks (Alt+Enter) are text


class CommentaryFileError(Exception):
    """The file is not a workbook whose commentary can be imported; ``str(exc)`` is Japanese."""


@dataclass(frozen=True)
class WorkbookIdentity:
    fiscal_year: int
    branch_code: str
    generated_at: str  # ISO timestamp of when the pipeline wrote the workbook
    sheet: str  # the KPI sheet's title
    first_col: int  # column of 実施内容
    rows: dict[int, tuple[str, int | None]]  # sheet row → (kpi_id, commentary_id it was written with)


@dataclass
class CommentaryFile:
    path: str
    identity: WorkbookIdentity
    entries: pd.DataFrame  # kpi_id, base_id, and the four FIELD_NAMES (text, '' when empty)
    warnings: list[str] = field(default_factory=list)


def clean_text(value: object) -> str:
    """A cell as stored: text, trimmed, line breaks kept, other control characters removed."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


# --- writing ---------------------------------------------------------------------------------------


def add_commentary_columns(ws, header_row: int, first_col: int, kpi_rows: list[tuple[int, str]], latest: pd.DataFrame) -> dict[int, tuple[str, int | None]]:
    """Add the four commentary columns at ``first_col`` of the KPI sheet ``ws`` (titles on
    ``header_row``), one editable cell per KPI row (``kpi_rows`` = [(sheet row, kpi_id)]), filled from
    ``latest`` (the latest stored version per kpi_id: columns kpi_id, commentary_id and FIELD_NAMES).
    Protects the sheet with only those cells unlocked. Returns the identity's row map."""
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.utils import get_column_letter

    from kenpo_pipeline.domain.reporting.workbook.cells import put_text, restyle

    by_kpi = {r["kpi_id"]: r for r in latest.to_dict("records")} if len(latest) else {}
    fill = PatternFill("solid", fgColor=EDITABLE_FILL)
    wrap = Alignment(wrap_text=True, vertical="top")
    unlocked = Protection(locked=False)
    for i, title in enumerate(TITLES):
        col = first_col + i
        cell = put_text(ws.cell(header_row, col), f"{title}（記入欄）")
        cell.font, cell.fill, cell.alignment = Font(bold=True), fill, Alignment(wrap_text=True, horizontal="center", vertical="center")
        ws.column_dimensions[get_column_letter(col)].width = 28
    rows: dict[int, tuple[str, int | None]] = {}
    for row, kpi_id in kpi_rows:
        stored = by_kpi.get(kpi_id)
        for i, name in enumerate(FIELD_NAMES):
            cell = ws.cell(row, first_col + i)
            text = (stored or {}).get(name) or ""
            if text:
                put_text(cell, text)
            restyle(cell, fill=fill, alignment=wrap, protection=unlocked)
        base = stored.get("commentary_id") if stored else None
        rows[row] = (kpi_id, None if base is None or pd.isna(base) else int(base))
    ws.protection.sheet = True  # no password: it prevents accidents, the round trip needs the layout
    ws.protection.formatColumns = False  # widths and row heights may be changed to read long text
    ws.protection.formatRows = False
    ws.protection.autoFilter = False
    ws.protection.sort = True  # sorting would move rows away from their identity
    return rows


def write_identity(wb, fiscal_year: int, branch_code: str, sheet: str, first_col: int, rows: dict[int, tuple[str, int | None]], generated_at: dt.datetime) -> None:
    """The very hidden sheet naming what this workbook is, read back by :func:`read_commentary_workbook`."""
    ws = wb.create_sheet(IDENTITY_SHEET)
    ws.sheet_state = "veryHidden"
    meta = {
        "kind": KIND, "fiscal_year": fiscal_year, "branch_code": branch_code, "generated_at": generated_at.isoformat(timespec="seconds"),
        "sheet": sheet, "first_col": first_col,
    }
    ws.cell(1, 1, "identity")
    ws.cell(1, 2, json.dumps(meta, ensure_ascii=False))
    ws.cell(2, 1, "row")
    ws.cell(2, 2, "kpi_id")
    ws.cell(2, 3, "commentary_id")
    for i, (row, (kpi_id, base)) in enumerate(sorted(rows.items()), start=3):
        ws.cell(i, 1, row)
        ws.cell(i, 2, kpi_id)
        ws.cell(i, 3, base)


# --- reading ---------------------------------------------------------------------------------------


def read_commentary_workbook(path: Path | str, data: bytes | None = None) -> CommentaryFile:
    """The commentary entered in a returned workbook; :class:`CommentaryFileError` (Japanese) when
    the file is not a workbook this pipeline wrote, or was changed so its rows cannot be trusted."""
    import openpyxl

    path = Path(path)
    name = path.name
    try:
        raw = data if data is not None else path.read_bytes()
    except OSError as exc:
        raise CommentaryFileError(f"{name} を読めません（{exc.strerror or exc}）") from exc
    try:
        wb = openpyxl.load_workbook(io.BytesIO(raw), data_only=True)
    except Exception as exc:  # a corrupt or non-Excel file fails in many ways
        raise CommentaryFileError(f"{name} はExcelブック（.xlsx）として開けません（{type(exc).__name__}）") from exc
    if IDENTITY_SHEET not in wb.sheetnames:
        raise CommentaryFileError(f"{name} はこのパイプラインが作成したKPI実績一覧表ではありません（識別用のシートがありません）。`kenpo report` で作成したブックに記入してください")
    ident = wb[IDENTITY_SHEET]
    try:
        meta = json.loads(str(ident.cell(1, 2).value))
        assert meta.get("kind") == KIND
        rows = {}
        for r in ident.iter_rows(min_row=3, values_only=True):
            if r[0] is None:
                continue
            rows[int(r[0])] = (str(r[1]), None if r[2] in (None, "") else int(r[2]))
        identity = WorkbookIdentity(int(meta["fiscal_year"]), str(meta["branch_code"]), str(meta["generated_at"]), str(meta["sheet"]), int(meta["first_col"]), rows)
    except Exception as exc:
        raise CommentaryFileError(f"{name} の識別用シートが壊れています（記入は元のブックで行ってください）") from exc
    if identity.sheet not in wb.sheetnames:
        raise CommentaryFileError(f"{name} にシート「{identity.sheet}」がありません（シート名を変えずに保存してください）")
    ws = wb[identity.sheet]
    # the titles where they were written: a moved column or an inserted row is caught here
    for i, title in enumerate(TITLES):
        found = clean_text(ws.cell(_header_row(ws, identity), identity.first_col + i).value)
        if not found.startswith(title):
            raise CommentaryFileError(
                f"{name} のシート「{identity.sheet}」で、記入欄の列「{title}」が元の位置にありません（列や行を挿入・削除せずに記入してください）"
            )
    warnings: list[str] = []
    out = []
    for row, (kpi_id, base) in sorted(rows.items()):
        texts = []
        for i, fname in enumerate(FIELD_NAMES):
            raw_value = ws.cell(row, identity.first_col + i).value
            text = clean_text(raw_value)
            if len(text) > MAX_CHARS:
                warnings.append(f"{row}行目（{kpi_id}）の{TITLES[i]}は{len(text):,}文字あり、上限の{MAX_CHARS:,}文字までを保存します")
                text = text[:MAX_CHARS]
            texts.append(text)
        out.append([kpi_id, base, *texts])
    entries = pd.DataFrame(out, columns=["kpi_id", "base_id", *FIELD_NAMES])
    return CommentaryFile(str(path), identity, entries, warnings)


def _header_row(ws, identity: WorkbookIdentity) -> int:
    """The row of the commentary titles: the first KPI row's sheet header (searched upward, since a
    section label may sit between them)."""
    first = min(identity.rows) if identity.rows else 2
    for row in range(first - 1, 0, -1):
        value = clean_text(ws.cell(row, identity.first_col).value)
        if value.startswith(TITLES[0]):
            return row
    return first - 1


# --- deciding what to store ----------------------------------------------------------------------


@dataclass(frozen=True)
class ImportPlan:
    new_versions: pd.DataFrame  # kpi_id + FIELD_NAMES: rows to store as new versions
    unchanged: int
    conflicts: list[str]  # Japanese, one per KPI not stored because a newer version exists


def changes_to_store(entries: pd.DataFrame, latest: pd.DataFrame, kpi_texts: dict[str, str] | None = None) -> ImportPlan:
    """Which rows of an imported file become new versions, given the latest stored versions
    (columns kpi_id, commentary_id, FIELD_NAMES)."""
    kpi_texts = kpi_texts or {}
    stored = {r["kpi_id"]: r for r in latest.to_dict("records")} if len(latest) else {}
    new, conflicts, unchanged = [], [], 0
    for r in entries.to_dict("records"):
        current = stored.get(r["kpi_id"])
        current_texts = [(current or {}).get(f) or "" for f in FIELD_NAMES]
        texts = [r[f] for f in FIELD_NAMES]
        if texts == current_texts:
            unchanged += 1
            continue
        current_id = None if current is None else int(current["commentary_id"])
        base = None if r["base_id"] is None or pd.isna(r["base_id"]) else int(r["base_id"])
        if current_id is not None and base != current_id:
            label = kpi_texts.get(r["kpi_id"], r["kpi_id"])
            conflicts.append(
                f"{label}：このブックの作成後に別のファイルから記入内容が更新されています（最新の記入を上書きしないため取り込みません。最新のブックを `kenpo report` で作り直して記入してください）"
            )
            continue
        new.append([r["kpi_id"], *texts])
    return ImportPlan(pd.DataFrame(new, columns=["kpi_id", *FIELD_NAMES]), unchanged, conflicts)


def missing_cause_analysis(evaluation: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """The 未達成 rows of an evaluation (branch_code, kpi_id, kpi_text) with no 要因分析 stored."""
    missed = evaluation[evaluation["status"] == "未達成"]
    if latest is None or not len(latest):
        return missed[["branch_code", "kpi_id", "kpi_text"]].reset_index(drop=True)
    have = {(b, k) for b, k, t in zip(latest["branch_code"], latest["kpi_id"], latest["cause_analysis"]) if t}
    keep = [(b, k) not in have for b, k in zip(missed["branch_code"], missed["kpi_id"])]
    return missed[keep][["branch_code", "kpi_id", "kpi_text"]].reset_index(drop=True)
