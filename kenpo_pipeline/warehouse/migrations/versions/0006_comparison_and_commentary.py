"""branch_comparison (ranks of the branches per measure), kpi_commentary (自己評価・要因分析 imported from workbooks, every version kept) and
pdca_publications.commentary_ids (the versions a publication shows).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'kpi_commentary',
        sa.Column('commentary_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('fiscal_year', sa.Integer(), nullable=False),
        sa.Column('branch_code', sa.String(length=2), nullable=False),
        sa.Column('kpi_id', sa.String(length=64), nullable=False),
        sa.Column('implementation', sa.Text(), nullable=False),
        sa.Column('self_assessment', sa.Text(), nullable=False),
        sa.Column('cause_analysis', sa.Text(), nullable=False),
        sa.Column('next_steps', sa.Text(), nullable=False),
        sa.Column('entered_by', sa.String(length=128), nullable=False),
        sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source_file', sa.Text(), nullable=False),
        sa.Column('source_sha256', sa.String(length=64), nullable=False),
        sa.Column('workbook_generated_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('commentary_id'),
    )
    op.create_index('ix_kpi_commentary_scope', 'kpi_commentary', ['fiscal_year', 'branch_code', 'kpi_id'], unique=False)
    op.create_table(
        'branch_comparison',
        sa.Column('fiscal_year', sa.Integer(), nullable=False),
        sa.Column('as_of_month', sa.String(length=7), nullable=False),
        sa.Column('measure', sa.String(length=64), nullable=False),
        sa.Column('branch_code', sa.String(length=2), nullable=False),
        sa.Column('value', sa.Float(precision=53), nullable=True),
        sa.Column('national_value', sa.Float(precision=53), nullable=True),
        sa.Column('rank', sa.Integer(), nullable=True),
        sa.Column('ranked_of', sa.Integer(), nullable=False),
        sa.Column('prior_year_value', sa.Float(precision=53), nullable=True),
        sa.Column('improvement', sa.Float(precision=53), nullable=True),
        sa.Column('improvement_rank', sa.Integer(), nullable=True),
        sa.Column('better', sa.String(length=8), nullable=False),
    )
    op.create_index('ix_branch_comparison_fy', 'branch_comparison', ['fiscal_year', 'measure'], unique=False)
    with op.batch_alter_table('pdca_publications') as batch_op:
        batch_op.add_column(sa.Column('commentary_ids', sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('pdca_publications') as batch_op:
        batch_op.drop_column('commentary_ids')
    op.drop_index('ix_kpi_commentary_scope', table_name='kpi_commentary')
    op.drop_table('kpi_commentary')
    op.drop_index('ix_branch_comparison_fy', table_name='branch_comparison')
    op.drop_table('branch_comparison')
