"""subscriptions to documents, and notifications of document revisions

Revision ID: 0007_document_subscriptions
Revises: 0006_documents
Create Date: 2026-11-25 08:06:59.936686

Generated with ``flask db revision --autogenerate`` and checked by hand: autogenerate sees
neither CHECK constraint, so the subscription's "exactly one of list or document" and the two
new notification kinds (the kind column is a CHECK-constrained VARCHAR, not a native enum) are
written here. Batch mode rebuilds the tables on SQLite and is plain ALTER TABLE on PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_document_subscriptions'
down_revision = '0006_documents'
branch_labels = None
depends_on = None

OLD_KINDS = ('notice', 'reminder', 'digest', 'confirmation', 'manage_link', 'objection_receipt')
NEW_KINDS = OLD_KINDS + ('revision', 'revision_withdrawal')
ONE_TARGET = (
    "(list_id IS NOT NULL AND document_id IS NULL) OR (list_id IS NULL AND document_id IS NOT NULL)"
)


def _kinds(kinds):
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_notifications_revision_id_status', ['revision_id', 'status'], unique=False)
        batch_op.create_unique_constraint('uq_notifications_subscriber_revision_kind', ['subscriber_id', 'revision_id', 'kind'])
        batch_op.create_foreign_key(batch_op.f('fk_notifications_revision_id_document_revisions'), 'document_revisions', ['revision_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_notifications_notification_kind'), _kinds(NEW_KINDS))

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_id', sa.Integer(), nullable=True))
        batch_op.alter_column('list_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_subscriptions_document_id'), ['document_id'], unique=False)
        batch_op.create_unique_constraint('uq_subscriptions_subscriber_id_document_id', ['subscriber_id', 'document_id'])
        batch_op.create_foreign_key(batch_op.f('fk_subscriptions_document_id_documents'), 'documents', ['document_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_subscriptions_one_target'), ONE_TARGET)


def downgrade():
    # What only the new schema can hold goes first: subscriptions to documents, and the
    # notifications of revisions (a digest that bundled some keeps the rest).
    op.execute("DELETE FROM subscriptions WHERE document_id IS NOT NULL")
    op.execute("DELETE FROM delivery_attempts WHERE notification_id IN (SELECT id FROM notifications WHERE revision_id IS NOT NULL)")
    op.execute("DELETE FROM notifications WHERE revision_id IS NOT NULL")

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_subscriptions_one_target'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_subscriptions_document_id_documents'), type_='foreignkey')
        batch_op.drop_constraint('uq_subscriptions_subscriber_id_document_id', type_='unique')
        batch_op.drop_index(batch_op.f('ix_subscriptions_document_id'))
        batch_op.alter_column('list_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('document_id')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_notifications_notification_kind'), _kinds(OLD_KINDS))
        batch_op.drop_constraint(batch_op.f('fk_notifications_revision_id_document_revisions'), type_='foreignkey')
        batch_op.drop_constraint('uq_notifications_subscriber_revision_kind', type_='unique')
        batch_op.drop_index('ix_notifications_revision_id_status')
        batch_op.drop_column('revision_id')
