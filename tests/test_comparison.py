"""Branch comparison (issue 15 §4): ranks among the branches, the national value, 改善幅 and its rank."""

import pandas as pd

from kenpo_pipeline.domain.kpis.comparison import branch_comparison, standing_text


def frames():
    evaluation = pd.DataFrame(
        [
            [2024, "01", "screening", "2025-03", "2025-03", ">="],
            [2024, "02", "screening", "2025-03", "2025-03", ">="],
            [2024, "01", "days", "2025-03", "2025-03", "<="],
            [2024, "00", "days", "2025-03", "2025-03", "<="],
            [2024, "02", "", "2025-03", "2025-03", ""],  # a manual KPI: no measure, not compared
        ],
        columns=["fiscal_year", "branch_code", "measure", "judgement_month", "as_of_month", "target_op"],
    )
    rows = []
    for b, s, d in (("00", 55.0, 6.0), ("01", 60.0, 7.5), ("02", 50.0, 5.0), ("03", 60.0, None), ("04", None, 6.0)):
        rows += [[2024, "2025-03", b, "screening", s], [2024, "2025-03", b, "days", d]]
    actuals = pd.DataFrame(rows, columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value"])
    prior = pd.DataFrame(
        [[2023, "2024-03", b, "screening", v] for b, v in (("01", 59.0), ("02", 40.0), ("03", 61.0))],
        columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value"],
    )
    return evaluation, actuals, prior


def test_ranks_follow_the_kpis_direction_and_ties_share_the_better_rank():
    table = branch_comparison(*frames())
    s = table[table["measure"] == "screening"].set_index("branch_code")
    assert s.loc["01", "rank"] == 1 and s.loc["03", "rank"] == 1 and s.loc["02", "rank"] == 3
    assert pd.isna(s.loc["04", "rank"]) and set(s["ranked_of"]) == {3}
    assert set(s["national_value"]) == {55.0} and "00" not in s.index
    assert s.loc["02", "improvement"] == 10.0 and s.loc["02", "improvement_rank"] == 1
    assert s.loc["01", "improvement"] == 1.0 and s.loc["01", "improvement_rank"] == 2 and s.loc["03", "improvement_rank"] == 3
    d = table[table["measure"] == "days"].set_index("branch_code")
    assert d.loc["02", "rank"] == 1 and d.loc["04", "rank"] == 2 and d.loc["01", "rank"] == 3  # fewer days is better
    assert set(d["better"]) == {"lower"}
    assert standing_text(s.loc["02"]) == "順位 3/3・改善幅 1位"
    assert standing_text(s.loc["04"]) == "順位なし（値がありません）"
