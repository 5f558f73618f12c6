"""The three-year Action Plan view (seed 004: the 6th plan is FY2024–FY2026)."""

import pandas as pd

from kenpo_pipeline.domain.kpis.action_plan import NO_DATA, NO_PLAN, NOT_A_KPI, action_plan_of, three_year_view, wide
from kenpo_pipeline.domain.kpis.catalog import require_catalogs
from kenpo_pipeline.settings import ASSETS_DIR


def evaluation(fy, branch, key, actual_value, status):
    return {"fiscal_year": fy, "branch_code": branch, "kpi_key": key, "target_text": "t", "actual_text": f"{actual_value}%",
            "actual_value": actual_value, "status": status}


def test_plan_years():
    assert action_plan_of(2025) == ("第6期保険者機能強化アクションプラン", (2024, 2025, 2026))
    assert action_plan_of(2022)[1] == (2021, 2022, 2023)
    assert action_plan_of(2019) is None


def test_years_side_by_side_with_missing_years_said_so():
    catalogs = require_catalogs(ASSETS_DIR / "catalogs")
    evaluations = pd.DataFrame([
        evaluation(2024, "04", "lifestyle_screening", 70.0, "未達成"),
        evaluation(2025, "04", "lifestyle_screening", 72.5, "未達成"),
        evaluation(2024, "04", "card_recovery", 85.0, "達成"),
    ])
    view = three_year_view("第6期", (2024, 2025, 2026), catalogs, evaluations, "04").set_index(["kpi_key", "fiscal_year"])
    assert view.loc[("lifestyle_screening", 2024), "status"] == "未達成" and view.loc[("lifestyle_screening", 2025), "trend"] == "↑"
    assert view.loc[("lifestyle_screening", 2026), "status"] == NO_PLAN  # no FY2026 catalog yet
    assert view.loc[("card_recovery", 2025), "status"] == NOT_A_KPI  # Miyagi's FY2025 plan dropped it
    assert view.loc[("service_standard_days", 2025), "status"] == NO_DATA  # a FY2025 KPI with no evaluation yet
    assert view.loc[("service_standard_days", 2024), "status"] == NOT_A_KPI
    # a branch without its own plan follows the national per_branch KPIs
    national_keys = set(three_year_view("第6期", (2024, 2025, 2026), catalogs, evaluations, "13")["kpi_key"])
    assert "health_declaration" not in national_keys and "lifestyle_screening" in national_keys
    w = wide(three_year_view("第6期", (2024, 2025, 2026), catalogs, evaluations, "04"))
    assert list(w.columns[:4]) == ["KPI", "FY2024 目標", "FY2024 実績", "FY2024 達成状況"]
