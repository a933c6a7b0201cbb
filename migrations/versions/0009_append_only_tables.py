"""append-only tables: refuse REPLACE, UPSERT and TRUNCATE too, and make list versions append-only

Revision ID: 0009_append_only_tables
Revises: 0008_publication_core
Create Date: 2026-12-03 07:00:00

Migration 0002 refused UPDATE and DELETE on the audit trail. Two ways around that remained:
SQLite's ``INSERT OR REPLACE`` deletes the row it replaces without firing delete triggers
(unless a connection turns on ``recursive_triggers``), and PostgreSQL's ``TRUNCATE`` fires no row
trigger at all. A published version of a list is the same kind of record (customers attach it to
contracts), so it gets the same protection. On SQLite an insert whose id already exists is
refused before REPLACE can delete anything; on PostgreSQL a statement trigger refuses TRUNCATE.
"""
from alembic import op


revision = '0009_append_only_tables'
down_revision = '0008_publication_core'
branch_labels = None
depends_on = None

# Each append-only table and the words its refusal uses ("... are append-only").
TABLES = {"audit_events": "audit events", "versions": "list versions"}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, words in TABLES.items():
            if table != "audit_events":  # 0002 made the audit trail's row trigger
                op.execute(
                    f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                    f"$$ BEGIN RAISE EXCEPTION '{words} are append-only'; END; $$"
                )
                op.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
                )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
            )
        return
    for table, words in TABLES.items():
        if table != "audit_events":
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{words} are append-only'); END"
                )
        # A REPLACE (or an UPSERT) names an id that exists: refused before it can delete the row.
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{words} are append-only'); END"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            if table != "audit_events":
                op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
                op.execute(f"DROP FUNCTION {table}_append_only()")
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_no_replace")
        if table != "audit_events":
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
