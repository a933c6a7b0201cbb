"""partial revision index: a notice's notification has no entry in the revision index

Revision ID: 0016_partial_revision_index
Revises: 0015_rendered_answers
Create Date: 2026-12-07 14:20:00

``ix_notifications_revision_id_status`` held a row for every notification, and nearly all of
them (a notice's, a confirmation's) have no revision: marking one sent moved its entry from
(NULL, sending) to (NULL, sent), a page or two rewritten per message for nothing. Now it holds
the rows about a revision only; every query of it names a revision, so it still serves them.
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_partial_revision_index'
down_revision = '0015_rendered_answers'
branch_labels = None
depends_on = None

_WHERE = sa.text('revision_id IS NOT NULL')


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_revision_id_status')
        batch_op.create_index(
            'ix_notifications_revision_id_status',
            ['revision_id', 'status'],
            unique=False,
            sqlite_where=_WHERE,
            postgresql_where=_WHERE,
        )


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_revision_id_status')
        batch_op.create_index('ix_notifications_revision_id_status', ['revision_id', 'status'], unique=False)
