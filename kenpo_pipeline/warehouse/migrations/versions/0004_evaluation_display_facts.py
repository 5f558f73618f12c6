"""pdca_evaluation (and its published copy): rule, target_op, unit, display_precision;
action_plan_view.kpi_order

The renderers of an evaluation row (the workbook, the UI Markdown, the command line) read the
comparison, unit and display precision from the row instead of parsing its Japanese texts back.
``rule`` is NULL for rows written before this revision (``pdca_evaluation`` is rewritten whole at
its next materialization; a published copy keeps NULL). Rows with a numeric actual get
``target_op``, ``unit`` and ``display_precision`` here, once, from the texts they were written
with — the only place these facts are ever read from text. ``action_plan_view.kpi_order`` (the
KPI's place in its scope's view) is NULL until the view's next materialization.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

"""
import re
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

EVALUATION_TABLES = ('pdca_evaluation', 'pdca_published_evaluation')
NUMBER_WITH_UNIT = re.compile(r'^-?[0-9,]+(?:\.([0-9]+))?(\S*)$')


def _facts(actual_text, target_text, has_target):
    """(target_op, unit, display_precision) of a legacy row with a numeric actual."""
    target_op = None
    if has_target and target_text:
        target_op = '>=' if target_text.endswith('以上') else '<=' if target_text.endswith('以下') else None
    m = NUMBER_WITH_UNIT.match(actual_text or '')
    if m is None:
        return target_op, None, None
    return target_op, m.group(2), len(m.group(1) or '')


def _backfill(table_name: str) -> None:
    conn = op.get_bind()
    t = sa.table(
        table_name, sa.column('fiscal_year'), sa.column('branch_code'), sa.column('kpi_id'), sa.column('actual_text'),
        sa.column('target_text'), sa.column('target_value'), sa.column('actual_value'), sa.column('target_op'), sa.column('unit'),
        sa.column('display_precision'), *([sa.column('version')] if table_name == 'pdca_published_evaluation' else []),
    )
    rows = conn.execute(sa.select(t).where(t.c.actual_value.is_not(None))).mappings().all()
    for r in rows:
        target_op, unit, precision = _facts(r['actual_text'], r['target_text'], r['target_value'] is not None)
        where = [t.c.fiscal_year == r['fiscal_year'], t.c.branch_code == r['branch_code'], t.c.kpi_id == r['kpi_id']]
        if 'version' in r:
            where.append(t.c.version == r['version'])
        conn.execute(sa.update(t).where(*where).values(target_op=target_op, unit=unit, display_precision=precision))


def upgrade() -> None:
    """Upgrade schema."""
    for name in EVALUATION_TABLES:
        with op.batch_alter_table(name) as batch_op:
            batch_op.add_column(sa.Column('rule', sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column('target_op', sa.String(length=2), nullable=True))
            batch_op.add_column(sa.Column('unit', sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column('display_precision', sa.Integer(), nullable=True))
        _backfill(name)
    with op.batch_alter_table('action_plan_view') as batch_op:
        batch_op.add_column(sa.Column('kpi_order', sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('action_plan_view') as batch_op:
        batch_op.drop_column('kpi_order')
    for name in reversed(EVALUATION_TABLES):
        with op.batch_alter_table(name) as batch_op:
            batch_op.drop_column('display_precision')
            batch_op.drop_column('unit')
            batch_op.drop_column('target_op')
            batch_op.drop_column('rule')
