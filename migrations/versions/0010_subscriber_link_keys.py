"""subscriber link keys: unique, so that links find their subscriber by key instead of by id

Revision ID: 0010_subscriber_link_keys
Revises: 0009_append_only_tables
Create Date: 2026-12-03 07:00:00

Manage, fresh, unsubscribe and address links carry the subscriber's random key and no longer
its sequential id; the key is looked up, so it gets a unique index. Keys are 96 random bits
(``secrets.token_urlsafe(12)``): existing rows do not collide.
"""
from alembic import op


revision = '0010_subscriber_link_keys'
down_revision = '0009_append_only_tables'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_subscribers_token_key'), ['token_key'])


def downgrade():
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_subscribers_token_key'), type_='unique')
