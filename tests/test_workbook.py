"""The PDCA workbooks, opened with openpyxl (shared spec/outputs.md "The PDCA workbook")."""

import dagster as dg
import pandas as pd
import pytest
from openpyxl import load_workbook

from conftest import dagster_resources
from kenpo_pipeline.app.commands import evaluation as scope_evaluation
from kenpo_pipeline.cli import main
from kenpo_pipeline.defs.incentive import incentive_ranking
from kenpo_pipeline.defs.reports import action_plan_view, pdca_workbooks
from kenpo_pipeline.domain.reporting.presentation import FILLS, STATUSES, evaluation_text, present
from kenpo_pipeline.domain.reporting.workbook import write_workbook
from kenpo_pipeline.warehouse.store import Warehouse
from rendered import cli_rows, markdown_rows, workbook_rows

# One worker builds the module's pipeline once (its tests share it; the last one publishes the year).
pytestmark = pytest.mark.xdist_group("workbook")

# Not marked `warehouse`: what is tested here is the workbook; the reads it makes are covered on
# PostgreSQL by test_evaluation_asset and test_publication (keeps `make test` within its budget).


@pytest.fixture(scope="session")  # session, not module: a worker may run another module's tests in between
def reports(tmp_path_factory, sample_years_snapshot):
    """The sample years (conftest.build_sample_years) with their rankings, three-year views and
    workbooks, once for this module."""
    import shutil

    from kenpo_pipeline.settings import load_settings

    home = tmp_path_factory.mktemp("kenpo")
    shutil.copytree(sample_years_snapshot[0], home, dirs_exist_ok=True)
    settings = load_settings({"KENPO_HOME": str(home), "KENPO_LANDING_SETTLE_SECONDS": "0"})  # files written whole just now
    with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
        for fy in ("2023", "2024"):  # the three-year sheet is read from action_plan_view, materialized first
            dg.materialize([incentive_ranking, action_plan_view, pdca_workbooks], instance=instance,
                           resources=dagster_resources(settings), partition_key=fy)
        # what the UI shows of FY2024's evaluation: the Markdown metadata of its materialization
        evaluated = instance.get_latest_materialization_event(dg.AssetKey("pdca_evaluation")).asset_materialization
    assert evaluated.partition == "2024"
    ui = {key: value.value for key, value in evaluated.metadata.items()}
    return Warehouse(settings.warehouse_url), settings.reports, settings, ui


def visible(wb) -> list[str]:
    return [ws.title for ws in wb.worksheets if ws.sheet_state == "visible"]


def kpi_rows(ws):
    rows = []
    for r in range(4, ws.max_row + 1):
        if ws.cell(r, 2).value and ws.cell(r, 6).value in STATUSES:
            rows.append(r)
    return rows


def test_every_workbook_is_written_with_its_sheets(reports):
    _, folder, *_ = reports
    assert len(list(folder.glob("pdca_FY2024*.xlsx"))) == 48 and len(list(folder.glob("pdca_FY2023*.xlsx"))) == 48
    assert visible(load_workbook(folder / "pdca_FY2024.xlsx")) == ["KPI実績一覧表", "支部別", "月次推移", "3か年計画", "インセンティブ", "根拠", "データ品質", "差戻しリスト"]
    assert visible(load_workbook(folder / "pdca_FY2024_22.xlsx")) == ["KPI実績一覧表", "月次推移", "3か年計画", "インセンティブ", "根拠", "データ品質", "差戻しリスト"]
    for path in sorted(folder.glob("pdca_FY*.xlsx")):  # every written workbook opens and is titled for its scope
        wb = load_workbook(path)
        assert visible(wb)[0] == "KPI実績一覧表" and visible(wb)[-1] == "差戻しリスト"
        assert wb["KPI実績一覧表"].cell(1, 1).value.startswith(("令和5年度 KPI実績一覧表（", "令和6年度 KPI実績一覧表（"))
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["3か年計画"]
    assert [ws.cell(3, c).value for c in (1, 2, 5, 8)] == ["KPI", "FY2024 目標", "FY2025 目標", "FY2026 目標"]
    assert {ws.cell(r, 10).value for r in range(4, ws.max_row + 1)} == {"事業計画未登録"}  # FY2026: no plan yet


@pytest.mark.parametrize("scope", ["00", "04", "13"])
def test_kpi_sheet_equals_the_evaluation_of_its_scope(reports, scope):
    wh, folder, *_ = reports
    name = "pdca_FY2024.xlsx" if scope == "00" else f"pdca_FY2024_{scope}.xlsx"
    ws = load_workbook(folder / name)["KPI実績一覧表"]
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code=scope).sort_values("kpi_order")
    rows = kpi_rows(ws)
    assert len(rows) == len(evaluation)
    for r, e in zip(rows, evaluation.to_dict("records")):
        assert ws.cell(r, 2).value == e["kpi_text"] and ws.cell(r, 3).value == e["target_text"]
        assert ws.cell(r, 6).value == e["status"]
        assert ws.cell(r, 6).fill.fgColor.rgb.endswith(FILLS[e["status"]]) and ws.cell(r, 6).style == e["status"]
        actual = ws.cell(r, 4)
        if pd.notna(e["actual_value"]):
            assert actual.data_type == "n" and actual.value == pytest.approx(e["actual_value"])
            assert actual.number_format.endswith('"%"') == e["actual_text"].endswith("%")
        else:
            assert actual.value.replace("\n", "") == e["actual_text"]  # one value a line (an all_of KPI)
        assert (ws.cell(r, 8).value or "") == present(e).remarks
        if e["status"] == "判定不能":
            assert ws.cell(r, 8).value.startswith(e["reason"]) and e["reason"] != ""
    title = ws.cell(1, 1).value
    assert title.startswith("令和6年度 KPI実績一覧表（") and ("協会全体" in title if scope == "00" else "支部" in title)


@pytest.mark.parametrize("scope, ui_key", [("00", "FY2024_national"), ("04", "FY2024_branch_04")])
def test_workbook_cli_and_ui_show_the_same_rows(reports, capsys, scope, ui_key):
    """The same evaluation rows, drawn three times by the one presentation: the KPI sheet of the
    written workbook, `kenpo`'s evaluation table (as ``kenpo demo`` prints it) and the Markdown the
    Dagster UI shows for the materialization — identical status words, 対目標比 and 備考."""
    wh, folder, settings, ui = reports
    ws = load_workbook(folder / ("pdca_FY2024.xlsx" if scope == "00" else f"pdca_FY2024_{scope}.xlsx"))["KPI実績一覧表"]
    printed = "\n".join(evaluation_text(scope_evaluation(settings, 2024, scope))).splitlines()  # what `kenpo show` prints
    (ui_table,) = [v for k, v in ui.items() if k == ui_key or k.startswith(ui_key + " ")]  # "FY2024_branch_04 青森支部"
    in_workbook, on_the_command_line, in_the_ui = workbook_rows(ws), cli_rows(printed), markdown_rows(ui_table)
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code=scope).sort_values("kpi_order")
    assert len(in_workbook) == len(evaluation) > 5
    assert [(r[1], r[2], r[3]) for r in in_workbook] == [(r[1], r[2], r[3]) for r in on_the_command_line] == [(r[1], r[2], r[3]) for r in in_the_ui]
    assert [r[1] for r in in_workbook] == evaluation["status"].tolist()
    assert any(r[2] for r in in_workbook)  # some rows have a ratio: the comparison is not vacuous


def test_print_settings_and_frozen_header(reports):
    _, folder, *_ = reports
    wb = load_workbook(folder / "pdca_FY2024.xlsx")
    for ws in (s for s in wb.worksheets if s.sheet_state == "visible"):  # the identity sheet is never printed
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
        assert ws.print_title_rows
        if ws.title in ("支部別", "インセンティブ"):  # as many pages as needed at a readable scale, not one page at 30–45%
            assert not ws.sheet_properties.pageSetUpPr.fitToPage and int(ws.page_setup.scale) >= 70
        else:  # one page wide; 月次推移 prints at a fixed scale on its grid of page breaks (fit-to-page would void them)
            assert ws.sheet_properties.pageSetUpPr.fitToPage == (ws.title != "月次推移")
        # the page header and footer (tests/test_printing.py reads them back from the PDF)
        assert ws.oddHeader.left.text == "令和6年度 KPI実績一覧表（協会全体）" and ws.oddHeader.right.text == ws.title
        assert ws.oddFooter.left.text.startswith("作成日時：") and ws.oddFooter.center.text == "&P / &N ページ"
        assert ws.oddFooter.right.text == "データ基準月：令和7年3月　再計算（未公表）"
    assert wb["KPI実績一覧表"].freeze_panes == "C4" and wb["KPI実績一覧表"].print_title_rows == "$3:$3"
    assert [b.id for b in wb["月次推移"].row_breaks.brk] and wb["月次推移"].page_setup.scale == 100
    # the ranking: 順位・支部・合計点・区分 on every page across, an indicator's six columns never split
    incentive = wb["インセンティブ"]
    assert incentive.print_title_cols == "$A:$D" and [incentive.cell(4, c).value for c in range(1, 5)] == ["順位", "支部", "合計点", "区分"]
    breaks = [b.id for b in incentive.col_breaks.brk]
    assert breaks and all(incentive.cell(4, b + 1).value.endswith(" 実績") or incentive.cell(4, b + 1).value == "備考" for b in breaks)


# A4 landscape less the 0.4-inch margins, in points; a column of width w prints about 5.25·w + 3.75 points wide
PRINTABLE_WIDTH = 784.0


def printed_width(ws, last_col: int) -> float:
    from openpyxl.utils import get_column_letter

    return sum(ws.column_dimensions[get_column_letter(c)].width * 5.25 + 3.75 for c in range(1, last_col + 1))


def printed_scale(ws) -> float:
    """The scale at which the print area fits one A4 landscape page wide and two down (0.75-inch
    top and bottom margins), from the columns' widths and the rows' heights."""
    last = print_area_columns(ws)
    total = sum(ws.row_dimensions[r].height or 15 for r in range(1, ws.max_row + 1))
    return min(1.0, PRINTABLE_WIDTH / printed_width(ws, last), 2 * (595.0 - 2 * 0.75 * 72) / total)


def print_area_columns(ws) -> int:
    from openpyxl.utils import column_index_from_string

    (area,) = ws.print_area if isinstance(ws.print_area, list) else [ws.print_area]
    last = area.split(":")[-1].replace("$", "").rstrip("0123456789")
    return column_index_from_string(last.split("!")[-1])


@pytest.mark.parametrize("name", ["pdca_FY2024.xlsx", "pdca_FY2024_22.xlsx", "pdca_FY2024_04.xlsx", "pdca_FY2023_22.xlsx"])
def test_kpi_table_fits_a4_width_at_70_percent_with_rows_sized_to_their_text(reports, name):
    """Issue 12 §4: one page wide at ≥ 70% (the 記入欄 columns lie outside the print area), rows no
    taller than their text, section labels that name the plan's pillar, each once, in plan order,
    the previous year named, numbers that cannot wrap."""
    wh, folder, *_ = reports
    ws = load_workbook(folder / name)["KPI実績一覧表"]
    ps = ws.page_setup
    assert ws.sheet_properties.pageSetUpPr.fitToPage and int(ps.fitToWidth) == 1 and int(ps.fitToHeight) == 2
    last = print_area_columns(ws)
    titles = [ws.cell(3, c).value for c in range(1, ws.max_column + 1)]
    assert "要因分析（記入欄）" in titles and titles.index("要因分析（記入欄）") + 1 > last  # editable columns: not printed
    assert printed_scale(ws) >= 0.70  # the scale that one page wide and two down need
    fy = int(name[7:11])
    assert titles[6].replace("\n", "") == f"＜参考＞前年度実績（{'令和5年度' if fy == 2024 else '令和4年度'}）"
    rows = kpi_rows(ws)
    assert len(rows) >= 10
    # rows sized to their text: a KPI row whose texts all fit on one line is one line high
    from kenpo_pipeline.domain.reporting.workbook.cells import height_for, lines_needed
    from openpyxl.utils import get_column_letter

    widths = {c: ws.column_dimensions[get_column_letter(c)].width for c in range(1, last + 1)}
    merged_first = {r.min_row for r in ws.merged_cells.ranges if r.min_col == 1}
    blocks = {r: (m.min_row, m.max_row) for m in ws.merged_cells.ranges if m.min_col == 1 for r in range(m.min_row, m.max_row + 1)}
    for r in rows:
        height = ws.row_dimensions[r].height
        need = height_for(max(lines_needed(ws.cell(r, c).value, widths[c]) for c in range(2, last + 1)
                              if ws.cell(r, c).value and ws.cell(r, c).data_type == "s"))
        first, end = blocks.get(r, (r, r))
        label = height_for(lines_needed(ws.cell(first, 1).value, widths[1]))  # the section label shares its rows' height
        assert height >= need - 0.1
        assert height <= max(need, label / (end - first + 1) + need) + 0.1, (r, height, need, label)
    # section labels: each once (merged over its rows), naming the pillar, in the plan's order
    labels = [ws.cell(r, 1).value for r in rows if ws.cell(r, 1).value and (r in merged_first or ws.cell(r, 1).coordinate not in ws.merged_cells)]
    assert len(labels) == len(set(labels))
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=fy, branch_code=name[12:14] if "_" in name[7:] else "00").sort_values("kpi_order")
    assert labels == list(dict.fromkeys(evaluation["section"]))
    assert all(label.startswith(("1. ", "2. ", "3. ", "基盤的", "戦略的", "組織体制")) for label in labels), labels
    # numbers (実績, 前年度実績) are numbers in a style that never wraps, in columns wide enough for their text
    for r in rows:
        for c in (4, 7):
            cell = ws.cell(r, c)
            if cell.data_type == "n":
                assert cell.style == "数値" and not cell.alignment.wrap_text and cell.alignment.shrink_to_fit


def test_national_kpi_table_has_no_48_point_rows_for_one_line_text(reports):
    _, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["KPI実績一覧表"]
    from kenpo_pipeline.domain.reporting.workbook.cells import height_for

    heights = [ws.row_dimensions[r].height for r in kpi_rows(ws)]
    assert sum(h <= height_for(2) for h in heights) >= 4  # one- and two-line rows are one or two lines high
    assert max(heights) <= height_for(6)  # the tallest: a KPI sentence of five lines and more
    assert int(ws.page_setup.fitToHeight) == 2 and printed_scale(ws) >= 0.70  # ≤ 2 pages at 70% or more


def test_a_branch_kpi_sheet_shows_where_the_branch_stands(reports):
    """Issue 15 §4: 全国値 and 順位 n/47 on each KPI of a branch's workbook, equal to branch_comparison."""
    wh, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024_22.xlsx")["KPI実績一覧表"]
    titles = [ws.cell(3, c).value for c in range(1, ws.max_column + 1)]
    national_col, rank_col = titles.index("全国値") + 1, titles.index("順位（47支部中）") + 1
    comparison = wh.read_table("branch_comparison", fiscal_year=2024)
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code="22").sort_values("kpi_order")
    checked = 0
    for r, e in zip(kpi_rows(ws), evaluation.to_dict("records")):
        measures = [m for m in (e["measure"] or "").split(",") if m]
        if len(measures) != 1:
            continue
        c = comparison[(comparison["measure"] == measures[0]) & (comparison["branch_code"] == "22")
                       & (comparison["as_of_month"] == (e["judgement_month"] or e["as_of_month"]))]
        if c.empty or pd.isna(c.iloc[0]["rank"]):
            continue
        c = c.iloc[0]
        assert ws.cell(r, rank_col).value.startswith(f"順位 {int(c['rank'])}/{int(c['ranked_of'])}")
        assert ws.cell(r, national_col).value == pytest.approx(c["national_value"])
        checked += 1
    assert checked >= 10 and int(comparison["ranked_of"].max()) == 47
    national = load_workbook(folder / "pdca_FY2024.xlsx")["KPI実績一覧表"]
    assert "順位（47支部中）" not in [national.cell(3, c).value for c in range(1, national.max_column + 1)]


def test_charts_one_per_kpi_with_target_series(reports):
    wh, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["月次推移"]
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code="00")
    assert len(ws._charts) == evaluation["measure"].notna().sum()
    numeric = evaluation[evaluation["target_value"].notna() & ~evaluation["measure"].fillna("").str.contains(",")]
    # 「全支部で…」 KPIs judged on a count of branches chart that count against the 47
    counts = evaluation[evaluation["rule"].isin(["branch_floor", "every_month", "done"]) & evaluation["actual_text"].str.contains("支部")]
    two_series = [c for c in ws._charts if len(c.series) == 2]
    assert len(counts) >= 1 and len(two_series) == len(numeric) + len(counts) and all(1 <= len(c.series) <= 2 for c in ws._charts)
    for chart in ws._charts:  # the value axis is bounded (no automatic 99.96–100.01% range) and shown
        assert chart.y_axis.scaling.min is not None and chart.y_axis.scaling.max > chart.y_axis.scaling.min and chart.y_axis.delete is False
    # a branch: every KPI with a number to reach has its target line, small counts included (実施 = 1, 毎月 = the months so far)
    ws = load_workbook(folder / "pdca_FY2024_22.xlsx")["月次推移"]
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code="22")
    single = evaluation[(evaluation["measure"].fillna("") != "") & ~evaluation["measure"].fillna("").str.contains(",")]
    with_target = single[single["target_value"].notna() | single["rule"].isin(["small_count", "done", "every_month"])]
    assert sum(len(c.series) == 2 for c in ws._charts) == len(with_target)
    for r in with_target[with_target["rule"].isin(["done", "every_month"])].itertuples():
        row = next(i for i in range(2, ws.max_row + 1) if ws.cell(i, 1).value == r.kpi_text)
        targets = [ws.cell(row + 1 + m, 3).value for m in range(1, 13)]
        assert targets == ([1] * 12 if r.rule == "done" else list(range(1, 13)))


@pytest.mark.parametrize("values, unit, count, expected", [
    ([99.96, 99.98, 100.0, 100.01], "%", False, (97.0, 103.0, 1.0)),  # a 0.02-point dip is not a collapse
    ([99.96, 99.98, 99.99, 100.0], "%", False, (95.0, 100.0, 1.0)),  # at most 100% never shows more than 100%
    ([95.5, 96.3, 96.6, 96.0], "%", False, (93.0, 99.0, 1.0)),
    ([1.2, 15.3, 30.3, 30.3], "%", False, (0.0, 40.0, 10.0)),
    ([6.8, 9.2, 15.0], "%", False, (6.0, 16.0, 2.0)),
    ([44, 45, 45, 47], "支部", True, (0.0, 50.0, 10.0)),  # a count of branches starts at none
    ([113017, 128078, 100000], "事業所", False, (0.0, 150000.0, 50000.0)),
    ([6104, 6737, 7042], "円", False, (0.0, 8000.0, 2000.0)),
    ([0, 0, 1, 1], "件", False, (0.0, 2.0, 1.0)),  # whole counts: no 0.2 steps
])
def test_value_axis_bounds_do_not_exaggerate(values, unit, count, expected):
    from kenpo_pipeline.domain.reporting.workbook.monthly_sheet import axis_bounds

    assert axis_bounds(values, unit, count) == expected


def test_branch_sheet_colours_each_branch_under_its_plan(reports):
    wh, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["支部別"]
    assert ws.cell(6 + 4, 1).value == "宮城支部" and ws.cell(6 + 4, 2).value == "支部"
    assert ws.cell(6 + 13, 2).value == "本部目標を適用"
    assert ws.cell(54, 1).value == "達成支部数" and ws.cell(54, 3).data_type == "n"


def branch_sheet_columns(ws) -> dict[str, int]:
    """KPI column title (row 3, merged over 実績 | 順位) → the column of its 実績."""
    return {ws.cell(3, c).value: c for c in range(3, ws.max_column + 1) if ws.cell(3, c).value and ws.cell(4, c).value == "実績"}


def test_branch_sheet_prints_on_pages_with_target_national_and_ranks(reports):
    """Issue 12 §5 / 15 §4: 75% on as many pages as needed, the branch column and the header rows
    repeated; 目標 and 全国 rows and each branch's rank equal the plan and branch_comparison; 「－」 for
    association-only KPIs; every value column wide enough for its widest value."""
    from openpyxl.utils import get_column_letter

    from kenpo_pipeline.domain.reporting.workbook.cells import display_width

    wh, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["支部別"]
    assert int(ws.page_setup.scale) >= 70 and not ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_cols == "$A:$B" and ws.print_title_rows == "$3:$6"
    assert ws.col_breaks.count >= 1  # more than one page across, breaking between KPIs
    for brk in ws.col_breaks.brk:  # never between a KPI's actual and its rank
        assert ws.cell(4, brk.id + 1).value == "実績"
    assert [ws.cell(r, 1).value for r in (5, 6, 7)] == ["目標", "全国", "北海道支部"] and ws.cell(5, 2).value == "本部の事業計画"
    pages_across = [0] + [b.id for b in ws.col_breaks.brk] + [ws.max_column]
    per_page = [(b - a) // 2 for a, b in zip(pages_across, pages_across[1:])]
    per_page[0] -= 1  # the first page's count includes the 支部 and 計画 columns
    assert max(per_page) - min(per_page) <= 1  # the KPIs shared out evenly, no page with one lonely KPI
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024)
    comparison = wh.read_table("branch_comparison", fiscal_year=2024)
    national = evaluation[evaluation["branch_code"] == "00"].sort_values("kpi_order")
    columns = branch_sheet_columns(ws)
    assert list(columns.values()) == [3 + 2 * i for i in range(len(columns))]
    ranks_checked = 0
    for e in national.to_dict("records"):
        col = next(c for c in columns.values() if ws.cell(5, c).value == present(e).target_text)
        assert ws.cell(5, col).value == present(e).target_text  # the target in the KPI table's words
        measures = [m for m in (e["measure"] or "").split(",") if m]
        month = e["judgement_month"] or e["as_of_month"]
        one = comparison[(comparison["measure"] == (measures[0] if measures else "")) & (comparison["as_of_month"] == month)]
        if len(measures) == 1 and len(one):
            assert ws.cell(6, col).value == pytest.approx(one["national_value"].dropna().iloc[0])
            for i, code in enumerate([f"{n:02d}" for n in range(1, 48)], start=7):
                branch_row = evaluation[(evaluation["branch_code"] == code) & (evaluation["kpi_key"] == e["kpi_key"])]
                if branch_row.empty or branch_row.iloc[0]["measure"] != measures[0] or (branch_row.iloc[0]["judgement_month"] or branch_row.iloc[0]["as_of_month"]) != month:
                    continue
                c = one[one["branch_code"] == code]
                if len(c) and pd.notna(c.iloc[0]["rank"]):
                    assert ws.cell(i, col + 1).value == int(c.iloc[0]["rank"]) and ws.cell(i, col + 1).number_format == '0"位"'
                    ranks_checked += 1
    assert ranks_checked >= 47 * 5
    # association-only KPIs: no branch is judged, 達成支部数 reads 「－」, not 「0支部」
    judged_keys = set(evaluation[evaluation["branch_code"] != "00"]["kpi_key"])
    association = national[~national["kpi_key"].isin(judged_keys)]
    assert len(association)  # FY2024: ホームページアクセス数, バイオシミラー
    for e in association.to_dict("records"):
        col = next(c for c in columns.values() if ws.cell(5, c).value == present(e).target_text)
        assert ws.cell(54, col).value == "－"
    for col in columns.values():
        if ws.cell(54, col).value != "－":
            assert ws.cell(54, col).data_type == "n"
    # no value loses a digit: each value column is as wide as its widest value as the evaluation words it
    by_label = {ws.cell(3, c).value: c for c in columns.values()}
    from kenpo_pipeline.domain.reporting.workbook.branch_sheet import _labels

    labels = _labels(national, evaluation[evaluation["branch_code"] != "00"])
    for e in evaluation[evaluation["branch_code"] != "00"].to_dict("records"):
        col = by_label[labels[e["kpi_key"]]]
        assert ws.column_dimensions[get_column_letter(col)].width >= display_width(e["actual_text"]) + 2


def test_a_year_without_a_plan_says_so(reports):
    _, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2023_13.xlsx")["KPI実績一覧表"]
    assert ws.cell(2, 1).value.startswith("事業計画未登録")
    assert any(ws.cell(r, 1).value == "生活習慣病予防健診実施率" for r in range(5, ws.max_row + 1))


def test_quality_sheet_lists_every_feed_month(reports):
    wh, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["データ品質"]
    assert ws.max_row - 3 == 48 and ws.cell(4, 9).value == "合格" and len(ws.cell(4, 4).value) == 12
    assert ws.cell(4, 2).value == "現金給付 決定実績" and ws.cell(4, 3).value == "202404.csv"  # Japanese names, no server folders
    # 読込日時 in Japan time, the zone named (the warehouse holds UTC)
    assert ws.cell(3, 11).value == "読込日時（日本時間）"
    loads = wh.loads()
    from kenpo_pipeline.domain.calendar import fiscal_months

    first = loads[loads["month"].isin(fiscal_months(2024))].sort_values(["month", "feed", "load_id"]).iloc[0]
    utc = pd.Timestamp(first["loaded_at"])
    utc = utc.tz_localize("UTC") if utc.tzinfo is None else utc
    assert ws.cell(4, 11).value == utc.tz_convert("Asia/Tokyo").strftime("%Y-%m-%d %H:%M")
    mine = load_workbook(folder / "pdca_FY2024_22.xlsx")["データ品質"]
    assert mine.cell(3, 12).value == "うちこの支部の隔離行数" and mine.cell(4, 12).value == 0
    assert "静岡支部" in mine.cell(1, 1).value


def test_evidence_sheet_numbers_are_the_warehouse_s(reports):
    """根拠: a KPI's numerator and denominator are kpi_actuals' at its judgement month, they give its
    実績, and the loads listed are the current loads of its feeds."""
    wh, folder, *_ = reports
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code="22")
    row = evaluation[evaluation["measure"] == "lifestyle_screening_rate"].iloc[0]
    actual = wh.read_table("kpi_actuals", fiscal_year=2024, branch_code="22", measure="lifestyle_screening_rate")
    at = actual[actual["as_of_month"] == (row["judgement_month"] or row["as_of_month"])].iloc[0]
    ws = load_workbook(folder / "pdca_FY2024_22.xlsx")["根拠"]
    cells = [[c.value for c in r] for r in ws.iter_rows()]
    start = next(i for i, r in enumerate(cells) if r[0] == row["kpi_text"])
    block = cells[start : start + 30]
    num = next(r for r in block if r[0] == "分子")
    den = next(r for r in block if r[0] == "分母")
    assert (num[2], den[2]) == (at["numerator"], at["denominator"])
    assert round(num[2] / den[2] * 100, 1) == round(at["value"], 1)
    loads = wh.loads()
    screening_ids = set(loads[(loads["feed"] == "screenings") & (loads["status"] == "loaded") & loads["month"].str.startswith(("2024", "2025"))]["load_id"])
    listed = {r[4] for r in block if isinstance(r[4], int)}
    assert listed and listed <= screening_ids


def test_text_that_looks_like_a_formula_is_stored_as_text(tmp_path):
    evaluation = pd.DataFrame([{
        "fiscal_year": 2024, "branch_code": "00", "plan": "本部", "kpi_id": "x", "kpi_key": "x", "section": '=HYPERLINK("http://x")',
        "kpi_text": "=SUM(1,2)", "target_text": "+1", "target_value": None, "actual_value": None, "actual_text": "@A1",
        "status": "判定不能", "reason": "-1", "prior_year_value": None, "prior_year_text": "", "reference_text": "",
        "as_of_month": "2025-03", "kpi_order": 1, "measure": None, "judgement_month": "2025-03", "warnings": "",
    }])
    empty = pd.DataFrame(columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"])
    loads = pd.DataFrame(columns=["load_id", "feed", "month", "path", "sha256", "rows_read", "rows_loaded", "rows_quarantined", "status", "reason", "loaded_at", "warnings"])
    path = write_workbook(tmp_path, 2024, "00", evaluation, empty, loads, "t")
    ws = load_workbook(path)["KPI実績一覧表"]
    for col, text in ((1, '=HYPERLINK("http://x")'), (2, "=SUM(1,2)"), (3, "+1"), (4, "@A1"), (8, "-1")):
        assert ws.cell(4, col).value == text and ws.cell(4, col).data_type == "s"
        assert ws.cell(4, col).quotePrefix  # Excel keeps it text when the cell is edited or saved as CSV
    assert not ws.cell(4, 6).quotePrefix  # 判定不能: plain text needs no prefix


def test_kenpo_report_usage(kenpo_env, capsys):
    assert main(["report", "--fiscal-year", "2024", "--branch", "99"]) == 2
    assert "支部コード 00〜47" in capsys.readouterr().err


def test_the_ui_shows_the_national_evidence(reports):
    *_, ui = reports
    text = ui["FY2024_national_evidence"].replace("\\", "")
    assert "分子" in text and "分母" in text and "load_id" in text and "/landing/" not in text


def test_branch_comparison_ranks_every_branch_on_each_measure(reports):
    wh, *_ = reports
    table = wh.read_table("branch_comparison", fiscal_year=2024)
    assert len(table) and set(table["branch_code"]) == {f"{i:02d}" for i in range(1, 48)}
    one = table[table["measure"] == "lifestyle_screening_rate"]
    ranked = one.dropna(subset=["rank"])
    assert sorted(ranked["rank"].astype(int))[0] == 1 and set(one["ranked_of"]) == {len(ranked)}
    best = ranked.sort_values("rank").iloc[0]
    assert best["value"] == ranked["value"].max()  # higher is better for a screening rate
    assert one["national_value"].notna().all()


def test_commentary_round_trip_and_finalize(reports, tmp_path):
    """Written in the workbook as a person would, imported, shown in the next workbook; finalize
    refuses while a missed KPI lacks 要因分析; the published workbook keeps the text it was published with.
    (Last in the module: it publishes FY2024.)"""
    import shutil

    from kenpo_pipeline.app import AppError
    from kenpo_pipeline.app.commands import comments_import, finalize
    from kenpo_pipeline.domain.reporting.commentary import FIELD_NAMES, changes_to_store, read_commentary_workbook
    from kenpo_pipeline.warehouse.commentary import latest_commentary, store_commentary

    wh, folder, settings, _ = reports
    returned = tmp_path / "pdca_FY2024_22.xlsx"
    shutil.copy(folder / "pdca_FY2024_22.xlsx", returned)
    wb = load_workbook(returned)
    ws = wb["KPI実績一覧表"]
    titles = [ws.cell(3, c).value for c in range(1, ws.max_column + 1)]
    cause = titles.index("要因分析（記入欄）") + 1
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code="22")
    missed = evaluation[evaluation["status"] == "未達成"].sort_values("kpi_order")
    assert len(missed)
    first = missed.iloc[0]
    row = next(r for r in range(4, ws.max_row + 1) if ws.cell(r, 2).value == first["kpi_text"])
    ws.cell(row, cause, "受診勧奨の開始が遅れたため。")
    wb.save(returned)

    imported = comments_import(settings, str(returned), "静岡支部")
    assert (imported.fiscal_year, imported.branch, imported.stored, imported.conflicts) == (2024, "22", 1, [])

    dg.materialize([pdca_workbooks], resources=dagster_resources(settings), partition_key="2024",
                   run_config={"ops": {"pdca_workbooks": {"config": {"branches": ["22"], "out_dir": str(tmp_path / "again")}}}})
    again = load_workbook(tmp_path / "again" / "pdca_FY2024_22.xlsx")["KPI実績一覧表"]
    assert again.cell(row, cause).value == "受診勧奨の開始が遅れたため。"

    with pytest.raises(AppError) as refused:
        finalize(settings, 2024, "企画部", "", allow_missing_commentary=False)
    assert "要因分析がありません" in str(refused.value) and f"静岡支部：{first['kpi_text']}" not in str(refused.value)
    assert wh.latest_publication(2024)[0] is None  # nothing published

    # everyone else fills theirs (as their imports would), then finalize succeeds
    everything = wh.read_table("pdca_evaluation", fiscal_year=2024)
    latest = latest_commentary(wh, 2024)
    have = set(zip(latest["branch_code"], latest["kpi_id"]))
    for code, rows in everything[everything["status"] == "未達成"].groupby("branch_code"):
        todo = rows[[(code, k) not in have for k in rows["kpi_id"]]]
        if todo.empty:
            continue
        entries = pd.DataFrame({"kpi_id": todo["kpi_id"], "base_id": None, **{f: "" for f in FIELD_NAMES}}).assign(cause_analysis="要因を記入")
        plan = changes_to_store(entries, latest_commentary(wh, 2024, code))
        fake = read_commentary_workbook(returned)
        fake.identity = type(fake.identity)(2024, code, fake.identity.generated_at, fake.identity.sheet, fake.identity.first_col, fake.identity.rows)
        store_commentary(wh, fake, plan, "test", "0" * 64)
    record, _ = finalize(settings, 2024, "企画部", "", allow_missing_commentary=False)
    assert record["version"] == 1

    # a later import changes the text: the published workbook keeps what was published
    wb = load_workbook(tmp_path / "again" / "pdca_FY2024_22.xlsx")
    wb["KPI実績一覧表"].cell(row, cause, "公表後に書き換えた要因分析")
    wb.save(tmp_path / "later.xlsx")
    assert comments_import(settings, str(tmp_path / "later.xlsx"), "静岡支部").stored == 1
    dg.materialize([pdca_workbooks], resources=dagster_resources(settings), partition_key="2024",
                   run_config={"ops": {"pdca_workbooks": {"config": {"branches": ["22"], "out_dir": str(tmp_path / "published")}}}})
    published = load_workbook(tmp_path / "published" / "pdca_FY2024_22.xlsx")["KPI実績一覧表"]
    titles = [published.cell(3, c).value for c in range(1, published.max_column + 1)]  # the published sheet adds 再計算との差異
    assert published.oddFooter.right.text == "データ基準月：令和7年3月　公表版（第1版）"  # every page says it is the published version
    assert published.cell(row, titles.index("要因分析（記入欄）") + 1).value == "受診勧奨の開始が遅れたため。"
