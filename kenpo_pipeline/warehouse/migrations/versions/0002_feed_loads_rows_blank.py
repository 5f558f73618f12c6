"""feed_loads.rows_blank: blank lines of a file, counted apart from the data lines

Every data line of a file is either loaded or quarantined (rows_read = rows_loaded +
rows_quarantined); blank lines are not data and are counted here. NULL for loads recorded before
this revision (they were not counted).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('feed_loads') as batch_op:
        batch_op.add_column(sa.Column('rows_blank', sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('feed_loads') as batch_op:
        batch_op.drop_column('rows_blank')
