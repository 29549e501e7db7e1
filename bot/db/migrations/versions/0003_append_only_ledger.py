"""append-only ledger: the database refuses UPDATE and DELETE of transfers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:16:48.892525

The ORM already refuses changed transfers; these triggers make the database refuse raw SQL too.
The statements are the ones ``domain.model.ledger.append_only_ddl`` attaches to ``create_all``,
written out because a revision never imports application code; ``model_differences`` (and so
tests/integration/test_migrations.py) notices a trigger either side lacks.

On SQLite, a later batch operation on ``transfer`` copies the table and loses these triggers:
such a revision must create them again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSAL = "on transfer refused: the ledger is append-only, reverse with a new transfer"

SQLITE_UPGRADE = [
    f"CREATE TRIGGER transfer_no_{operation.lower()} BEFORE {operation} ON transfer\n"
    f"BEGIN SELECT RAISE(ABORT, '{operation} {REFUSAL}'); END"
    for operation in ("UPDATE", "DELETE")
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS transfer_no_update",
    "DROP TRIGGER IF EXISTS transfer_no_delete",
]

POSTGRESQL_UPGRADE = [
    "CREATE OR REPLACE FUNCTION transfer_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',\n"
    f"        MESSAGE = TG_OP || ' {REFUSAL}';\n"
    "END\n"
    "$$",
    "CREATE TRIGGER transfer_no_update_or_delete BEFORE UPDATE OR DELETE ON transfer\n"
    "FOR EACH ROW EXECUTE FUNCTION transfer_append_only()",
    "CREATE TRIGGER transfer_no_truncate BEFORE TRUNCATE ON transfer\n"
    "FOR EACH STATEMENT EXECUTE FUNCTION transfer_append_only()",
]
POSTGRESQL_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS transfer_no_truncate ON transfer",
    "DROP TRIGGER IF EXISTS transfer_no_update_or_delete ON transfer",
    "DROP FUNCTION IF EXISTS transfer_append_only()",
]


def _run(statements: dict[str, list[str]]) -> None:
    connection = op.get_bind()
    # Driver SQL: passed to the database as written, with no bind parameters to mistake.
    for statement in statements.get(connection.dialect.name, []):
        connection.exec_driver_sql(statement)


def upgrade() -> None:
    _run({"sqlite": SQLITE_UPGRADE, "postgresql": POSTGRESQL_UPGRADE})


def downgrade() -> None:
    _run({"sqlite": SQLITE_DOWNGRADE, "postgresql": POSTGRESQL_DOWNGRADE})
