"""person.first_name: the Telegram first names of residents and cadres kept until now are erased
(nothing needs them: reports name people by pseudonym, /mydata by id); organizers' stay (the other
organizers read who answered a comment); the column stays

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    person = sa.table('person', sa.column('first_name', sa.String), sa.column('role', sa.String))
    op.execute(person.update().where(person.c.first_name != '', person.c.role != 'organizer').values(first_name=''))


def downgrade() -> None:
    pass  # (the names are gone: nothing to bring back)
