"""The three-year Action Plan view (the 5th plan covers FY2021–FY2023, the 6th FY2024–FY2026).

The Action Plans are data: one ``AP<n>.yaml`` each in the catalog folder (period and the plan's own
KPIs, loaded by ``catalog.load_action_plans``). For one scope and one Action Plan, the view has a
row per (KPI key, plan year). The keys are the Action Plan's own KPIs for the scope (all of them for
``00``, the ``per_branch`` ones for a branch), then every other key of the yearly plan that applies
to the scope in a plan year — the branch's own plan where it has one, otherwise the national plan's
``per_branch`` KPIs (every national KPI for ``00``). Each row carries the Action Plan's own target
for the key (``action_plan_target``: the plan-end target, shown, not judged; empty where the Action
Plan sets none) beside that year's target, actual, status and the trend of the actuals.

A year's status, when it is not the evaluation's 達成 / 未達成 / 判定不能:
- ``事業計画未登録``: no yearly plan applies to the scope that year (no catalog for the year, or one
  with neither the scope's own plan nor a national plan) — whether or not the Action Plan has the KPI;
- ``対象外``: a yearly plan applies but does not carry the KPI;
- ``データなし``: the yearly plan carries the KPI but there is no evaluation row yet (the year is
  not evaluated: no month with all four feeds loaded, or not materialized).
"""

from __future__ import annotations

import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_year_label_ja
from kenpo_pipeline.domain.kpis.catalog import ActionPlan, Catalog
from kenpo_pipeline.domain.kpis.judgement import evaluated_scopes, stated_target

NO_PLAN, NO_DATA, NOT_A_KPI = "事業計画未登録", "データなし", "対象外"
VIEW_COLUMNS = [
    "action_plan", "branch_code", "kpi_key", "kpi_text", "fiscal_year", "plan", "target_text", "actual_text", "actual_value", "status",
    "trend", "action_plan_target",
]


def action_plan_of(fy: int, action_plans: list[ActionPlan]) -> ActionPlan | None:
    """The Action Plan whose period holds the fiscal year (periods never overlap: the check refuses it)."""
    for plan in action_plans:
        if fy in plan.years:
            return plan
    return None


def _scope_kpis(catalog: Catalog | None, branch: str) -> tuple[str, list] | None:
    """(plan label, KPIs) of the yearly plan that applies to the scope, or None when none applies."""
    if catalog is None:
        return None
    for code, plan, kpis in evaluated_scopes(catalog):
        if code == branch:
            return plan, kpis
    return None


def three_year_view(action_plan: ActionPlan, catalogs: dict[int, Catalog], evaluations: pd.DataFrame, branch: str) -> pd.DataFrame:
    """Long table: one row per (KPI key, plan year) for one scope."""
    years = action_plan.years
    own = {k.key: k for k in action_plan.kpis_for(branch)}
    keys: dict[str, str] = {key: k.text for key, k in own.items()}
    plans = {fy: _scope_kpis(catalogs.get(fy), branch) for fy in years}
    for fy in years:
        for kpi in plans[fy][1] if plans[fy] else []:
            keys[kpi.key] = kpi.text  # the latest yearly wording wins
    rows = []
    ev = evaluations[evaluations["branch_code"] == branch] if len(evaluations) else evaluations
    for key, text in keys.items():
        target = stated_target(own[key], branch) if key in own else ""
        previous = None
        for fy in years:
            applies = plans[fy]
            row = {"action_plan": action_plan.name, "branch_code": branch, "kpi_key": key, "kpi_text": text, "fiscal_year": fy,
                   "plan": applies[0] if applies else "", "target_text": "", "actual_text": "", "actual_value": None, "trend": "",
                   "action_plan_target": target}
            if applies is None:
                row["status"] = NO_PLAN
            elif key not in {k.key for k in applies[1]}:
                row["status"] = NOT_A_KPI
            else:
                hit = ev[(ev["fiscal_year"] == fy) & (ev["kpi_key"] == key)] if len(ev) else ev
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


def action_plan_target_label(view: pd.DataFrame) -> str:
    """``アクションプラン目標（令和5年度）``: the Action Plan's own targets are for its last year."""
    return f"アクションプラン目標（{fiscal_year_label_ja(int(view['fiscal_year'].max()))}）"


def wide(view: pd.DataFrame) -> pd.DataFrame:
    """One row per KPI key, the plan years side by side (for the sheet and the UI); the Action
    Plan's own target after the KPI when the Action Plan sets any."""
    out = []
    with_target = bool(len(view)) and view["action_plan_target"].astype(object).fillna("").ne("").any()
    label = action_plan_target_label(view) if with_target else ""
    for key, g in view.groupby("kpi_key", sort=False):
        row = {"KPI": g["kpi_text"].iloc[0]}
        if with_target:
            row[label] = g["action_plan_target"].iloc[0]
        for r in g.itertuples():
            fy_label = f"FY{r.fiscal_year}"
            row[f"{fy_label} 目標"] = r.target_text
            row[f"{fy_label} 実績"] = f"{r.actual_text}{r.trend}" if r.actual_text else ""
            row[f"{fy_label} 達成状況"] = r.status
        out.append(row)
    return pd.DataFrame(out)
