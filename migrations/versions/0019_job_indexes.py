"""job indexes: notifications by age, and sign-ups never confirmed by the date of their request

Revision ID: 0019_job_indexes
Revises: 0018_notification_indexes
Create Date: 2026-12-07 23:50:00

The retention job anonymises the delivery records past RETENTION_DELIVERY_YEARS and deletes the
sign-ups never confirmed past UNCONFIRMED_PURGE_AFTER_SECONDS. Without an index for either, each
run read the whole outbox (twice) and every subscriber, to find what is usually nothing: its
time grew with the number of subscribers, not with what it changed.

``ix_notifications_created_at`` holds every notification, by the moment it was written. On
SQLite no UPDATE changes that column, so sending a message never rewrites it. PostgreSQL writes
an entry in every B-tree index of a row whose status changes (twice per message, see 0018): there
it is a BRIN index, a summary per range of pages, which the outbox's order of writing (by time)
suits, and which a status change rarely touches. The index of subscribers
never confirmed holds only those (a partial index): a confirmation takes the row out of it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0019_job_indexes'
down_revision = '0018_notification_indexes'
branch_labels = None
depends_on = None

_UNCONFIRMED = sa.text('confirmed_at IS NULL')


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_created_at', ['created_at'], unique=False, postgresql_using='brin')
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index(
            'ix_subscribers_unconfirmed_requested_at',
            ['requested_at'],
            unique=False,
            sqlite_where=_UNCONFIRMED,
            postgresql_where=_UNCONFIRMED,
        )


def downgrade():
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_subscribers_unconfirmed_requested_at')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_created_at')
