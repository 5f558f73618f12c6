"""The PDCA workbook (shared spec/outputs.md "The PDCA workbook"), written with openpyxl.

``write_workbook`` writes one scope's workbook — the national ``pdca_FY2024.xlsx`` or a branch's
``pdca_FY2024_22.xlsx`` — from tables the pipeline already holds (``pdca_evaluation``,
``kpi_actuals``, ``feed_loads``, ``action_plan_view``); it judges nothing and parses no text back:
every evaluation value is drawn through ``reporting.presentation``. One module per sheet:

- ``kpi_sheet``: KPI実績一覧表 (具体的施策 · KPI · 目標 · 実績 · 対目標比 · 達成状況 · ＜参考＞前年度実績 · 備考);
- ``branch_sheet``: 支部別 (national workbook), 47 branches × KPIs coloured by status;
- ``monthly_sheet``: 月次推移, year-to-date values and one line chart per KPI;
- ``action_plan_sheet``: 3か年計画, the Action Plan's years side by side;
- ``quality_sheet``: データ品質, every load attempt of the year.

``book`` holds a workbook's inputs, ``assembly`` the order of the sheets and the writing of the file,
``styles`` the named cell styles (registered once per workbook), ``cells`` how a cell is written
(text never becomes a formula), ``page`` how a sheet prints.
"""

from kenpo_pipeline.domain.reporting.workbook.assembly import SHEETS, build, workbook_name, write_workbook
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import put_number, put_text

__all__ = ["SHEETS", "Book", "build", "put_number", "put_text", "workbook_name", "write_workbook"]
