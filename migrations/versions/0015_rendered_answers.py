"""rendered answers: the bytes of immutable public answers, shared by every worker

Revision ID: 0015_rendered_answers
Revises: 0014_transfer_mechanisms
Create Date: 2026-12-03 11:10:00

A past version, a diff between two versions or an older page of history is rendered once per
installation and kept here, keyed by a digest of what it is and of the code that rendered it.
What moves with a list (its current page, the first page of its history, its feeds) is stored
too, one row per list and thing: ``family`` names it, and a newer revision's row replaces it.
Nothing here is a record: the table may be emptied at any time and fills itself again.
"""
from alembic import op
import sqlalchemy as sa

import registry.timeutil


revision = '0015_rendered_answers'
down_revision = '0014_transfer_mechanisms'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rendered_answers',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=500), nullable=False),
        sa.Column('code_revision', sa.String(length=32), nullable=False),
        sa.Column('family', sa.String(length=64), nullable=True),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', registry.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_rendered_answers')),
    )
    with op.batch_alter_table('rendered_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rendered_answers_code_revision'), ['code_revision'], unique=False)
        batch_op.create_index(batch_op.f('ix_rendered_answers_family'), ['family'], unique=False)


def downgrade():
    with op.batch_alter_table('rendered_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rendered_answers_family'))
        batch_op.drop_index(batch_op.f('ix_rendered_answers_code_revision'))
    op.drop_table('rendered_answers')
