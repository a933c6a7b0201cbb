"""redacted error texts: no stored error text keeps an email address; retention's indexes

Revision ID: 0017_redacted_error_texts
Revises: 0016_partial_revision_index
Create Date: 2026-12-07 14:30:00

Error texts (of notifications, their attempts, subscribers' bounces and webhook deliveries) are
redacted where they are recorded from now on (``registry.redaction``): an SMTP reply quoting an
address keeps its code and words, with "[address]" where the address was. This cleans the texts
written before, once, so that an erasure never has to search other rows' texts for an address.
Read and written in batches by key: only the rows whose text holds an "@" are loaded.

It also indexes subscribers by status and the date their retention period runs from, and the
few notifications whose context names an address (a partial index), so that each batch of the
retention job finds what it erases without reading every subscriber or the whole outbox.

The downgrade drops the indexes and leaves the texts as they are: what was redacted is gone,
and the older code reads redacted texts as it reads any other.
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0017_redacted_error_texts'
down_revision = '0016_partial_revision_index'
branch_labels = None
depends_on = None

# (table, text column) of every error text a server or a receiver wrote.
TEXTS = (
    ('notifications', 'last_error'),
    ('delivery_attempts', 'error'),
    ('subscribers', 'bounce_reason'),
    ('webhook_deliveries', 'last_error'),
)
BATCH = 1000

# ``registry.redaction`` as it was when this migration was written, copied so that the upgrade
# does the same whatever that module becomes.
_ATOM = r"""[^\s<>()\[\]{},;:"'`@]+"""
_DOMAIN = rf"(?:{_ATOM}|\[[^\]\s]*\])"
_ADDRESS = re.compile(rf'(?:{_ATOM}|"[^"\r\n]*")@{_DOMAIN}')


def redact_addresses(text):
    return _ADDRESS.sub("[address]", text) if "@" in text else text


def upgrade():
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index('ix_subscribers_status_unsubscribed_at', ['status', 'unsubscribed_at'], unique=False)
        batch_op.create_index('ix_subscribers_status_bounced_at', ['status', 'bounced_at'], unique=False)
    # The notifications whose context names an address (registry.notifications.models).
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(
            'ix_notifications_address_created_at',
            ['created_at'],
            unique=False,
            sqlite_where=sa.text("json_extract(notifications.context, '$.address') IS NOT NULL"),
            postgresql_where=sa.text("(notifications.context ->> 'address') IS NOT NULL"),
        )
    connection = op.get_bind()
    for table, column in TEXTS:
        rows = sa.table(table, sa.column('id', sa.Integer), sa.column(column, sa.Text))
        text = rows.c[column]
        change = (
            sa.update(rows).where(rows.c.id == sa.bindparam('row_id')).values({column: sa.bindparam('text')})
        )
        after = 0
        while True:
            batch = connection.execute(
                sa.select(rows.c.id, text)
                .where(rows.c.id > after, text.like('%@%'))
                .order_by(rows.c.id)
                .limit(BATCH)
            ).all()
            if not batch:
                break
            after = batch[-1][0]
            redacted = [(row_id, value, redact_addresses(value)) for row_id, value in batch]
            changed = [{'row_id': row_id, 'text': new} for row_id, old, new in redacted if new != old]
            if changed:
                connection.execute(change, changed)


def downgrade():
    # The texts stay redacted: what was redacted is gone.
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_address_created_at')
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_subscribers_status_bounced_at')
        batch_op.drop_index('ix_subscribers_status_unsubscribed_at')
