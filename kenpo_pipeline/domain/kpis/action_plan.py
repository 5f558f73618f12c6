"""The three-year Action Plan view (seed 004: the 6th plan covers FY2024–FY2026).

For each KPI key that appears in any plan year of the scope — the branch's own plan where it has
one, otherwise the national plan's ``per_branch`` KPIs (and every national KPI for ``00``) — the
target, actual and status of each year side by side, and the trend of the actuals. A plan year with
no catalog shows ``事業計画未登録``; a year with a catalog but no evaluation yet shows ``データなし``;
a year whose plan does not carry that KPI shows ``対象外``.
"""

from __future__ import annotations

import pandas as pd

from kenpo_pipeline.domain.kpis.catalog import Catalog
from kenpo_pipeline.domain.kpis.judgement import evaluated_scopes

ACTION_PLANS = {"第5期保険者機能強化アクションプラン": (2021, 2022, 2023), "第6期保険者機能強化アクションプラン": (2024, 2025, 2026)}
NO_PLAN, NO_DATA, NOT_A_KPI = "事業計画未登録", "データなし", "対象外"
VIEW_COLUMNS = ["action_plan", "branch_code", "kpi_key", "kpi_text", "fiscal_year", "plan", "target_text", "actual_text", "actual_value", "status", "trend"]


def action_plan_of(fy: int) -> tuple[str, tuple[int, ...]] | None:
    for name, years in ACTION_PLANS.items():
        if fy in years:
            return name, years
    return None


def _scope_kpis(catalog: Catalog | None, branch: str) -> tuple[str, list]:
    if catalog is None:
        return "", []
    for code, plan, kpis in evaluated_scopes(catalog):
        if code == branch:
            return plan, kpis
    return "", []


def three_year_view(name: str, years: tuple[int, ...], catalogs: dict[int, Catalog], evaluations: pd.DataFrame, branch: str) -> pd.DataFrame:
    """Long table: one row per (KPI key, plan year) for one scope."""
    keys: dict[str, str] = {}
    plans = {fy: _scope_kpis(catalogs.get(fy), branch) for fy in years}
    for fy in years:
        for kpi in plans[fy][1]:
            keys[kpi.key] = kpi.text  # the latest wording wins
    rows = []
    ev = evaluations[evaluations["branch_code"] == branch]
    for key, text in keys.items():
        previous = None
        for fy in years:
            plan, kpis = plans[fy]
            row = {"action_plan": name, "branch_code": branch, "kpi_key": key, "kpi_text": text, "fiscal_year": fy, "plan": plan,
                   "target_text": "", "actual_text": "", "actual_value": None, "trend": ""}
            if fy not in catalogs:
                row["status"] = NO_PLAN
            elif key not in {k.key for k in kpis}:
                row["status"] = NOT_A_KPI
            else:
                hit = ev[(ev["fiscal_year"] == fy) & (ev["kpi_key"] == key)]
                if hit.empty:
                    row["status"] = NO_DATA
                else:
                    h = hit.iloc[0]
                    row.update(target_text=h["target_text"], actual_text=h["actual_text"], status=h["status"],
                               actual_value=None if pd.isna(h["actual_value"]) else float(h["actual_value"]))
            value = row["actual_value"]
            if value is not None and previous is not None:
                row["trend"] = "↑" if value > previous else "↓" if value < previous else "→"
            if value is not None:
                previous = value
            rows.append(row)
    return pd.DataFrame(rows, columns=VIEW_COLUMNS)


def wide(view: pd.DataFrame) -> pd.DataFrame:
    """One row per KPI key, the plan years side by side (for the sheet and the UI)."""
    out = []
    for key, g in view.groupby("kpi_key", sort=False):
        row = {"KPI": g["kpi_text"].iloc[0]}
        for r in g.itertuples():
            label = f"FY{r.fiscal_year}"
            row[f"{label} 目標"] = r.target_text
            row[f"{label} 実績"] = f"{r.actual_text}{r.trend}" if r.actual_text else ""
            row[f"{label} 達成状況"] = r.status
        out.append(row)
    return pd.DataFrame(out)
