"""Domain logic: plain functions over files and DataFrames, testable without Dagster or a database.

Grouped by the stage a row travels — ``intake/`` (a file becomes rows) → ``kpis/`` (rows become KPI
values and judgements) → ``reporting/`` (judgements become what people read) — with ``calendar``
(fiscal years, eras, business days) and ``reference`` (branch master, feed layouts, indicator
codes from assets/) shared by every stage. A stage imports only earlier stages and the shared
modules (tests/test_architecture.py).
"""
