"""Stage 2 — KPIs: loaded rows become KPI values and judgements.

``aggregates`` (the only reader of feed rows; also the evaluation's as-of month) → ``measures``
(how each KPI actual is computed) → ``catalog`` (what each plan targets, from assets/catalogs/) →
``judgement`` (達成 / 未達成 / 判定不能) → ``projection`` (in-year outlook), ``action_plan`` (the
three-year view), ``publication`` (the year-end freeze).
"""
