"""redacted error texts: no stored error text keeps an email address

Revision ID: 0017_redacted_error_texts
Revises: 0015_rendered_answers
Create Date: 2026-12-07 14:30:00

Error texts (of notifications, their attempts, subscribers' bounces and webhook deliveries) are
redacted where they are recorded from now on (``registry.redaction``): an SMTP reply quoting an
address keeps its code and words, with "[address]" where the address was. This cleans the texts
written before, once, so that an erasure never has to search other rows' texts for an address.
Read and written in batches by key: only the rows whose text holds an "@" are loaded.

The downgrade changes nothing: what was redacted is gone, and the older code reads redacted
texts as it reads any other.
"""
from alembic import op
import sqlalchemy as sa

from registry.redaction import redact_addresses


revision = '0017_redacted_error_texts'
down_revision = '0015_rendered_answers'
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


def upgrade():
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
            changed = [
                {'row_id': row_id, 'text': redact_addresses(value)}
                for row_id, value in batch
                if redact_addresses(value) != value
            ]
            if changed:
                connection.execute(change, changed)


def downgrade():
    pass
