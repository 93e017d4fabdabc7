"""person.language_chosen: whether person.language was chosen with /language (kept) or
is the one Telegram reported (follows Telegram's)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language_chosen', sa.Boolean(), nullable=False, server_default=sa.false()))
    # a language stored before this column may have been chosen: kept, as it was until now
    person = sa.table('person', sa.column('language', sa.String), sa.column('language_chosen', sa.Boolean))
    op.execute(person.update().where(person.c.language != '').values(language_chosen=True))


def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('language_chosen')
