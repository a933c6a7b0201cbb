"""publication core: corrections as notices, contributors for four eyes, new notification kinds

Revision ID: 0008_publication_core
Revises: 0007_document_subscriptions
Create Date: 2026-12-02 19:05:00

A correction of a list is now a notice of its own kind (approved where four eyes are on, told
to subscribers); changes and document revisions remember everyone who drafted or edited them,
so none of them can approve; a document revision can wait for approval as a correction. The
kind columns are CHECK-constrained VARCHARs (no native enum): the constraints are rewritten.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_publication_core'
down_revision = '0007_document_subscriptions'
branch_labels = None
depends_on = None

OLD_NOTICE_KINDS = ('announcement', 'withdrawal')
NEW_NOTICE_KINDS = OLD_NOTICE_KINDS + ('correction',)
OLD_KINDS = (
    'notice', 'reminder', 'digest', 'confirmation', 'manage_link', 'objection_receipt',
    'revision', 'revision_withdrawal',
)
NEW_KINDS = OLD_KINDS + ('objection_closed',)


def _in(kinds):
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _kinds(table, constraint, kinds):
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(constraint), type_='check')
        batch_op.create_check_constraint(batch_op.f(constraint), _in(kinds))


def upgrade():
    _kinds('notices', 'ck_notices_notice_kind', NEW_NOTICE_KINDS)
    _kinds('notifications', 'ck_notifications_notification_kind', NEW_KINDS)
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contributor_ids', sa.JSON(), nullable=True))
    with op.batch_alter_table('document_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contributor_ids', sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column('is_correction', sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table('document_revisions', schema=None) as batch_op:
        batch_op.drop_column('is_correction')
        batch_op.drop_column('contributor_ids')
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_column('contributor_ids')
    _kinds('notifications', 'ck_notifications_notification_kind', OLD_KINDS)
    _kinds('notices', 'ck_notices_notice_kind', OLD_NOTICE_KINDS)
