"""The three-year Action Plan view: the 5th plan (FY2021–FY2023, seed 002) and the 6th (FY2024–FY2026,
seed 004), read from assets/catalogs/AP5.yaml and AP6.yaml."""

import dataclasses

import pandas as pd

from kenpo_pipeline.domain.kpis.action_plan import NO_DATA, NO_PLAN, NOT_A_KPI, NOT_EVALUATED, action_plan_of, three_year_view, wide
from kenpo_pipeline.domain.kpis.catalog import require_action_plans, require_catalogs
from kenpo_pipeline.settings import ASSETS_DIR

CATALOGS = ASSETS_DIR / "catalogs"


def evaluation(fy, branch, key, actual_value, status, target_text="t"):
    return {"fiscal_year": fy, "branch_code": branch, "kpi_key": key, "target_text": target_text, "actual_text": f"{actual_value}%",
            "actual_value": actual_value, "status": status}


def test_plan_years_come_from_the_action_plan_files():
    plans = require_action_plans(CATALOGS)
    assert action_plan_of(2025, plans).name == "第6期保険者機能強化アクションプラン" and action_plan_of(2025, plans).years == (2024, 2025, 2026)
    assert action_plan_of(2022, plans).years == (2021, 2022, 2023)
    assert action_plan_of(2019, plans) is None and action_plan_of(2027, plans) is None


def test_years_side_by_side_with_missing_years_said_so():
    catalogs = require_catalogs(CATALOGS)
    sixth = action_plan_of(2024, require_action_plans(CATALOGS))
    evaluations = pd.DataFrame([
        evaluation(2024, "04", "lifestyle_screening", 70.0, "未達成"),
        evaluation(2025, "04", "lifestyle_screening", 72.5, "未達成"),
        evaluation(2024, "04", "card_recovery", 85.0, "達成"),
    ])
    view = three_year_view(sixth, catalogs, evaluations, "04").set_index(["kpi_key", "fiscal_year"])
    assert view.loc[("lifestyle_screening", 2024), "status"] == "未達成" and view.loc[("lifestyle_screening", 2025), "trend"] == "↑"
    assert view.loc[("lifestyle_screening", 2026), "status"] == NO_PLAN  # no FY2026 catalog yet
    assert view.loc[("card_recovery", 2025), "status"] == NOT_A_KPI  # Miyagi's FY2025 plan dropped it
    assert view.loc[("service_standard_days", 2025), "status"] == NO_DATA  # a FY2025 KPI with no evaluation yet
    assert view.loc[("service_standard_days", 2024), "status"] == NOT_A_KPI
    assert set(view["action_plan_target"]) == {""}  # seed 004 gives no KPIs of the 6th plan itself
    # a branch without its own plan follows the national per_branch KPIs
    national_keys = set(three_year_view(sixth, catalogs, evaluations, "13")["kpi_key"])
    assert "health_declaration" not in national_keys and "lifestyle_screening" in national_keys
    w = wide(three_year_view(sixth, catalogs, evaluations, "04"))
    assert list(w.columns[:4]) == ["KPI", "FY2024 目標", "FY2024 実績", "FY2024 達成状況"]  # no Action Plan target column


def test_fifth_plan_lists_fy2021_to_fy2023_with_the_action_plans_own_targets():
    catalogs = require_catalogs(CATALOGS)
    fifth = action_plan_of(2021, require_action_plans(CATALOGS))
    evaluations = pd.DataFrame([
        evaluation(2021, "00", "postal_rate", 95.6, "達成", "95.0%以上"),
        evaluation(2021, "33", "postal_rate", 94.1, "未達成", "95.0%以上"),
        evaluation(2023, "22", "postal_rate", 98.7, "達成", "98.6%以上"),
        evaluation(2021, "22", "postal_rate", 98.2, "達成", "95.0%以上"),
    ])
    national = three_year_view(fifth, catalogs, evaluations, "00")
    assert sorted(set(national["fiscal_year"])) == [2021, 2022, 2023] and len(national) == 20 * 3
    n = national.set_index(["kpi_key", "fiscal_year"])
    postal = n.loc["postal_rate"]
    assert set(postal["action_plan_target"]) == {"96.0%以上"}  # the Action Plan's own target, where FY2021's plan says 95%
    assert postal.loc[2021, ["plan", "target_text", "actual_text", "status"]].tolist() == ["本部", "95.0%以上", "95.6%", "達成"]
    # no national plan is on file for FY2022 (no catalog) or FY2023 (Shizuoka's plan only)
    assert postal.loc[2022, "status"] == NO_PLAN and postal.loc[2023, "status"] == NO_PLAN
    assert n.loc[("lifestyle_screening", 2021), "status"] == NO_DATA  # in the plan, not evaluated
    assert n.loc[("health_declaration", 2021), "action_plan_target"] == "70,000事業所以上"
    assert n.loc[("generic", 2021), "action_plan_target"] == "全支部で80%以上（80%以上の支部は前年度以上）"
    assert n.loc[("opinion", 2021), "action_plan_target"] == "全支部で実施"
    assert n.loc[("my_number_registration", 2021), "action_plan_target"] == "前年度以上"
    assert n.loc[("review_amount_per_claim", 2021), "action_plan_target"] == "前年度以上"
    assert n.loc[("single_bid", 2021), "action_plan_target"] == "20.0%以下"

    okayama = three_year_view(fifth, catalogs, evaluations, "33").set_index(["kpi_key", "fiscal_year"])
    assert okayama.loc[("postal_rate", 2021), ["plan", "action_plan_target", "actual_text", "status"]].tolist() == ["支部", "96.0%以上", "94.1%", "未達成"]
    assert okayama.loc[("postal_rate", 2022), "status"] == NO_PLAN and okayama.loc[("postal_rate", 2023), "status"] == NO_PLAN
    assert okayama.loc[("my_number_registration", 2021), "status"] == NOT_A_KPI  # Okayama's own FY2021 plan has no such KPI
    assert "health_declaration" in okayama.index.get_level_values(0)  # Okayama's own 健活企業宣言 KPI (the national one is association)
    assert okayama.loc[("health_declaration", 2021), "action_plan_target"] == ""

    shizuoka = three_year_view(fifth, catalogs, evaluations, "22").set_index(["kpi_key", "fiscal_year"])
    assert shizuoka.loc["postal_rate", "plan"].tolist() == ["本部目標を適用", "", "支部"]
    assert shizuoka.loc["postal_rate", "status"].tolist() == ["達成", NO_PLAN, "達成"]
    assert shizuoka.loc[("postal_rate", 2023), "trend"] == "↑"

    w = wide(national)
    assert list(w.columns[:5]) == ["KPI", "アクションプラン目標（令和5年度）", "FY2021 目標", "FY2021 実績", "FY2021 達成状況"]
    # the wording beside the Action Plan's own target is the Action Plan's (96%), not FY2021's plan (95%)
    assert w.set_index("KPI").loc["② 現金給付等の申請に係る郵送化率を96%以上とする", "アクションプラン目標（令和5年度）"] == "96.0%以上"


def actual(fy, branch, measure, month, value):
    return {"fiscal_year": fy, "as_of_month": month, "branch_code": branch, "measure": measure, "value": value}


def test_next_years_target_and_the_wording_of_the_year_beside_it():
    """FY2025's catalog exists before its data: its targets show (the plan's stated ones) beside
    データなし; the wording is FY2024's (the first year's, whose target stands beside it), not FY2025's."""
    catalogs = require_catalogs(CATALOGS)
    sixth = action_plan_of(2024, require_action_plans(CATALOGS))
    evaluations = pd.DataFrame([evaluation(2024, "00", "lifestyle_screening", 62.0, "達成", "61.7%以上")])
    n = three_year_view(sixth, catalogs, evaluations, "00").set_index(["kpi_key", "fiscal_year"])
    screening = n.loc["lifestyle_screening"]
    assert set(screening["kpi_text"]) == {"生活習慣病予防健診実施率を61.7%以上とする"}  # FY2025's plan says 63.5%
    assert screening.loc[2024, ["target_text", "status"]].tolist() == ["61.7%以上", "達成"]
    assert screening.loc[2025, ["target_text", "status"]].tolist() == ["63.5%以上", NO_DATA]
    assert screening.loc[2026, ["target_text", "status"]].tolist() == ["", NO_PLAN]
    row = wide(three_year_view(sixth, catalogs, evaluations, "00")).set_index("KPI").loc["生活習慣病予防健診実施率を61.7%以上とする"]
    assert (row["FY2024 目標"], row["FY2025 目標"], row["FY2026 目標"]) == ("61.7%以上", "63.5%以上", "")


def test_a_branch_following_the_national_plan_has_no_plan_of_its_own_registered():
    """A branch without its own plan that year follows the national per_branch KPIs: a KPI of its own
    plan of another year is 事業計画未登録 there (its plan is what is missing), an association-level
    KPI of the national plan 対象外, a KPI its own plan dropped 対象外."""
    catalogs = require_catalogs(CATALOGS)
    sixth = action_plan_of(2024, require_action_plans(CATALOGS))
    fy2025 = catalogs[2025]
    without_miyagi = dataclasses.replace(fy2025, plans=tuple(p for p in fy2025.plans if p.branch_code != "04"))
    view = three_year_view(sixth, {**catalogs, 2025: without_miyagi}, pd.DataFrame(), "04").set_index(["kpi_key", "fiscal_year"])
    own_only = [k.key for k in catalogs[2024].plan_for("04").kpis if k.key not in {n.key for n in fy2025.national.kpis}]
    assert own_only, "Miyagi's FY2024 plan has KPIs the national FY2025 plan does not"
    assert {view.loc[(key, 2025), "status"] for key in own_only} == {NO_PLAN}
    assert view.loc[(own_only[0], 2025), "plan"] == "本部目標を適用"
    fifth = action_plan_of(2021, require_action_plans(CATALOGS))
    shizuoka = three_year_view(fifth, catalogs, pd.DataFrame(), "22").set_index(["kpi_key", "fiscal_year"])
    assert shizuoka.loc[("health_declaration", 2021), "status"] == NOT_A_KPI  # the association's KPI in FY2021's national plan
    assert shizuoka.loc[("my_number_registration", 2023), "status"] == NOT_A_KPI  # Shizuoka's own FY2023 plan has no such KPI


def test_actuals_of_years_without_an_evaluation_give_the_trend_its_arrows():
    """kpi_actuals of a year without an evaluation of the KPI are shown (事業計画未登録 stays the
    status), and the first plan year compares with the year before the plan."""
    catalogs = require_catalogs(CATALOGS)
    fifth = action_plan_of(2021, require_action_plans(CATALOGS))
    evaluations = pd.DataFrame([evaluation(2021, "00", "postal_rate", 95.6, "達成", "95.0%以上")])
    actuals = pd.DataFrame([
        actual(2020, "00", "postal_rate", "2021-03", 95.94),  # the year before the plan
        actual(2022, "00", "postal_rate", "2023-03", 95.84),
        actual(2022, "00", "postal_rate", "2023-02", 99.0),  # not the judgement month
        actual(2023, "00", "postal_rate", "2023-12", 96.04),  # the year's latest month so far
    ])
    postal = three_year_view(fifth, catalogs, evaluations, "00", actuals).set_index(["kpi_key", "fiscal_year"]).loc["postal_rate"]
    assert postal["actual_text"].tolist() == ["95.6%", "95.8%", "96.0%（12月時点）"]
    assert postal["status"].tolist() == ["達成", NO_PLAN, NO_PLAN]
    assert postal["trend"].tolist() == ["↓", "↑", "↑"]  # 95.9 → 95.6 → 95.8 → 96.0
    # the plan carries the KPI but has not evaluated it: the actual is shown as 未評価, not データなし
    screening = three_year_view(fifth, catalogs, evaluations, "00", pd.DataFrame([actual(2021, "00", "lifestyle_screening_rate", "2022-03", 55.55)]))
    s = screening.set_index(["kpi_key", "fiscal_year"]).loc[("lifestyle_screening", 2021)]
    assert (s["actual_text"], s["status"]) == ("55.6%", NOT_EVALUATED)
    # without kpi_actuals (None: not read) the view is what the evaluations alone give
    bare = three_year_view(fifth, catalogs, evaluations, "00").set_index(["kpi_key", "fiscal_year"]).loc["postal_rate"]
    assert bare["actual_text"].tolist() == ["95.6%", "", ""] and bare["trend"].tolist() == ["", "", ""]
