"""fsm_state.updated_at: when the row was last written; the scheduler drops rows not written for
30 days (storage.fsm.FSM_TTL, as Redis expires its keys). Rows kept until now get the time of
the upgrade (their age is unknown: they are kept 30 days from it)

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite adds no column with a non-constant default (CURRENT_TIMESTAMP) in place: the table is
    # copied, and the copied rows get the default
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table('fsm_state', schema=None, recreate=recreate) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False,
                                      server_default=sa.text('CURRENT_TIMESTAMP')))


def downgrade() -> None:
    with op.batch_alter_table('fsm_state', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
