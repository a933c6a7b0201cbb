"""objection reference: a short readable reference for each objection

Revision ID: 0012_objection_reference
Revises: 0011_pending_subscriptions
Create Date: 2026-12-03 07:50:00

The objector quotes a reference such as ``K7QX-3M9P`` (eight signs without 0/O, 1/I/L) instead
of the objection's 36-character uuid, which stays the internal id. Objections received before
this revision get one here, drawn the same way and unique among them.
"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0012_objection_reference'
down_revision = '0011_pending_subscriptions'
branch_labels = None
depends_on = None

# As registry.objections.models.REFERENCE_ALPHABET at this revision (a migration does not follow
# later changes of the code).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _reference():
    code = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def upgrade():
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference', sa.String(length=9), nullable=True))

    connection = op.get_bind()
    objections = sa.table('objections', sa.column('id', sa.Integer), sa.column('reference', sa.String))
    taken = set()
    for (objection_id,) in connection.execute(sa.select(objections.c.id).order_by(objections.c.id)):
        reference = _reference()
        while reference in taken:
            reference = _reference()
        taken.add(reference)
        connection.execute(
            objections.update().where(objections.c.id == objection_id).values(reference=reference)
        )

    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.alter_column('reference', existing_type=sa.String(length=9), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_objections_reference'), ['reference'])


def downgrade():
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_objections_reference'), type_='unique')
        batch_op.drop_column('reference')
