"""The double-entry ledger and the payout records that move money to M-Pesa.

Modelled on TigerBeetle: every transfer debits one account and credits another by the same
positive amount in cents, so every transfer balances by construction. Rows are immutable: the ORM
and the database both refuse to change them (see the end of this module). A *pending* transfer
reserves money; it is resolved exactly once by a second transfer that posts or voids it
(``pending_id`` is unique). Corrections are new reversing transfers (``reverses_id``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.model.columns import UTCDateTime, enum_type
from domain.statemachine import Transitions


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"


class TransferPhase(StrEnum):
    POSTED = "posted"  # single-phase: final at once
    PENDING = "pending"  # reserves; final only when posted or voided
    POST_PENDING = "post_pending"  # completes a pending transfer
    VOID_PENDING = "void_pending"  # releases a pending transfer


class Account(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=60, unique=True)
    name: str = Field(max_length=120)
    kind: AccountKind = Field(sa_type=enum_type(AccountKind))
    artisan_id: int | None = Field(default=None, foreign_key="person.id", unique=True)


class Transfer(SQLModel, table=True):
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
    )

    id: str = Field(primary_key=True, max_length=36)  # uuid4, chosen by the caller
    idempotency_key: str = Field(max_length=120, unique=True)
    debit_account_id: int = Field(foreign_key="account.id", index=True)
    credit_account_id: int = Field(foreign_key="account.id", index=True)
    amount_cents: int
    phase: TransferPhase = Field(sa_type=enum_type(TransferPhase))
    pending_id: str | None = Field(
        default=None, foreign_key="transfer.id", unique=True, max_length=36
    )
    reverses_id: str | None = Field(
        default=None, foreign_key="transfer.id", unique=True, max_length=36
    )
    code: str = Field(max_length=40)  # why: earning, payout, reversal, ...
    reference: str = Field(default="", max_length=120)  # what: delivery:12, payout:7, ...
    created_at: datetime = Field(sa_type=UTCDateTime())


class PayoutBatchStatus(StrEnum):
    BUILDING = "building"  # payouts still being added, a few hundred a transaction
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


PAYOUT_BATCH_TRANSITIONS = Transitions[PayoutBatchStatus](
    "payout batch",
    {
        # A batch left half-made by a crash is never approved: it is finished (the next build
        # resumes it) or cancelled.
        PayoutBatchStatus.BUILDING: frozenset(
            {PayoutBatchStatus.AWAITING_APPROVAL, PayoutBatchStatus.CANCELLED}
        ),
        PayoutBatchStatus.AWAITING_APPROVAL: frozenset(
            {PayoutBatchStatus.APPROVED, PayoutBatchStatus.CANCELLED}
        ),
        PayoutBatchStatus.APPROVED: frozenset({PayoutBatchStatus.PROCESSING}),
        PayoutBatchStatus.PROCESSING: frozenset({PayoutBatchStatus.COMPLETED}),
        PayoutBatchStatus.COMPLETED: frozenset(),
        PayoutBatchStatus.CANCELLED: frozenset(),
    },
)


class PayoutStatus(StrEnum):
    PENDING = "pending"  # money reserved, waiting for the batch's approval
    SENDING = "sending"  # request id stored, call to M-Pesa made or about to be
    UNKNOWN = "unknown"  # no answer; a status query decides
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


PAYOUT_TRANSITIONS = Transitions[PayoutStatus](
    "payout",
    {
        PayoutStatus.PENDING: frozenset({PayoutStatus.SENDING, PayoutStatus.CANCELLED}),
        PayoutStatus.SENDING: frozenset(
            {PayoutStatus.UNKNOWN, PayoutStatus.SUCCEEDED, PayoutStatus.FAILED}
        ),
        PayoutStatus.UNKNOWN: frozenset(
            {PayoutStatus.SENDING, PayoutStatus.SUCCEEDED, PayoutStatus.FAILED}
        ),
        PayoutStatus.SUCCEEDED: frozenset(),
        PayoutStatus.FAILED: frozenset(),
        PayoutStatus.CANCELLED: frozenset(),
    },
)


ONE_BATCH_BUILDING = "uq_payout_batch_one_building"
"""The partial unique index that lets at most one batch be *building* at a time, so two builders
starting at once (the weekly job and an admin's /make_payouts) cannot each begin a batch: the
one whose insert it refuses joins the other's (domain/payouts/building.py)."""

_BUILDING = sa.text(f"status = '{PayoutBatchStatus.BUILDING.value}'")


class PayoutBatch(SQLModel, table=True):
    __tablename__ = "payout_batch"
    __table_args__ = (
        # Over the status alone: every row it covers has the same one, so it covers one row.
        sa.Index(
            ONE_BATCH_BUILDING,
            "status",
            unique=True,
            postgresql_where=_BUILDING,
            sqlite_where=_BUILDING,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: PayoutBatchStatus = Field(
        default=PayoutBatchStatus.AWAITING_APPROVAL, sa_type=enum_type(PayoutBatchStatus)
    )
    created_at: datetime = Field(sa_type=UTCDateTime())
    created_by: int | None = Field(default=None, foreign_key="person.id")  # None: the scheduler
    approved_by: int | None = Field(default=None, foreign_key="person.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class Payout(SQLModel, table=True):
    """One artisan's money in one batch.

    ``originator_conversation_id`` is M-Pesa's idempotency key, stored before the first call.
    """

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="payout_batch.id", index=True)
    artisan_id: int = Field(foreign_key="person.id", index=True)
    amount_cents: int = Field(gt=0)
    msisdn: str = Field(max_length=16)
    status: PayoutStatus = Field(
        default=PayoutStatus.PENDING, sa_type=enum_type(PayoutStatus), index=True
    )
    pending_transfer_id: str = Field(foreign_key="transfer.id", unique=True, max_length=36)
    originator_conversation_id: str = Field(max_length=64, unique=True)
    conversation_id: str | None = Field(default=None, max_length=64)
    mpesa_receipt: str | None = Field(default=None, max_length=32)
    result_code: str | None = Field(default=None, max_length=16)
    result_desc: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime())
    updated_at: datetime = Field(sa_type=UTCDateTime())


# --- append-only in the database too --------------------------------------------------------
#
# The ORM already refuses changed or deleted transfers (domain/ledger.py); these triggers make the
# database refuse them as well, so raw SQL, a console session or a bulk statement that skips the
# ORM cannot rewrite history either. They are attached to ``create_all`` here and installed by
# migration 0003 on databases Alembic builds. A revision never imports application code, so it
# repeats these statements; ``bot.db.database.model_differences`` names a trigger either side lacks.

APPEND_ONLY_TABLES: tuple[str, ...] = ("transfer",)


def append_only_refusal(operation: str, table: str) -> str:
    """The error a refused statement raises; both backends raise it as an integrity error."""
    return f"{operation} on {table} refused: the ledger is append-only, reverse with a new transfer"


def append_only_trigger_names(dialect: str) -> frozenset[str]:
    """The triggers ``append_only_ddl`` creates on ``dialect``, over every append-only table."""
    suffixes = {
        "sqlite": ("no_update", "no_delete"),
        "postgresql": ("no_update_or_delete", "no_truncate"),
    }.get(dialect, ())
    return frozenset(f"{table}_{suffix}" for table in APPEND_ONLY_TABLES for suffix in suffixes)


def append_only_ddl(table: str, dialect: str) -> tuple[str, ...]:
    """The statements that make ``dialect`` refuse UPDATE and DELETE (and TRUNCATE) on ``table``.

    Both backends raise an error of the integrity class, so SQLAlchemy raises ``IntegrityError``.
    """
    if dialect == "sqlite":
        return tuple(
            f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table}\n"
            f"BEGIN SELECT RAISE(ABORT, '{append_only_refusal(operation, table)}'); END"
            for operation in ("UPDATE", "DELETE")
        )
    if dialect == "postgresql":
        function = f"{table}_append_only"
        return (
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            "    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',\n"
            f"        MESSAGE = TG_OP || '{append_only_refusal('', table)}';\n"
            "END\n"
            "$$",
            f"CREATE TRIGGER {table}_no_update_or_delete BEFORE UPDATE OR DELETE ON {table}\n"
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
            # Row triggers never see TRUNCATE; a statement trigger refuses it.
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}\n"
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        )
    return ()


def _create_append_only_triggers(table: sa.Table, connection: sa.Connection, **_: object) -> None:
    for statement in append_only_ddl(table.name, connection.dialect.name):
        connection.exec_driver_sql(statement)


def _drop_append_only_function(table: sa.Table, connection: sa.Connection, **_: object) -> None:
    # Dropping a table drops its triggers, but not the function they called.
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {table.name}_append_only()")


for _name in APPEND_ONLY_TABLES:
    sa.event.listen(SQLModel.metadata.tables[_name], "after_create", _create_append_only_triggers)
    sa.event.listen(SQLModel.metadata.tables[_name], "after_drop", _drop_append_only_function)
