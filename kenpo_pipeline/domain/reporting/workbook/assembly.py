"""The book: which sheets a workbook has, in which order, and writing it to its file.

A sheet is a module with ``TITLE``, ``applies(book)`` (whether this scope's workbook has it) and
``write(ws, book)``; adding a sheet is a new module and one line in ``SHEETS``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook

from kenpo_pipeline.domain.reference import NATIONAL_CODE
from kenpo_pipeline.domain.reporting.workbook import (
    action_plan_sheet, branch_sheet, errors_sheet, evidence_sheet, incentive_page, kpi_sheet, monthly_sheet, quality_sheet, styles,
)
from kenpo_pipeline.domain.reporting.workbook.book import Book

SHEETS = (
    kpi_sheet,  # KPI実績一覧表
    branch_sheet,  # 支部別 (national workbook)
    monthly_sheet,  # 月次推移
    action_plan_sheet,  # 3か年計画 (when the year belongs to an Action Plan)
    incentive_page,  # インセンティブ (the インセンティブ制度 ranking, or the branch's standing)
    evidence_sheet,  # 根拠 (each KPI's numerator, denominator and loads)
    quality_sheet,  # データ品質
    errors_sheet,  # 差戻しリスト (the scope's refused rows and rejected files)
)


def workbook_name(fy: int, branch: str) -> str:
    return f"pdca_FY{fy}.xlsx" if branch == NATIONAL_CODE else f"pdca_FY{fy}_{branch}.xlsx"


def build(book: Book) -> Workbook:
    """The workbook of ``book``, in memory: the named styles, then every sheet that applies."""
    wb = Workbook()
    wb.remove(wb.active)
    styles.register(wb)
    for sheet in SHEETS:
        if sheet.applies(book):
            sheet.write(wb.create_sheet(sheet.TITLE), book)
    wb._sheets.sort(key=lambda ws: ws.sheet_state != "visible")  # the hidden identity sheet last: tabs stay in reading order
    wb.active = 0
    wb.properties.title = book.title
    wb.properties.creator = "kenpo-pipeline"
    return wb


def write_workbook(
    out_dir: Path, fy: int, branch: str, evaluation: pd.DataFrame, actuals: pd.DataFrame, loads: pd.DataFrame, plan_title: str | None,
    action_plan: tuple[str, pd.DataFrame | None] | None = None,
    publication: tuple[dict, pd.DataFrame] | None = None,
    quarantine: pd.DataFrame | None = None,
    incentive: pd.DataFrame | None = None,
    commentary: pd.DataFrame | None = None,
    comparison: pd.DataFrame | None = None,
) -> Path:
    """Write one scope's workbook and return its path. ``evaluation`` holds the whole year's rows
    (every scope: the national workbook's 支部別 sheet shows them all); ``comparison`` the year's
    ``branch_comparison`` (ranks and national values, never recomputed here)."""
    wb = build(Book(fy, branch, evaluation, actuals, loads, plan_title, action_plan, publication, quarantine, incentive, commentary, comparison))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / workbook_name(fy, branch)
    tmp = path.with_suffix(".xlsx.tmp")
    wb.save(tmp)
    tmp.replace(path)  # readers never see a half-written workbook
    return path
