"""Declarative automation: KPI actuals, evaluations and reports follow the loaded months.

When a feed month loads (a landing-sensor run, the monthly schedule, a backfill), the assets
downstream of it are requested by the automation sensor below — the month's aggregate, then the
fiscal year's ``kpi_actuals``, then that year's and the next year's ``pdca_evaluation`` (a year's
evaluation compares with the previous year's actuals), the workbooks and the quality report.

The condition is Dagster's ``eager()`` with two differences that matter here:
- every partition follows its upstream, not only the latest one: a corrected file for a past month
  updates that past fiscal year (``eager()`` looks at the latest time window only);
- a fiscal year with months not yet loaded is computed anyway (``eager()`` waits while any upstream
  partition is missing, and the year in progress always has missing months).
It waits while an upstream is being materialized, and until the upstream's blocking checks have
passed (``all_deps_blocking_checks_passed``): a rejected month (its ``accepted`` check failed)
stops the automation below it until a good file is loaded.
"""

import dagster as dg

from kenpo_pipeline.settings import load_settings

AUTOMATION_SENSOR_NAME = "kpi_automation"


def follows_loaded_months() -> dg.AutomationCondition:
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled().with_label("upstream updated since last handled")
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("follows_loaded_months")


kpi_automation_sensor = dg.AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR_NAME,
    target=dg.AssetSelection.groups("kpis", "reports", "checks"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=load_settings().automation_interval_seconds,
    description="読み込まれた月に合わせて、KPI実績・評価・帳票・データ品質を自動で更新します（ブロッキングチェックの合格を待ちます）。",
)


@dg.definitions
def automation_definitions() -> dg.Definitions:
    return dg.Definitions(sensors=[kpi_automation_sensor])
