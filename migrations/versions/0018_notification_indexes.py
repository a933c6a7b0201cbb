"""notification indexes: an outbox row about a notice is in four indexes, not eight

Revision ID: 0018_notification_indexes
Revises: 0017_redacted_error_texts
Create Date: 2026-12-07 23:45:00

PostgreSQL writes a new entry in every index of a row whose indexed columns change, and a
notification's status changes twice on its way out (claimed, then sent): each index of the
outbox costs every message two insertions. Nearly every notification is about a notice, with no
revision, objection or digest; the indexes of those columns now hold only the rows that have
one (partial indexes; every query of them names a value, so they still serve it), and the index
of ``subscriber_id`` goes: the unique (subscriber, notice, kind) index begins with it and serves
every lookup by subscriber. Marking a message sent cost PostgreSQL 145 µs of CPU with eight
indexes (``bench/fanout.py``).

On SQLite the unique constraint on (subscriber, revision, kind) is part of the table, so the
table is rebuilt once to make it a partial unique index.
"""
from alembic import op
import sqlalchemy as sa


revision = '0018_notification_indexes'
down_revision = '0017_redacted_error_texts'
branch_labels = None
depends_on = None


def _where(column):
    clause = sa.text(f'{column} IS NOT NULL')
    return {'sqlite_where': clause, 'postgresql_where': clause}


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notifications_subscriber_revision_kind', type_='unique')
        batch_op.drop_index('ix_notifications_subscriber_id')
        batch_op.drop_index('ix_notifications_objection_id')
        batch_op.drop_index('ix_notifications_digest_id')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(
            'uq_notifications_subscriber_revision_kind',
            ['subscriber_id', 'revision_id', 'kind'],
            unique=True,
            **_where('revision_id'),
        )
        batch_op.create_index('ix_notifications_objection_id', ['objection_id'], unique=False, **_where('objection_id'))
        batch_op.create_index('ix_notifications_digest_id', ['digest_id'], unique=False, **_where('digest_id'))


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_digest_id')
        batch_op.drop_index('ix_notifications_objection_id')
        batch_op.drop_index('uq_notifications_subscriber_revision_kind')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_digest_id', ['digest_id'], unique=False)
        batch_op.create_index('ix_notifications_objection_id', ['objection_id'], unique=False)
        batch_op.create_index('ix_notifications_subscriber_id', ['subscriber_id'], unique=False)
        batch_op.create_unique_constraint(
            'uq_notifications_subscriber_revision_kind', ['subscriber_id', 'revision_id', 'kind']
        )
