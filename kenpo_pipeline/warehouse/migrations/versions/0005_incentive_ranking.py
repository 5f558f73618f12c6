"""incentive_ranking: each branch's standing in the インセンティブ制度, month by month (issue 14)

One row per fiscal year, as-of month, branch 01–47 and indicator of the year's scoring
(assets/catalogs/incentive/FY<year>.yaml): the indicator's value, previous-year value, improvement,
deviation scores, score and rank, the branch's total, rank, rewarded flag and status, and the same
on projected year-end values. A new table: nothing to convert.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'incentive_ranking',
        sa.Column('fiscal_year', sa.Integer(), nullable=False),
        sa.Column('as_of_month', sa.String(length=7), nullable=False),
        sa.Column('branch_code', sa.String(length=2), nullable=False),
        sa.Column('indicator_order', sa.Integer(), nullable=False),
        sa.Column('indicator', sa.String(length=64), nullable=False),
        sa.Column('indicator_name', sa.Text(), nullable=False),
        sa.Column('measure', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Float(precision=53), nullable=True),
        sa.Column('prior_value', sa.Float(precision=53), nullable=True),
        sa.Column('improvement', sa.Float(precision=53), nullable=True),
        sa.Column('level_score', sa.Float(precision=53), nullable=True),
        sa.Column('improvement_score', sa.Float(precision=53), nullable=True),
        sa.Column('indicator_score', sa.Float(precision=53), nullable=True),
        sa.Column('indicator_rank', sa.Integer(), nullable=True),
        sa.Column('indicator_reason', sa.Text(), nullable=True),
        sa.Column('total', sa.Float(precision=53), nullable=True),
        sa.Column('rank', sa.Integer(), nullable=True),
        sa.Column('rewarded', sa.Boolean(), nullable=True),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('projected_value', sa.Float(precision=53), nullable=True),
        sa.Column('projected_prior_value', sa.Float(precision=53), nullable=True),
        sa.Column('projected_improvement', sa.Float(precision=53), nullable=True),
        sa.Column('projected_level_score', sa.Float(precision=53), nullable=True),
        sa.Column('projected_improvement_score', sa.Float(precision=53), nullable=True),
        sa.Column('projected_indicator_score', sa.Float(precision=53), nullable=True),
        sa.Column('projected_indicator_rank', sa.Integer(), nullable=True),
        sa.Column('projected_indicator_reason', sa.Text(), nullable=True),
        sa.Column('projected_total', sa.Float(precision=53), nullable=True),
        sa.Column('projected_rank', sa.Integer(), nullable=True),
        sa.Column('projected_rewarded', sa.Boolean(), nullable=True),
        sa.Column('projected_status', sa.String(length=8), nullable=True),
        sa.Column('projected_reason', sa.Text(), nullable=True),
        sa.Column('rewarded_branches', sa.Integer(), nullable=False),
    )
    op.create_index('ix_incentive_ranking_fy_month', 'incentive_ranking', ['fiscal_year', 'as_of_month'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_incentive_ranking_fy_month', table_name='incentive_ranking')
    op.drop_table('incentive_ranking')
