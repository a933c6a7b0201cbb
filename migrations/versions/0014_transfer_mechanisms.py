"""transfer mechanisms: an entry may name several transfer mechanisms

Revision ID: 0014_transfer_mechanisms
Revises: 0013_webhooks
Create Date: 2026-12-03 11:00:00

A processor's one ``transfer_mechanism`` (a code) becomes ``transfer_mechanisms``, a list of
codes: a value becomes a one-element list, an empty one an empty list. The snapshots of
published versions and the fields stored on changes keep the shape they were written in; the
code reads both (``registry.lists.snapshots``). Each list gets a new revision, as it would for
any change its readers see. A downgrade keeps each entry's first mechanism.
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0014_transfer_mechanisms'
down_revision = '0013_webhooks'
branch_labels = None
depends_on = None


def _processors(*columns):
    return sa.table('processors', sa.column('id', sa.Integer), *columns)


def upgrade():
    with op.batch_alter_table('processors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transfer_mechanisms', sa.JSON(), nullable=True))

    connection = op.get_bind()
    old = _processors(sa.column('transfer_mechanism', sa.String))
    new = _processors(sa.column('transfer_mechanisms', sa.JSON))
    for processor_id, mechanism in connection.execute(sa.select(old.c.id, old.c.transfer_mechanism)):
        connection.execute(
            new.update()
            .where(new.c.id == processor_id)
            .values(transfer_mechanisms=[mechanism] if mechanism else [])
        )

    with op.batch_alter_table('processors', schema=None) as batch_op:
        batch_op.alter_column('transfer_mechanisms', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('transfer_mechanism')

    # Every list's JSON and CSV now show the new field: a new revision, so that no reader's
    # cached copy (its ETag is made of the revision) is confirmed as current.
    op.execute("UPDATE lists SET revision = revision + 1")


def downgrade():
    with op.batch_alter_table('processors', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('transfer_mechanism', sa.String(length=32), nullable=False, server_default='')
        )

    connection = op.get_bind()
    old = _processors(sa.column('transfer_mechanism', sa.String))
    new = _processors(sa.column('transfer_mechanisms', sa.JSON))
    for processor_id, mechanisms in connection.execute(sa.select(new.c.id, new.c.transfer_mechanisms)):
        if isinstance(mechanisms, str):  # a driver that hands JSON back as text
            mechanisms = json.loads(mechanisms)
        connection.execute(
            old.update()
            .where(old.c.id == processor_id)
            .values(transfer_mechanism=(mechanisms or [''])[0])
        )

    with op.batch_alter_table('processors', schema=None) as batch_op:
        batch_op.alter_column('transfer_mechanism', existing_type=sa.String(length=32), server_default=None)
        batch_op.drop_column('transfer_mechanisms')
