"""Warehouse tables (shared spec/outputs.md "Warehouse tables" — a contract: extend, never rename).

Feed tables carry the canonical columns of the feed layouts in ``assets/feeds`` plus ``month``
(``YYYY-MM``), ``load_id`` (→ ``feed_loads``) and ``source_row`` (the row number in the file).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from kenpo_pipeline.domain.reference import FEED_IDS, feed_layout

metadata = MetaData()

feed_loads = Table(
    "feed_loads",
    metadata,
    Column("load_id", Integer, primary_key=True, autoincrement=True),
    Column("feed", String(32), nullable=False),
    Column("month", String(7), nullable=False, default=""),  # empty when the file name is not a month
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False, default=""),
    Column("rows_read", Integer, nullable=False, default=0),
    Column("rows_loaded", Integer, nullable=False, default=0),
    Column("rows_quarantined", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # loaded | rejected | superseded
    Column("reason", Text),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    # extensions
    Column("file_format", String(8)),
    Column("encoding", String(16)),
    Column("warnings", Text),  # JSON list of operator messages
    Column("run_id", String(64)),
    Column("superseded_at", DateTime(timezone=True)),
    Column("rows_blank", Integer),  # blank lines, apart from rows_read (NULL before revision 0002)
    Index("ix_feed_loads_feed_month_status", "feed", "month", "status"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("load_id", Integer, ForeignKey("feed_loads.load_id"), nullable=False),
    Column("feed", String(32), nullable=False),
    Column("month", String(7), nullable=False),
    Column("path", Text, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("column_name", Text, nullable=False),
    Column("value", Text),
    Column("reason", Text, nullable=False),
    # extensions
    Column("rules", Text),  # rule ids of the suite / parser that the row broke
    Column("record", Text),  # the row's cells as JSON, keyed by the Japanese header
    Index("ix_quarantine_feed_month", "feed", "month"),
)

_SQL_TYPES = {
    "branch_code": lambda: String(2),
    "code": lambda: Text(),
    "text": lambda: Text(),
    "date": lambda: Date(),
    "month": lambda: String(7),
    "integer": lambda: BigInteger(),
    "number": lambda: Float(53),
}


def _feed_table(feed: str) -> Table:
    layout = feed_layout(feed)
    cols = [Column(c.canonical, _SQL_TYPES[c.type](), nullable=not c.required) for c in layout.columns]
    return Table(
        feed,
        metadata,
        *cols,
        Column("month", String(7), nullable=False),
        Column("load_id", Integer, ForeignKey("feed_loads.load_id"), nullable=False),
        Column("source_row", Integer, nullable=False),
        Index(f"ix_{feed}_month_branch", "month", "branch_code"),
    )


feed_tables: dict[str, Table] = {feed: _feed_table(feed) for feed in FEED_IDS}

# --- KPI layer (shared spec/outputs.md: kpi_actuals; monthly_aggregates is an extension) ---------

monthly_aggregates = Table(
    "monthly_aggregates",
    metadata,
    Column("month", String(7), nullable=False),
    Column("branch_code", String(2), nullable=False),
    Column("input", String(64), nullable=False),
    Column("value", Float(53), nullable=False),
    Index("ix_monthly_aggregates_month", "month"),
)

kpi_actuals = Table(
    "kpi_actuals",
    metadata,
    Column("fiscal_year", Integer, nullable=False),
    Column("as_of_month", String(7), nullable=False),
    Column("branch_code", String(2), nullable=False),
    Column("measure", String(64), nullable=False),
    Column("value", Float(53)),  # NULL when undefined (zero denominator, no data); unrounded
    Column("numerator", Float(53)),
    Column("denominator", Float(53)),
    Column("months_covered", Integer, nullable=False),
    Column("complete", Boolean, nullable=False),
    Index("ix_kpi_actuals_fy_month", "fiscal_year", "as_of_month"),
)

pdca_evaluation = Table(
    "pdca_evaluation",
    metadata,
    Column("fiscal_year", Integer, nullable=False),
    Column("branch_code", String(2), nullable=False),
    Column("plan", String(16), nullable=False),  # 本部 | 支部 | 本部目標を適用
    Column("kpi_id", String(64), nullable=False),
    Column("kpi_key", String(64), nullable=False),
    Column("section", Text, nullable=False),
    Column("kpi_text", Text, nullable=False),
    Column("target_text", Text),
    Column("target_value", Float(53)),
    Column("actual_value", Float(53)),
    Column("actual_text", Text),
    Column("status", String(8), nullable=False),  # 達成 | 未達成 | 判定不能
    Column("reason", Text),
    Column("prior_year_value", Float(53)),
    Column("prior_year_text", Text),
    Column("reference_text", Text),
    Column("as_of_month", String(7), nullable=False),
    # extensions
    Column("kpi_order", Integer, nullable=False),
    Column("measure", String(200)),
    Column("judgement_month", String(7)),
    Column("warnings", Text),
    Column("projected_value", Float(53)),  # in-year: projected year-end value (see domain/kpis/projection.py)
    Column("projected_text", Text),
    Column("projected_status", String(8)),  # 見込み達成 | 要注意 | ''
    # what renderers need beside the texts (revision 0004; see domain/kpis/judgement.py row_facts)
    Column("rule", String(16)),  # absolute | prior_year | branch_floor | small_count | every_month | done | manual | all_of
    Column("target_op", String(2)),  # >= | <= where the rule compares two numbers
    Column("unit", String(16)),  # of actual_value, target_value, prior_year_value, projected_value
    Column("display_precision", Integer),  # decimals those numbers are shown with
    Index("ix_pdca_evaluation_fy_branch", "fiscal_year", "branch_code"),
)

action_plan_view = Table(
    "action_plan_view",
    metadata,
    Column("action_plan", String(64), nullable=False),
    Column("branch_code", String(2), nullable=False),
    Column("kpi_key", String(64), nullable=False),
    Column("kpi_text", Text, nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("plan", String(16)),
    Column("target_text", Text),
    Column("actual_text", Text),
    Column("actual_value", Float(53)),
    Column("status", String(16), nullable=False),  # 達成 | 未達成 | 判定不能 | 事業計画未登録 | データなし | 対象外
    Column("trend", String(2)),
    Column("action_plan_target", Text),  # the Action Plan's own (plan-end) target for the KPI; '' where it sets none
    Column("kpi_order", Integer),  # the KPI's place in the scope's view (revision 0004; NULL before)
)

# --- year-end freeze (確定): the published evaluation of a fiscal year (extension tables) ----------

pdca_publications = Table(
    "pdca_publications",
    metadata,
    Column("fiscal_year", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("published_by", String(128), nullable=False),
    Column("note", Text),
    Column("as_of_month", String(7), nullable=False),
    Column("catalog_sha256", String(64), nullable=False),  # the catalog (and manual entries) it rests on
    Column("load_ids", Text, nullable=False),  # JSON {feed: {month: load_id}} of the loads it rests on
    Column("rows", Integer, nullable=False),
    Column("commentary_ids", Text),  # JSON list of the kpi_commentary versions it shows (NULL before revision 0006)
    Index("ix_pdca_publications_fy", "fiscal_year", "version", unique=True),
)

pdca_published_evaluation = Table(
    "pdca_published_evaluation",
    metadata,
    Column("version", Integer, nullable=False),
    *[Column(c.name, c.type, nullable=c.nullable) for c in pdca_evaluation.columns],
    Index("ix_pdca_published_fy", "fiscal_year", "version"),
)

incentive_ranking = Table(
    # インセンティブ制度 (domain/kpis/incentive.py): per fiscal year, as-of month, branch 01–47 and
    # indicator of the year's scheme; the branch's total, rank and status repeat on each of its rows.
    # Values unrounded; the projected_* columns are on projected year-end values (NULL as of March).
    "incentive_ranking",
    metadata,
    Column("fiscal_year", Integer, nullable=False),
    Column("as_of_month", String(7), nullable=False),
    Column("branch_code", String(2), nullable=False),
    Column("indicator_order", Integer, nullable=False),
    Column("indicator", String(64), nullable=False),
    Column("indicator_name", Text, nullable=False),
    Column("measure", String(64), nullable=False),
    Column("value", Float(53)),  # 実績: the year-to-date value as of the month
    Column("prior_value", Float(53)),  # the previous year's as of the same month
    Column("improvement", Float(53)),  # 伸び = value − prior_value
    Column("level_score", Float(53)),  # 偏差値 of the value
    Column("improvement_score", Float(53)),  # 偏差値 of the improvement
    Column("indicator_score", Float(53)),  # weight × (level_weight × level_score + improvement_weight × improvement_score)
    Column("indicator_rank", Integer),
    Column("indicator_reason", Text),  # why this indicator cannot be scored for the branch ('' when it can)
    Column("total", Float(53)),
    Column("rank", Integer),  # 1 = best; NULL when 判定不能
    Column("rewarded", Boolean),  # rank ≤ rewarded_branches; NULL when 判定不能
    Column("status", String(8), nullable=False),  # 評価 | 判定不能
    Column("reason", Text),  # the branch's reasons when 判定不能
    Column("projected_value", Float(53)),
    Column("projected_prior_value", Float(53)),  # the previous year's year-end value
    Column("projected_improvement", Float(53)),
    Column("projected_level_score", Float(53)),
    Column("projected_improvement_score", Float(53)),
    Column("projected_indicator_score", Float(53)),
    Column("projected_indicator_rank", Integer),
    Column("projected_indicator_reason", Text),
    Column("projected_total", Float(53)),
    Column("projected_rank", Integer),
    Column("projected_rewarded", Boolean),
    Column("projected_status", String(8)),  # 評価 | 判定不能; NULL as of March (nothing to project)
    Column("projected_reason", Text),
    Column("rewarded_branches", Integer, nullable=False),  # the scheme's number of rewarded branches
    Index("ix_incentive_ranking_fy_month", "fiscal_year", "as_of_month"),
)

# --- branch comparison (支部間比較): ranks of the branches on each measure of the year's KPIs ---------

branch_comparison = Table(
    "branch_comparison",
    metadata,
    Column("fiscal_year", Integer, nullable=False),
    Column("as_of_month", String(7), nullable=False),
    Column("measure", String(64), nullable=False),
    Column("branch_code", String(2), nullable=False),
    Column("value", Float(53)),
    Column("national_value", Float(53)),
    Column("rank", Integer),  # 1 = best among the branches with a value; NULL without one
    Column("ranked_of", Integer, nullable=False),
    Column("prior_year_value", Float(53)),
    Column("improvement", Float(53)),  # 改善幅: value − prior_year_value
    Column("improvement_rank", Integer),
    Column("better", String(8), nullable=False),  # higher | lower
    Index("ix_branch_comparison_fy", "fiscal_year", "measure"),
)

# --- commentary (自己評価・要因分析): every imported version of a KPI's four texts -------------------

kpi_commentary = Table(
    "kpi_commentary",
    metadata,
    Column("commentary_id", Integer, primary_key=True, autoincrement=True),
    Column("fiscal_year", Integer, nullable=False),
    Column("branch_code", String(2), nullable=False),
    Column("kpi_id", String(64), nullable=False),
    Column("implementation", Text, nullable=False),  # 実施内容
    Column("self_assessment", Text, nullable=False),  # 自己評価
    Column("cause_analysis", Text, nullable=False),  # 要因分析
    Column("next_steps", Text, nullable=False),  # 今後の取組
    Column("entered_by", String(128), nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("source_file", Text, nullable=False),  # the workbook's file name
    Column("source_sha256", String(64), nullable=False),
    Column("workbook_generated_at", String(32), nullable=False),  # when the pipeline wrote that workbook
    Index("ix_kpi_commentary_scope", "fiscal_year", "branch_code", "kpi_id"),
)

data_quality = Table(
    "data_quality",
    metadata,
    Column("fiscal_year", Integer, nullable=False),
    Column("month", String(7), nullable=False),
    Column("feed", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # loaded | rejected | missing
    Column("load_id", Integer),
    Column("sha256", String(64)),
    Column("rows_read", Integer),
    Column("rows_loaded", Integer),
    Column("rows_quarantined", Integer),
    Column("warnings", Integer),
    Column("top_reasons", Text),  # the most frequent quarantine reasons of the month
)
