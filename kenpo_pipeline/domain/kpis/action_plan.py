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
- ``事業計画未登録`` also for a branch that follows the national plan that year (no plan of its
  own registered) and a KPI the national plan does not have either (a KPI of the branch's own plan
  of another year);
- ``対象外``: a yearly plan applies but does not carry the KPI (the scope's own plan dropped it, or,
  for a branch following the national plan, the KPI is one of the association as a whole);
- ``データなし``: the yearly plan carries the KPI but there is no evaluation row yet and no actual
  of its measure (the year is not evaluated: no month with all four feeds loaded, or not
  materialized); its target is the plan's stated one;
- ``未評価``: the same, but ``kpi_actuals`` has the measure's value for the year (shown).
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label_ja
from kenpo_pipeline.domain.kpis.catalog import ActionPlan, Catalog, Kpi
from kenpo_pipeline.domain.kpis.judgement import evaluated_scopes, fmt, round_half_up, stated_target
from kenpo_pipeline.domain.kpis.measures import measure
from kenpo_pipeline.domain.reference import NATIONAL_CODE

NO_PLAN, NO_DATA, NOT_A_KPI, NOT_EVALUATED = "事業計画未登録", "データなし", "対象外", "未評価"
VIEW_COLUMNS = [
    "action_plan", "branch_code", "kpi_key", "kpi_text", "fiscal_year", "plan", "target_text", "actual_text", "actual_value", "status",
    "trend", "action_plan_target", "kpi_order",
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


def _actual_from_actuals(kpi: Kpi, fy: int, branch: str, actuals: pd.DataFrame | None) -> tuple[float, str] | None:
    """(value rounded as shown, its text) of a single-measure KPI for a year without an evaluation of
    it, from ``kpi_actuals``: the value at the KPI's judgement month (March unless the plan says
    otherwise), or the year's latest month before it, then said so (``62.0%（12月時点）``). None for a
    KPI judged on something else than one measure's value (a count of branches, 実施, all_of)."""
    if actuals is None or not len(actuals) or kpi.rule == "all_of" or len(kpi.parts) != 1:
        return None
    part = kpi.parts[0]
    numeric = part.rule in ("absolute", "prior_year", "small_count") or (part.rule == "branch_floor" and branch != NATIONAL_CODE)
    if not numeric or not part.measure:
        return None
    m = measure(part.measure)
    if m.national_only and branch != NATIONAL_CODE:
        return None
    months = fiscal_months(fy)
    last = next((mo for mo in months if mo.endswith(f"-{kpi.judgement_month}")), months[-1]) if kpi.judgement_month else months[-1]
    rows = actuals[(actuals["fiscal_year"] == fy) & (actuals["branch_code"] == branch) & (actuals["measure"] == part.measure)
                   & (actuals["as_of_month"] <= last) & actuals["value"].notna()]
    if rows.empty:
        return None
    row = rows.sort_values("as_of_month").iloc[-1]
    display = part.display_precision if part.display_precision is not None else m.precision
    exact = Decimal(repr(float(row["value"])))
    value = float(round_half_up(exact, display))
    text = fmt(exact, m.unit, display)
    if row["as_of_month"] != last:
        text += f"（{int(str(row['as_of_month'])[5:7])}月時点）"
    return value, text


def _trend(value: float | None, previous: float | None) -> str:
    if value is None or previous is None:
        return ""
    return "↑" if value > previous else "↓" if value < previous else "→"


def three_year_view(action_plan: ActionPlan, catalogs: dict[int, Catalog], evaluations: pd.DataFrame, branch: str,
                    actuals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long table: one row per (KPI key, plan year) for one scope.

    - The KPI's wording (``kpi_text``) is the Action Plan's own where it has the KPI (its target is
      the one shown beside the wording), otherwise the wording of the first plan year whose plan
      carries the KPI — the year whose target is the first beside it — never a later year's.
    - A year whose plan carries the KPI shows its target even before it is evaluated (the catalog
      of next year exists before its data): the evaluation's target text once evaluated, the plan's
      stated target (``stated_target``) until then.
    - A year without an evaluation of the KPI shows its actual from ``kpi_actuals`` where the scope
      has the KPI's measure that year (``actuals``: the ``kpi_actuals`` rows of the plan years and
      the year before; None: not read), so the trend arrow can be drawn across the years; the first
      plan year's arrow compares with the year before the plan (the evaluation's previous-year
      value, or ``kpi_actuals``).
    """
    years = action_plan.years
    own = {k.key: k for k in action_plan.kpis_for(branch)}
    plans = {fy: _scope_kpis(catalogs.get(fy), branch) for fy in years}
    national_keys = {fy: _national_keys(catalogs.get(fy)) for fy in years}
    definitions: dict[str, dict[int, Kpi]] = {}
    keys: dict[str, str] = {key: k.text for key, k in own.items()}
    for fy in years:
        for kpi in plans[fy][1] if plans[fy] else []:
            definitions.setdefault(kpi.key, {})[fy] = kpi
            keys.setdefault(kpi.key, kpi.text)  # the first year's wording: the year whose target stands beside it
    rows = []
    ev = evaluations[evaluations["branch_code"] == branch] if len(evaluations) else evaluations
    for order, (key, text) in enumerate(keys.items(), start=1):
        target = stated_target(own[key], branch) if key in own else ""
        any_definition = own.get(key) or next(iter(definitions.get(key, {}).values()), None)
        previous = None
        for i, fy in enumerate(years):
            applies = plans[fy]
            kpi = definitions.get(key, {}).get(fy)
            row = {"action_plan": action_plan.name, "branch_code": branch, "kpi_key": key, "kpi_text": text, "fiscal_year": fy,
                   "plan": applies[0] if applies else "", "target_text": "", "actual_text": "", "actual_value": None, "trend": "",
                   "action_plan_target": target, "kpi_order": order}
            hit = ev[(ev["fiscal_year"] == fy) & (ev["kpi_key"] == key)] if len(ev) and kpi is not None else ev.iloc[0:0]
            if applies is None:
                row["status"] = NO_PLAN
            elif kpi is None:
                # a branch following the national plan: a KPI of the branch's own plans of other years is
                # not 対象外 — the branch's own plan of the year is what is not registered
                follows_national = applies[0] == "本部目標を適用"
                row["status"] = NO_PLAN if follows_national and key not in national_keys[fy] else NOT_A_KPI
            elif hit.empty:
                row["status"] = NO_DATA
                row["target_text"] = stated_target(kpi, branch)
            else:
                h = hit.iloc[0]
                row.update(target_text=h["target_text"], actual_text=h["actual_text"], status=h["status"],
                           actual_value=None if pd.isna(h["actual_value"]) else float(h["actual_value"]))
                if i == 0 and previous is None and "prior_year_value" in h and not pd.isna(h["prior_year_value"]):
                    previous = float(h["prior_year_value"])
            if row["actual_value"] is None and not row["actual_text"] and any_definition is not None:
                found = _actual_from_actuals(kpi or any_definition, fy, branch, actuals)
                if found is not None:
                    row["actual_value"], row["actual_text"] = found
                    if row["status"] == NO_DATA:
                        row["status"] = NOT_EVALUATED
            if i == 0 and previous is None and any_definition is not None:
                found = _actual_from_actuals(kpi or any_definition, fy - 1, branch, actuals)
                previous = found[0] if found else None
            value = row["actual_value"]
            row["trend"] = _trend(value, previous)
            if value is not None:
                previous = value
            rows.append(row)
    return pd.DataFrame(rows, columns=VIEW_COLUMNS)


def _national_keys(catalog: Catalog | None) -> set[str]:
    return {k.key for k in catalog.national.kpis} if catalog is not None and catalog.national is not None else set()


def action_plan_target_label(view: pd.DataFrame) -> str:
    """``アクションプラン目標（令和5年度）``: the Action Plan's own targets are for its last year."""
    return f"アクションプラン目標（{fiscal_year_label_ja(int(view['fiscal_year'].max()))}）"


def wide(view: pd.DataFrame) -> pd.DataFrame:
    """One row per KPI key in the view's order (``kpi_order``), the plan years side by side (for the
    sheet and the UI); the Action Plan's own target after the KPI when the Action Plan sets any."""
    out = []
    if len(view) and "kpi_order" in view:  # as read back from the warehouse: in the view's order
        view = view.sort_values(["kpi_order", "fiscal_year"], kind="stable", na_position="last")
    with_target = bool(len(view)) and view["action_plan_target"].astype(object).fillna("").ne("").any()
    label = action_plan_target_label(view) if with_target else ""
    for key, g in view.groupby("kpi_key", sort=False):
        row = {"KPI": g["kpi_text"].iloc[0]}
        if with_target:
            row[label] = g["action_plan_target"].iloc[0] or ""
        for r in g.itertuples():
            fy_label = f"FY{r.fiscal_year}"
            row[f"{fy_label} 目標"] = r.target_text or ""
            row[f"{fy_label} 実績"] = f"{r.actual_text}{r.trend or ''}" if r.actual_text else ""
            row[f"{fy_label} 達成状況"] = r.status
        out.append(row)
    return pd.DataFrame(out)
