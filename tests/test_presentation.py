"""One presentation of the evaluation (domain/reporting/presentation.py): status words, 対目標比 and
備考 computed from an evaluation row's numbers and facts, and shown identically by the workbook, the
command line and the UI's Markdown."""

from decimal import Decimal

import pandas as pd
import pytest
from openpyxl import load_workbook

from kenpo_pipeline.domain.kpis.judgement import ACHIEVED, EVALUATION_COLUMNS, MISSED, UNKNOWN
from kenpo_pipeline.domain.reporting.presentation import (
    achievement_ratio,
    evaluation_markdown,
    evaluation_text,
    number_format,
    present,
    remarks,
)
from kenpo_pipeline.domain.reporting.workbook import write_workbook
from rendered import cli_rows, markdown_rows, workbook_rows

BASELINE_WARNING = "計画の前年度値0.334%と前年度実績0.462%が異なるため、前年度実績で判定"


def row(**values) -> dict:
    base = {c: None for c in EVALUATION_COLUMNS}
    base.update({
        "fiscal_year": 2023, "branch_code": "22", "plan": "支部", "section": "① サービス水準の向上", "as_of_month": "2024-03",
        "judgement_month": "2024-03", "reason": "", "warnings": "", "prior_year_text": "", "reference_text": "", "measure": "",
        "projected_text": "", "projected_status": "",
    })
    base.update(values)
    return base


# the rows of a scope, each one case of the presentation
ROWS = [
    # issue 12 item 1: 99.98% against 100% is a miss; truncated, 対目標比 stays below 100%
    row(kpi_id="k1", kpi_key="service_standard", kpi_order=1, kpi_text="サービススタンダードの達成状況を100%とする", rule="absolute", target_op=">=",
        unit="%", display_precision=2, target_text="100.00%以上", target_value=100.0, actual_value=99.98, actual_text="99.98%", status=MISSED),
    # a ≤ target: target ÷ actual
    row(kpi_id="k2", kpi_key="single_bid", kpi_order=2, kpi_text="一者応札の割合を15%以下とする", rule="absolute", target_op="<=", unit="%",
        display_precision=1, target_text="15.0%以下", target_value=15.0, actual_value=16.7, actual_text="16.7%", status=MISSED),
    # issue 12 item 2: the judgement's warning goes into 備考
    row(kpi_id="k3", kpi_key="review", kpi_order=3, kpi_text="査定率について対前年度以上とする（0.334%以上）", rule="prior_year", target_op=">=",
        unit="%", display_precision=3, target_text="前年度(0.462%)以上", target_value=0.462, actual_value=0.452, actual_text="0.452%",
        prior_year_value=0.462, prior_year_text="0.462%", status=MISSED, warnings=BASELINE_WARNING),
    # judged at one decimal (70.0 ≥ 70.0) on a value shown with two: an achievement is never below 100%
    row(kpi_id="k4", kpi_key="screening", kpi_order=4, kpi_text="健診実施率を70.0%以上とする", rule="absolute", target_op=">=", unit="%",
        display_precision=2, target_text="70.0%以上", target_value=70.0, actual_value=69.96, actual_text="69.96%", status=ACHIEVED),
    # 判定不能: its reason, then the judgement's warnings
    row(kpi_id="k5", kpi_key="card", kpi_order=5, kpi_text="保険証回収率を対前年度以上とする", rule="prior_year", target_op=">=", unit="%",
        display_precision=2, target_text="前年度(89.00%)以上", target_value=89.0, status=UNKNOWN, reason="実績のデータがありません",
        warnings="前年度実績を算出できないため、計画の前年度値89.00%で判定；計画の前年度値89.00%と前年度実績88.00%が異なるため、前年度実績で判定"),
    # no comparison on the row (a rule without one): no ratio, whatever its texts say
    row(kpi_id="k6", kpi_key="monthly", kpi_order=6, kpi_text="毎月実施する", rule="every_month", target_op=None, unit="回",
        display_precision=0, target_text="毎月（12か月）以上", target_value=12.0, actual_value=12.0, actual_text="12か月", status=ACHIEVED),
]


def test_ratio_is_truncated_and_never_crosses_100_percent_against_the_status():
    shown = {r["kpi_id"]: present(r) for r in ROWS}
    assert shown["k1"].ratio == Decimal("0.999") and shown["k1"].ratio_text == "99.9%"  # 0.9998, not 100.0%
    assert shown["k2"].ratio_text == "89.8%"  # 15.0 ÷ 16.7 = 0.8982…
    assert shown["k3"].ratio_text == "97.8%"  # 0.452 ÷ 0.462 = 0.97835…, not 97.9%
    assert shown["k4"].ratio_text == "100.0%"  # 達成 (judged at one decimal): not 99.9%
    assert shown["k5"].ratio is None and shown["k6"].ratio is None
    assert achievement_ratio(row(target_op=">=", target_value=100.0, actual_value=100.0, status=ACHIEVED)) == Decimal("1.000")
    assert achievement_ratio(row(target_op=">=", target_value=0.0, actual_value=5.0, status=ACHIEVED)) is None  # no divisor


def test_ratio_reads_the_comparison_from_the_row_not_from_its_text():
    """``target_op`` decides; the words 以上 / 以下 in the target text are never read."""
    at_most = row(target_op="<=", target_text="前年度(0.54%)以上", target_value=0.54, actual_value=0.60, status=MISSED)
    assert present(at_most).ratio_text == "90.0%"  # 0.54 ÷ 0.60, as the comparison says
    unknown_op = row(target_op=None, target_text="70.0%以上", target_value=70.0, actual_value=71.0, status=ACHIEVED)
    assert present(unknown_op).ratio is None


def test_values_are_numbers_with_the_rows_unit_and_precision():
    k3 = present(ROWS[2])
    assert (k3.actual, k3.prior, k3.number_format) == (0.452, 0.462, '0.000"%"')
    assert number_format("円", 0) == '#,##0"円"' and number_format("日", 2) == '#,##0.00"日"' and number_format(None, None) == "#,##0"
    manual = present(row(rule="manual", actual_text="実施", status=ACHIEVED))
    assert manual.actual is None and manual.actual_text == "実施"


def test_remarks_hold_the_reason_of_an_unknown_row_and_the_judgements_warnings():
    assert remarks(ROWS[2]) == BASELINE_WARNING
    assert remarks(ROWS[4]) == (
        "実績のデータがありません；前年度実績を算出できないため、計画の前年度値89.00%で判定；計画の前年度値89.00%と前年度実績88.00%が異なるため、前年度実績で判定"
    )
    assert remarks(row(status=MISSED, reason="should not show", warnings="")) == ""  # a reason is said for 判定不能 only


def test_workbook_cli_and_ui_show_the_same_status_ratio_and_remarks(tmp_path):
    table = pd.DataFrame(ROWS, columns=EVALUATION_COLUMNS)
    actuals = pd.DataFrame(columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"])
    loads = pd.DataFrame(columns=["load_id", "feed", "month", "path", "sha256", "rows_read", "rows_loaded", "rows_quarantined", "status", "reason", "loaded_at", "warnings"])
    ws = load_workbook(write_workbook(tmp_path, 2023, "22", table, actuals, loads, "静岡支部事業計画"))["KPI実績一覧表"]
    in_workbook = workbook_rows(ws)
    on_the_command_line = cli_rows(evaluation_text(table))
    in_the_ui = markdown_rows(evaluation_markdown(table))
    expected = [(r["kpi_text"], present(r).status, present(r).ratio_text, present(r).remarks) for r in ROWS]
    assert in_workbook == on_the_command_line == in_the_ui == expected
    assert [r[2] for r in in_workbook] == ["99.9%", "89.8%", "97.8%", "100.0%", "", ""]
    assert in_workbook[2][3] == BASELINE_WARNING


@pytest.mark.parametrize("actual, target, status, text", [
    (99.98, 100.0, MISSED, "99.9%"), (99.999, 100.0, MISSED, "99.9%"), (100.0, 100.0, ACHIEVED, "100.0%"), (70.06, 70.0, ACHIEVED, "100.0%"),
    (70.07, 70.0, ACHIEVED, "100.1%"), (0.0, 50.0, MISSED, "0.0%"),
])
def test_ratio_examples(actual, target, status, text):
    assert present(row(target_op=">=", target_value=target, actual_value=actual, status=status)).ratio_text == text


def test_the_ui_branch_matrix_has_every_branch_and_the_plans_kpis_in_order():
    """Issue 12 §13: every branch has a row, on one line (the KPI columns are numbered, so the table
    stays narrow), whichever plan applies to it; the KPIs are in the plan's order with their Japanese
    labels; the national value is not a branch."""
    from kenpo_pipeline.domain.reference import branch_codes, branch_name
    from kenpo_pipeline.domain.reporting.presentation import branch_matrix_markdown
    from rendered import _UNESCAPED_BAR, _unescape

    def kpi(code, plan, key, order, measure_id, status):
        return row(branch_code=code, plan=plan, kpi_id=f"{code}-{key}", kpi_key=key, kpi_order=order, measure=measure_id,
                   kpi_text=f"{key}の文", status=status, actual_text="1", target_text="1")

    table = pd.DataFrame([
        kpi("00", "本部", "single_bid", 18, "single_bid_rate", ACHIEVED), kpi("00", "本部", "postal_rate", 2, "postal_rate", MISSED),
        kpi("22", "支部", "postal_rate", 2, "postal_rate", ACHIEVED), kpi("22", "支部", "single_bid", 18, "single_bid_rate", MISSED),
        kpi("22", "支部", "own_kpi", 7, "", UNKNOWN),
        kpi("13", "本部目標を適用", "postal_rate", 2, "postal_rate", ACHIEVED), kpi("13", "本部目標を適用", "single_bid", 18, "single_bid_rate", ACHIEVED),
    ])
    md = branch_matrix_markdown(table)
    tables = [[line for line in block.splitlines() if line.startswith("|")] for block in md.split("\n\n")]
    grid, legend = [[[_unescape(c) for c in _UNESCAPED_BAR.split(line)[1:-1]] for line in t] for t in tables if t]
    assert grid[0] == ["支部", "適用する計画", "1", "2", "3"]
    # the national plan's order, then the KPIs only a branch's own plan has
    assert [r[1:] for r in legend[2:]] == [["郵送化率"], ["一般競争入札に占める一者応札案件の割合"], ["own_kpiの文"]]
    body = {r[0]: r[1:] for r in grid[2:]}
    assert list(body)[:-1] == [branch_name(c) for c in branch_codes()] and len(body) == 48  # 47 branches and the count row
    assert body["静岡支部"] == ["支部", "○", "×", "－"]
    assert body["東京支部"] == ["本部目標を適用", "○", "○", ""]  # a branch under the national targets has its row
    assert body["北海道支部"] == ["事業計画未登録", "", "", ""]
    assert body["達成支部数"] == ["", "2", "1", "0"]
    assert "協会全体" not in body
