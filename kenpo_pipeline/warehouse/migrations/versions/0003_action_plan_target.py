"""action_plan_view.action_plan_target: the Action Plan's own target beside each year's

The Action Plans are data now (assets/catalogs/AP<n>.yaml) and carry their own KPIs, set for the
plan's end; the three-year view shows that target on every row of the KPI. NULL for rows written
before this revision (the view is rewritten whole at its next materialization).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('action_plan_view') as batch_op:
        batch_op.add_column(sa.Column('action_plan_target', sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('action_plan_view') as batch_op:
        batch_op.drop_column('action_plan_target')
