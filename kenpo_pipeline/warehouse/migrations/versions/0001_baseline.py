"""Baseline: feed loads, quarantine, feed tables, KPI layer, publications, data quality

Revision ID: 0001
Revises: 
Create Date: 2026-11-22

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('action_plan_view',
    sa.Column('action_plan', sa.String(length=64), nullable=False),
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('kpi_key', sa.String(length=64), nullable=False),
    sa.Column('kpi_text', sa.Text(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('plan', sa.String(length=16), nullable=True),
    sa.Column('target_text', sa.Text(), nullable=True),
    sa.Column('actual_text', sa.Text(), nullable=True),
    sa.Column('actual_value', sa.Float(precision=53), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trend', sa.String(length=2), nullable=True)
    )
    op.create_table('data_quality',
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('feed', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=True),
    sa.Column('rows_loaded', sa.Integer(), nullable=True),
    sa.Column('rows_quarantined', sa.Integer(), nullable=True),
    sa.Column('warnings', sa.Integer(), nullable=True),
    sa.Column('top_reasons', sa.Text(), nullable=True)
    )
    op.create_table('feed_loads',
    sa.Column('load_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('feed', sa.String(length=32), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_loaded', sa.Integer(), nullable=False),
    sa.Column('rows_quarantined', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('file_format', sa.String(length=8), nullable=True),
    sa.Column('encoding', sa.String(length=16), nullable=True),
    sa.Column('warnings', sa.Text(), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('load_id')
    )
    op.create_index('ix_feed_loads_feed_month_status', 'feed_loads', ['feed', 'month', 'status'], unique=False)
    op.create_table('kpi_actuals',
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('as_of_month', sa.String(length=7), nullable=False),
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('measure', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(precision=53), nullable=True),
    sa.Column('numerator', sa.Float(precision=53), nullable=True),
    sa.Column('denominator', sa.Float(precision=53), nullable=True),
    sa.Column('months_covered', sa.Integer(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False)
    )
    op.create_index('ix_kpi_actuals_fy_month', 'kpi_actuals', ['fiscal_year', 'as_of_month'], unique=False)
    op.create_table('monthly_aggregates',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('input', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(precision=53), nullable=False)
    )
    op.create_index('ix_monthly_aggregates_month', 'monthly_aggregates', ['month'], unique=False)
    op.create_table('pdca_evaluation',
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('plan', sa.String(length=16), nullable=False),
    sa.Column('kpi_id', sa.String(length=64), nullable=False),
    sa.Column('kpi_key', sa.String(length=64), nullable=False),
    sa.Column('section', sa.Text(), nullable=False),
    sa.Column('kpi_text', sa.Text(), nullable=False),
    sa.Column('target_text', sa.Text(), nullable=True),
    sa.Column('target_value', sa.Float(precision=53), nullable=True),
    sa.Column('actual_value', sa.Float(precision=53), nullable=True),
    sa.Column('actual_text', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('prior_year_value', sa.Float(precision=53), nullable=True),
    sa.Column('prior_year_text', sa.Text(), nullable=True),
    sa.Column('reference_text', sa.Text(), nullable=True),
    sa.Column('as_of_month', sa.String(length=7), nullable=False),
    sa.Column('kpi_order', sa.Integer(), nullable=False),
    sa.Column('measure', sa.String(length=200), nullable=True),
    sa.Column('judgement_month', sa.String(length=7), nullable=True),
    sa.Column('warnings', sa.Text(), nullable=True),
    sa.Column('projected_value', sa.Float(precision=53), nullable=True),
    sa.Column('projected_text', sa.Text(), nullable=True),
    sa.Column('projected_status', sa.String(length=8), nullable=True)
    )
    op.create_index('ix_pdca_evaluation_fy_branch', 'pdca_evaluation', ['fiscal_year', 'branch_code'], unique=False)
    op.create_table('pdca_publications',
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=128), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('as_of_month', sa.String(length=7), nullable=False),
    sa.Column('catalog_sha256', sa.String(length=64), nullable=False),
    sa.Column('load_ids', sa.Text(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False)
    )
    op.create_index('ix_pdca_publications_fy', 'pdca_publications', ['fiscal_year', 'version'], unique=True)
    op.create_table('pdca_published_evaluation',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('plan', sa.String(length=16), nullable=False),
    sa.Column('kpi_id', sa.String(length=64), nullable=False),
    sa.Column('kpi_key', sa.String(length=64), nullable=False),
    sa.Column('section', sa.Text(), nullable=False),
    sa.Column('kpi_text', sa.Text(), nullable=False),
    sa.Column('target_text', sa.Text(), nullable=True),
    sa.Column('target_value', sa.Float(precision=53), nullable=True),
    sa.Column('actual_value', sa.Float(precision=53), nullable=True),
    sa.Column('actual_text', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('prior_year_value', sa.Float(precision=53), nullable=True),
    sa.Column('prior_year_text', sa.Text(), nullable=True),
    sa.Column('reference_text', sa.Text(), nullable=True),
    sa.Column('as_of_month', sa.String(length=7), nullable=False),
    sa.Column('kpi_order', sa.Integer(), nullable=False),
    sa.Column('measure', sa.String(length=200), nullable=True),
    sa.Column('judgement_month', sa.String(length=7), nullable=True),
    sa.Column('warnings', sa.Text(), nullable=True),
    sa.Column('projected_value', sa.Float(precision=53), nullable=True),
    sa.Column('projected_text', sa.Text(), nullable=True),
    sa.Column('projected_status', sa.String(length=8), nullable=True)
    )
    op.create_index('ix_pdca_published_fy', 'pdca_published_evaluation', ['fiscal_year', 'version'], unique=False)
    op.create_table('benefits',
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('application_id', sa.Text(), nullable=False),
    sa.Column('benefit_type', sa.Text(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['load_id'], ['feed_loads.load_id'], )
    )
    op.create_index('ix_benefits_month_branch', 'benefits', ['month', 'branch_code'], unique=False)
    op.create_table('claims_review',
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('claim_id', sa.Text(), nullable=False),
    sa.Column('service_month', sa.String(length=7), nullable=False),
    sa.Column('review_type', sa.Text(), nullable=False),
    sa.Column('claimed_points', sa.BigInteger(), nullable=False),
    sa.Column('reduced_points', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['load_id'], ['feed_loads.load_id'], )
    )
    op.create_index('ix_claims_review_month_branch', 'claims_review', ['month', 'branch_code'], unique=False)
    op.create_table('indicators',
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('indicator', sa.Text(), nullable=False),
    sa.Column('value', sa.Float(precision=53), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['load_id'], ['feed_loads.load_id'], )
    )
    op.create_index('ix_indicators_month_branch', 'indicators', ['month', 'branch_code'], unique=False)
    op.create_table('quarantine',
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('feed', sa.String(length=32), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('column_name', sa.Text(), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('rules', sa.Text(), nullable=True),
    sa.Column('record', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['load_id'], ['feed_loads.load_id'], )
    )
    op.create_index('ix_quarantine_feed_month', 'quarantine', ['feed', 'month'], unique=False)
    op.create_table('screenings',
    sa.Column('branch_code', sa.String(length=2), nullable=False),
    sa.Column('population', sa.Text(), nullable=False),
    sa.Column('program', sa.Text(), nullable=False),
    sa.Column('eligible', sa.BigInteger(), nullable=False),
    sa.Column('completed', sa.BigInteger(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['load_id'], ['feed_loads.load_id'], )
    )
    op.create_index('ix_screenings_month_branch', 'screenings', ['month', 'branch_code'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_screenings_month_branch', table_name='screenings')
    op.drop_table('screenings')
    op.drop_index('ix_quarantine_feed_month', table_name='quarantine')
    op.drop_table('quarantine')
    op.drop_index('ix_indicators_month_branch', table_name='indicators')
    op.drop_table('indicators')
    op.drop_index('ix_claims_review_month_branch', table_name='claims_review')
    op.drop_table('claims_review')
    op.drop_index('ix_benefits_month_branch', table_name='benefits')
    op.drop_table('benefits')
    op.drop_index('ix_pdca_published_fy', table_name='pdca_published_evaluation')
    op.drop_table('pdca_published_evaluation')
    op.drop_index('ix_pdca_publications_fy', table_name='pdca_publications')
    op.drop_table('pdca_publications')
    op.drop_index('ix_pdca_evaluation_fy_branch', table_name='pdca_evaluation')
    op.drop_table('pdca_evaluation')
    op.drop_index('ix_monthly_aggregates_month', table_name='monthly_aggregates')
    op.drop_table('monthly_aggregates')
    op.drop_index('ix_kpi_actuals_fy_month', table_name='kpi_actuals')
    op.drop_table('kpi_actuals')
    op.drop_index('ix_feed_loads_feed_month_status', table_name='feed_loads')
    op.drop_table('feed_loads')
    op.drop_table('data_quality')
    op.drop_table('action_plan_view')
