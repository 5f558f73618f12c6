"""インセンティブ制度 (issue 14): the ranking method on numbers worked out by hand, the scoring files and
their check, and the tables a branch reads.

Expected deviation scores are computed here from the definition of a deviation score (偏差値 = 50 +
10 × (x − mean) / population standard deviation), never with the code under test."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from kenpo_pipeline.domain.calendar import fiscal_months
from kenpo_pipeline.domain.kpis.catalog import (
    IncentiveIndicator,
    IncentiveScheme,
    load_catalogs,
    load_incentive_schemes,
)
from kenpo_pipeline.domain.kpis.incentive import ranking_table, score
from kenpo_pipeline.domain.kpis.measures import MEASURES_BY_ID
from kenpo_pipeline.domain.kpis.projection import project
from kenpo_pipeline.domain.reference import branch_codes, branch_name
from kenpo_pipeline.domain.reporting import incentive as shown
from kenpo_pipeline.settings import ASSETS_DIR

CATALOGS = ASSETS_DIR / "catalogs"


def hand_deviation(xs: list[float]) -> list[float]:
    """The definition: 50 + 10 × (x − mean) / σ, σ the population standard deviation (÷ n)."""
    mean = sum(xs) / len(xs)
    sigma = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
    return [50 + 10 * (x - mean) / sigma for x in xs]


def hand_ranks(totals: dict[str, float]) -> dict[str, int]:
    """1 + the number of branches with a strictly higher total."""
    return {b: 1 + sum(1 for o in totals.values() if o > t + 1e-9) for b, t in totals.items()}


# Two indicators with unequal weights, to show that every weight is applied.
SMALL = IncentiveScheme(
    fiscal_year=2024, path=Path("FY2024.yaml"), title="", source="", status="案", rewarded_branches=3,
    indicators=(
        IncentiveIndicator("a", "指標A", "specific_screening_rate", weight=2.0, level_weight=0.5, improvement_weight=0.5),
        IncentiveIndicator("b", "指標B", "generic_rate_qty", weight=1.0, level_weight=0.7, improvement_weight=0.3),
    ),
)
CODES = ["01", "02", "03", "04", "05", "06", "07", "08"]
A_LEVEL = [2, 4, 4, 4, 5, 5, 7, 9]  # mean 5, σ 2 → 35, 45, 45, 45, 50, 50, 60, 70
A_IMPROVEMENT = [1, 3, -1, 1, 1, 1, -1, 3]
B_LEVEL = [60, 70, 50, 80, 60, 70, 60, 50]
B_IMPROVEMENT = [0.5, -0.5, 1.5, 0.5, 0.5, -1.5, 2.5, 0.5]


def small_inputs(a_level=A_LEVEL, a_improvement=A_IMPROVEMENT, b_improvement=B_IMPROVEMENT, reasons=None):
    reasons = reasons or {}
    rows = []
    for i, b in enumerate(CODES):
        rows.append((b, "a", float(a_level[i]), float(a_level[i] - a_improvement[i]), float(a_improvement[i]), reasons.get((b, "a"), "")))
        rows.append((b, "b", float(B_LEVEL[i]), float(B_LEVEL[i] - b_improvement[i]), float(b_improvement[i]), reasons.get((b, "b"), "")))
    return pd.DataFrame(rows, columns=["branch_code", "indicator", "value", "prior_value", "improvement", "reason"])


def hand_totals(a_level=A_LEVEL, a_improvement=A_IMPROVEMENT, b_improvement=B_IMPROVEMENT, codes=CODES) -> dict[str, float]:
    da, dai = hand_deviation(a_level), hand_deviation(a_improvement)
    db, dbi = hand_deviation([B_LEVEL[CODES.index(c)] for c in codes]), hand_deviation(b_improvement)
    return {b: 2 * (0.5 * da[i] + 0.5 * dai[i]) + 1 * (0.7 * db[i] + 0.3 * dbi[i]) for i, b in enumerate(codes)}


def per_branch(scored: pd.DataFrame) -> pd.DataFrame:
    return scored.drop_duplicates("branch_code").set_index("branch_code")


def test_hand_computed_deviation_scores_give_the_same_totals_and_ranks():
    assert hand_deviation(A_LEVEL) == [35, 45, 45, 45, 50, 50, 60, 70]
    scored = score(small_inputs(), SMALL)
    a = scored[scored["indicator"] == "a"].set_index("branch_code")
    assert a["level_score"].tolist() == pytest.approx([35, 45, 45, 45, 50, 50, 60, 70])
    assert a["improvement_score"].tolist() == pytest.approx(hand_deviation(A_IMPROVEMENT))
    b = scored[scored["indicator"] == "b"].set_index("branch_code")
    assert b["level_score"].tolist() == pytest.approx(hand_deviation(B_LEVEL))
    assert b["indicator_score"].tolist() == pytest.approx(
        [0.7 * x + 0.3 * y for x, y in zip(hand_deviation(B_LEVEL), hand_deviation(B_IMPROVEMENT))])
    expected = hand_totals()
    branches = per_branch(scored)
    assert branches["total"].to_dict() == pytest.approx(expected)
    # by hand: 08 175.1, 02 161.9, 04 157.7, 06 150.1, 07 149.4, 05 148.2, 01 133.2, 03 124.5
    assert branches["rank"].to_dict() == {"08": 1, "02": 2, "04": 3, "06": 4, "07": 5, "05": 6, "01": 7, "03": 8}
    assert branches["rank"].to_dict() == hand_ranks(expected)
    assert branches["rewarded"].to_dict() == {b: b in ("08", "02", "04") for b in CODES}  # the top 3 of this scheme
    assert set(branches["status"]) == {"評価"} and set(branches["branch_reason"]) == {""}
    # each indicator's own rank: indicator A's scores 08 > 07 > 02 > …
    assert a["indicator_rank"].to_dict()["08"] == 1 and a["indicator_rank"].to_dict()["03"] == 8


def test_a_branch_that_improves_one_indicator_moves_up_by_the_expected_amount():
    before = per_branch(score(small_inputs(), SMALL))
    # branch 01 raises indicator A from 2 to 6 this year (previous year 1 unchanged: its improvement
    # rises from +1 to +5); everyone else stays as they were
    level, improvement = [6, *A_LEVEL[1:]], [5, *A_IMPROVEMENT[1:]]
    after = per_branch(score(small_inputs(a_level=level, a_improvement=improvement), SMALL))
    expected = hand_ranks(hand_totals(a_level=level, a_improvement=improvement))
    assert after["total"].to_dict() == pytest.approx(hand_totals(a_level=level, a_improvement=improvement))
    assert after["rank"].to_dict() == expected
    assert (before.at["01", "rank"], after.at["01", "rank"]) == (7, 2)  # up five places, into the rewarded top 3
    assert bool(after.at["01", "rewarded"]) and not bool(before.at["01", "rewarded"])
    # by hand: 08 169.8, 01 169.3, 02 151.4, 04 151.0, 07 149.7, 06 144.5, 05 142.6, 03 121.7. The
    # others' values did not change, but their deviation scores on indicator A did (01's move shifts
    # the mean and σ), so 07 now passes 06: the ranking is relative, not a queue
    assert after["rank"].to_dict() == {"08": 1, "01": 2, "02": 3, "04": 4, "07": 5, "06": 6, "05": 7, "03": 8}


def test_a_branch_that_cannot_be_scored_is_not_ranked_and_says_why():
    reason = "指標B：令和6年5月時点の実績にデータのない月があります（令和6年5月）"
    scored = score(small_inputs(reasons={("05", "b"): reason}), SMALL)
    branches = per_branch(scored)
    assert branches.at["05", "status"] == "判定不能" and branches.at["05", "branch_reason"] == reason
    assert pd.isna(branches.at["05", "rank"]) and pd.isna(branches.at["05", "total"]) and pd.isna(branches.at["05", "rewarded"])
    assert scored[scored["branch_code"] == "05"]["level_score"].isna().all()
    # the others are scored among themselves: means and σ without 05, ranks 1 … 7
    others = [c for c in CODES if c != "05"]
    keep = [CODES.index(c) for c in others]
    expected = hand_totals(a_level=[A_LEVEL[i] for i in keep], a_improvement=[A_IMPROVEMENT[i] for i in keep],
                           b_improvement=[B_IMPROVEMENT[i] for i in keep], codes=others)
    assert branches.loc[others, "total"].to_dict() == pytest.approx(expected)
    assert branches.loc[others, "rank"].to_dict() == hand_ranks(expected)
    assert sorted(branches.loc[others, "rank"]) == list(range(1, 8))
    assert set(branches.loc[others, "status"]) == {"評価"}


def test_equal_totals_share_the_best_rank_and_the_line_rewards_the_whole_tie():
    inputs = small_inputs()
    twin = inputs[inputs["branch_code"] == "02"].assign(branch_code="09")  # 09 reports exactly what 02 does
    scored = per_branch(score(pd.concat([inputs, twin], ignore_index=True), SMALL))
    assert scored.at["02", "total"] == pytest.approx(scored.at["09", "total"])
    assert scored.at["02", "rank"] == scored.at["09", "rank"] == 2 and scored.at["04", "rank"] == 4  # 1, 2, 2, 4
    assert scored["rewarded"].sum() == 3 and {b for b in scored.index if scored.at[b, "rewarded"]} == {"08", "02", "09"}


def test_every_branch_equal_on_an_indicator_scores_50_there():
    flat = small_inputs(b_improvement=[0.5] * 8)
    scored = score(flat, SMALL)
    assert scored[scored["indicator"] == "b"]["improvement_score"].tolist() == [50.0] * 8


# --- ranking_table on kpi_actuals -------------------------------------------------------------------


SCHEME_2024 = load_incentive_schemes(CATALOGS)[0][2024]


def synthetic_actuals(fy: int, months: list[str], values) -> pd.DataFrame:
    """kpi_actuals rows for the scheme's measures: ``values(branch, measure, month)`` → value (or
    (value, months_covered, complete)); numerator = value, denominator 100 for rates."""
    rows = []
    for k, m in enumerate(months):
        for b in branch_codes():
            for ind in SCHEME_2024.indicators:
                spec = values(b, ind.measure, m)
                value, covered, complete = spec if isinstance(spec, tuple) else (spec, k + 1, True)
                if MEASURES_BY_ID[ind.measure].kind == "month":
                    covered = 1 if complete else 0
                rows.append((fy, m, b, ind.measure, value, value, 100.0, covered, complete))
    return pd.DataFrame(rows, columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"])


def base_value(b: str, measure: str, month: str) -> float:
    """A value that differs by branch, measure and month, growing through the year."""
    i, j = int(b), list(MEASURES_BY_ID).index(measure)
    k = int(month[5:])
    return 20 + (i * 7 + j * 13) % 31 + 0.37 * ((i * j) % 5) + 0.5 * ((k + 8) % 12)


def test_the_ranking_of_a_month_is_the_hand_computed_one_on_the_years_values():
    months24, months23 = fiscal_months(2024)[:2], fiscal_months(2023)
    prior = synthetic_actuals(2023, months23, lambda b, m, mo: base_value(b, m, mo) - 0.1 * ((int(b) * 3) % 7))
    current = synthetic_actuals(2024, months24, lambda b, m, mo: base_value(b, m, mo) + 0.05 * ((int(b) * 5) % 11))
    table = ranking_table(2024, current, prior, SCHEME_2024)
    assert len(table) == 47 * 2 * 5 and set(table["as_of_month"]) == set(months24)
    may = table[table["as_of_month"] == "2024-05"]
    totals = {b: 0.0 for b in branch_codes()}
    for ind in SCHEME_2024.indicators:
        level = [current[(current["as_of_month"] == "2024-05") & (current["branch_code"] == b) & (current["measure"] == ind.measure)]["value"].item()
                 for b in branch_codes()]
        before = [prior[(prior["as_of_month"] == "2023-05") & (prior["branch_code"] == b) & (prior["measure"] == ind.measure)]["value"].item()
                  for b in branch_codes()]
        dl, di = hand_deviation(level), hand_deviation([x - y for x, y in zip(level, before)])
        for n, b in enumerate(branch_codes()):
            totals[b] += ind.weight * (ind.level_weight * dl[n] + ind.improvement_weight * di[n])
        got = may[may["indicator"] == ind.key].set_index("branch_code")
        assert got["value"].tolist() == pytest.approx(level) and got["prior_value"].tolist() == pytest.approx(before)
        assert got["level_score"].tolist() == pytest.approx(dl)
    branches = may.drop_duplicates("branch_code").set_index("branch_code")
    assert branches["total"].to_dict() == pytest.approx(totals)
    assert branches["rank"].to_dict() == hand_ranks(totals)
    assert int(branches["rewarded"].sum()) == 15 and set(branches["status"]) == {"評価"}
    # the projected ranking: the projection method's year-end values, improvement against the previous March
    projected = project(2024, current, prior, "2024-05").set_index(["branch_code", "measure"])["projected_value"]
    ahead = {b: 0.0 for b in branch_codes()}
    for ind in SCHEME_2024.indicators:
        level = [projected[(b, ind.measure)] for b in branch_codes()]
        before = [prior[(prior["as_of_month"] == "2024-03") & (prior["branch_code"] == b) & (prior["measure"] == ind.measure)]["value"].item()
                  for b in branch_codes()]
        dl, di = hand_deviation(level), hand_deviation([x - y for x, y in zip(level, before)])
        for n, b in enumerate(branch_codes()):
            ahead[b] += ind.weight * (ind.level_weight * dl[n] + ind.improvement_weight * di[n])
    assert branches["projected_total"].to_dict() == pytest.approx(ahead)
    assert branches["projected_rank"].to_dict() == hand_ranks(ahead)


def test_no_previous_year_an_incomplete_year_and_the_year_end():
    months24 = fiscal_months(2024)

    def values(b, m, mo):
        if b == "13" and m == "guidance_rate_total" and mo == "2024-05":
            return (base_value(b, m, mo), 1, False)  # May's screenings file had no row for 13: April only
        return base_value(b, m, mo)

    current = synthetic_actuals(2024, months24, values)
    prior = synthetic_actuals(2023, fiscal_months(2023)[:1], base_value)  # the previous year has April only
    table = ranking_table(2024, current, prior, SCHEME_2024)
    april = table[table["as_of_month"] == "2024-04"].drop_duplicates("branch_code").set_index("branch_code")
    assert set(april["status"]) == {"評価"} and april["rank"].notna().all()
    may = table[table["as_of_month"] == "2024-05"].drop_duplicates("branch_code").set_index("branch_code")
    assert set(may["status"]) == {"判定不能"} and may["rank"].isna().all()  # no May 2023 for anybody
    assert "特定健診等の実施率：前年度同月（令和5年5月時点）の実績がありません" in may.at["01", "reason"]
    assert "特定保健指導の実施率：令和6年5月時点の実績にデータのない月があります（令和6年5月）" in may.at["13", "reason"]
    # the projection needs the previous year's March: 判定不能 in April too, with that reason
    assert set(april["projected_status"]) == {"判定不能"}
    assert "前年度末（令和6年3月時点）の実績がありません" in april.at["01", "projected_reason"]
    # as of March (the year end) nothing is projected
    march = table[table["as_of_month"] == "2025-03"]
    assert march["projected_status"].isna().all() and march["projected_total"].isna().all()


# --- the scoring files -------------------------------------------------------------------------------


def test_the_shipped_scoring_files_have_equal_weights_and_15_rewarded_branches():
    schemes, problems = load_incentive_schemes(CATALOGS)
    assert problems == [] and sorted(schemes) == [2022, 2023, 2024, 2025]
    for fy, scheme in schemes.items():
        assert scheme.rewarded_branches == 15 and scheme.status == "案"
        assert [i.measure for i in scheme.indicators] == [
            "specific_screening_rate", "guidance_rate_total", "guidance_target_reduction_rate", "untreated_visit_rate_3m", "generic_rate_qty"]
        assert {(i.weight, i.level_weight, i.improvement_weight) for i in scheme.indicators} == {(1.0, 0.5, 0.5)}
        text = scheme.path.read_text(encoding="utf-8")
        assert "THE ASSOCIATION SETS THESE" in text and "協会が定める" in scheme.source


def broken_folder(tmp_path: Path, text: str, name: str = "FY2024.yaml") -> Path:
    folder = tmp_path / "catalogs"
    shutil.copytree(CATALOGS, folder)
    (folder / "incentive" / name).write_text(text, encoding="utf-8")
    return folder


def test_a_broken_scoring_file_is_reported_by_the_catalog_check(tmp_path, capsys):
    from kenpo_pipeline.cli import main

    good = (CATALOGS / "incentive" / "FY2024.yaml").read_text(encoding="utf-8")
    broken = good.replace("rewarded_branches: 15", "rewarded_branches: 0").replace("level_weight: 0.5", "level_weight: '0.5'", 1)
    broken = broken.replace("measure: generic_rate_qty", "measure: generic_share").replace("  - key: treatment", "  - key: guidance")
    folder = broken_folder(tmp_path, broken)
    catalogs, problems = load_catalogs(folder)  # the loader the check and the evaluation use
    assert sorted(catalogs) == [2020, 2021, 2023, 2024, 2025]  # the KPI catalogs themselves are fine
    assert problems == [
        "incentive/FY2024.yaml: rewarded_branches: 1〜47の整数（報奨対象とする上位の支部数）ではありません（0）",
        "incentive/FY2024.yaml: 指標 screening: level_weight: 数値ではありません（'0.5'）",
        "incentive/FY2024.yaml: 指標 generic: measure: 未知の指標です（'generic_share'）",
        "incentive/FY2024.yaml: 指標 guidance: key: 重複しています",
    ]
    assert main(["catalog", "check", str(CATALOGS)]) == 0
    out = capsys.readouterr().out
    assert "FY2024: incentive/FY2024.yaml: インセンティブ制度の評価方法（指標 5項目、上位15支部が報奨対象、案）" in out
    assert out.endswith("カタログに問題はありません。\n")
    assert main(["catalog", "check", str(folder)]) == 1
    out = capsys.readouterr().out
    for p in problems:
        assert f"✗ {p}" in out
    assert "のカタログに問題が 4 件あります" in out


@pytest.mark.parametrize(
    "text,name,problem",
    [
        ("fiscal_year: 2024\nrewarded_branches: 15\n", "FY2024.yaml", "incentive/FY2024.yaml: status: 必須の項目がありません"),
        ("fiscal_year: 2023\nstatus: 案\nrewarded_branches: 15\nindicators:\n  - {key: a, name: x, measure: generic_rate_qty, weight: 1, level_weight: 1, improvement_weight: 0}\n",
         "FY2024.yaml", "incentive/FY2024.yaml: fiscal_year: 2023 がファイル名（FY2024）と一致しません"),
        ("fiscal_year: 2024\nstatus: 案\nrewarded_branches: 15\nindicators: []\n", "FY2024.yaml", "incentive/FY2024.yaml: indicators: 指標が1つもありません"),
        ("fiscal_year: 2024\nstatus: 案\nrewarded_branches: 15\nindicators:\n  - {key: a, name: x, measure: website_visits, weight: 1, level_weight: 1, improvement_weight: 1}\n",
         "FY2024.yaml", "incentive/FY2024.yaml: 指標 a: measure: 'website_visits' は協会全体の値しかない指標のため、支部の順位付けには使えません"),
        ("fiscal_year: 2024\nstatus: 案\nrewarded_branches: 15\nindicators:\n  - {key: a, name: x, measure: generic_rate_qty, weight: .nan, level_weight: 0, improvement_weight: 0, vaule: 1}\n",
         "FY2024.yaml", "incentive/FY2024.yaml: 指標 a: weight: 数値ではありません（.nan）"),
        ("fiscal_year: 2024\nstatus: 案\nrewarded_branches: 15\nindicators:\n  - {key: a, name: x, measure: generic_rate_qty, weight: 1, level_weight: 0, improvement_weight: 0}\n",
         "FY2024.yaml", "incentive/FY2024.yaml: 指標 a: improvement_weight: level_weight と improvement_weight の両方が0です（どちらかを0より大きくしてください）"),
        ("base: &b {weight: 1}\n", "FY2024.yaml", "incentive/FY2024.yaml: YAMLのアンカー・エイリアス（& と *）は使えません。同じ内容でもそれぞれの場所に書いてください（1行目 7列）"),
        ("fiscal_year: 2024\n", "weights.yaml", "incentive/weights.yaml: ファイル名が FY<年度>.yaml（例: FY2024.yaml）ではないため読み込めません"),
    ],
)
def test_each_kind_of_mistake_in_a_scoring_file_is_named(tmp_path, text, name, problem):
    _, problems = load_catalogs(broken_folder(tmp_path, text, name))
    assert problem in problems, problems


def test_a_scoring_file_saved_as_cp932_is_named_with_its_folder(tmp_path):
    folder = broken_folder(tmp_path, "")
    (folder / "incentive" / "FY2024.yaml").write_bytes("fiscal_year: 2024\ntitle: 評価方法\n".encode("cp932"))
    _, problems = load_catalogs(folder)
    assert problems == ["incentive/FY2024.yaml: 文字コードが UTF-8 ではありません（2行目）。CP932（Shift_JIS）で保存されているようです。UTF-8 で保存し直してください"]


# --- what a branch reads ------------------------------------------------------------------------------


@pytest.fixture(scope="session")  # session, not module: a worker may run another module's tests in between
def october():
    months24, months23 = fiscal_months(2024)[:7], fiscal_months(2023)
    prior = synthetic_actuals(2023, months23, lambda b, m, mo: base_value(b, m, mo) - 0.1 * ((int(b) * 3) % 7))
    current = synthetic_actuals(2024, months24, lambda b, m, mo: base_value(b, m, mo) + 0.05 * ((int(b) * 5) % 11))
    return ranking_table(2024, current, prior, SCHEME_2024)


def test_the_national_table_has_47_ranked_rows_and_the_line_after_the_15th(october):
    frame = shown.national_table(october)
    assert len(frame) == 47 and frame["順位"].tolist() == sorted(frame["順位"].tolist())
    assert frame["順位"].iloc[0] == 1 and shown.rewarded_line(frame) == 15
    assert frame["区分"].iloc[:15].eq("報奨対象圏内").all() and frame["区分"].iloc[15:].eq("報奨対象圏外").all()
    names = [i.name for i in SCHEME_2024.indicators]
    assert list(frame.columns[:5]) == ["順位", "支部コード", "支部", "合計点", "区分"]
    for n in names:
        assert [f"{n} 実績", f"{n} 伸び", f"{n} 偏差値（実績）", f"{n} 偏差値（伸び）", f"{n} 得点", f"{n} 順位"] == [c for c in frame.columns if c.startswith(n + " ")]
    top = october[(october["as_of_month"] == "2024-10") & (october["rank"] == 1)].iloc[0]
    assert frame["支部"].iloc[0] == branch_name(top["branch_code"])
    assert frame["合計点"].iloc[0] == round(top["total"], 2)
    assert shown.title(october) == "令和6年度 インセンティブ制度 順位（令和6年10月時点の実績）"
    ahead = shown.national_table(october, projected=True)
    assert len(ahead) == 47 and "特定健診等の実施率 年度末見込み" in ahead and shown.rewarded_line(ahead) == 15
    assert shown.title(october, projected=True) == "令和6年度 インセンティブ制度 年度末の順位の見込み（令和6年10月時点）"


def test_a_branch_sees_its_ranks_now_and_projected_and_the_distance_to_the_15th(october):
    latest = october[october["as_of_month"] == "2024-10"]
    per = latest.drop_duplicates("branch_code").set_index("branch_code")
    fifteenth = per[per["rank"] == 15].index[0]
    code = per[per["projected_rank"] == 12].index[0]
    view = shown.branch_view(october, code)
    assert view["指標"].tolist() == [i.name for i in SCHEME_2024.indicators] + ["合計"]
    assert {"順位", "順位（見込み）", "15位の支部の得点", "15位との差", "15位との差（見込み）"} <= set(view.columns)
    mine = latest[latest["branch_code"] == code].set_index("indicator")
    theirs = latest[latest["branch_code"] == fifteenth].set_index("indicator")
    for i, ind in enumerate(SCHEME_2024.indicators):
        assert view.at[i, "15位との差"] == round(mine.at[ind.key, "indicator_score"] - theirs.at[ind.key, "indicator_score"], 2)
        assert view.at[i, "順位"] == mine.at[ind.key, "indicator_rank"]
    total = view.iloc[-1]
    assert total["順位"] == per.at[code, "rank"] and total["順位（見込み）"] == 12
    assert total["15位との差"] == round(per.at[code, "total"] - per.at[fifteenth, "total"], 2)
    assert shown.standing_text(october, code, projected=True) == "見込み 12位（報奨対象圏内）"
    assert "見込み 12位（報奨対象圏内）" in total["備考"]
    # the 15th branch itself is 0 from the line
    assert shown.branch_view(october, fifteenth).iloc[-1]["15位との差"] == 0


def test_ui_markdown_of_the_ranking_is_escaped_and_compact(october):
    md = shown.ranking_markdown(october)
    lines = md.splitlines()
    assert lines[0].startswith("| 順位 | 支部 | 合計点 | 区分 |") and len(lines) == 2 + 47
    top = shown.national_table(october, compact=True).iloc[0]
    assert f"| 1 | {top['支部']} | {str(top['合計点']).replace('.', chr(92) + '.')} | 報奨対象圏内 |" in md  # cells escaped (Markdown)
