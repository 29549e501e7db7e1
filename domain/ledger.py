"""The double-entry ledger: accounts, immutable transfers, balances.

Modelled on TigerBeetle. A transfer debits one account and credits another by the same positive
number of cents, so every transfer balances by construction. Transfers are never edited or deleted:
a mistake is corrected by a *reversing* transfer, and a two-phase transfer is *pending* (it
reserves money) until a second transfer posts or voids it, at most once (``pending_id`` is unique
in the database, so this holds even between two processes).

Every transfer carries an idempotency key, with Stripe's semantics: replaying a key with the same
content returns the original transfer; replaying it with different content is refused, because the
caller has confused two different things.

Artisan payables follow TigerBeetle's ``debits_must_not_exceed_credits``: nothing may reserve or
take more from an artisan's payable than was earned into it, so an artisan's available balance
never goes below zero and no payout exceeds what was earned.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import LedgerError, NotFound
from domain.model import Account, AccountKind, Person, Role, Transfer, TransferPhase
from domain.store import in_lists

# Well-known accounts. Artisans' payables are made on demand, one per artisan.
WORKSHOP_PRODUCTION = "workshop:production"
MPESA_FLOAT = "mpesa:float"
SALES_REVENUE = "sales:revenue"
SALES_RECEIVABLE = "sales:receivable"
OWNER_EQUITY = "owner:equity"

STANDARD_ACCOUNTS: dict[str, tuple[str, AccountKind]] = {
    WORKSHOP_PRODUCTION: ("Piece payments to artisans", AccountKind.EXPENSE),
    MPESA_FLOAT: ("M-Pesa B2C float", AccountKind.ASSET),
    SALES_REVENUE: ("Sales revenue", AccountKind.REVENUE),
    SALES_RECEIVABLE: ("Owed by customers", AccountKind.ASSET),
    OWNER_EQUITY: ("Owners' capital", AccountKind.EQUITY),
}

# Why money moved (Transfer.code).
EARNING = "earning"
WRITE_OFF = "write_off"  # passed pieces of a cancelled job paid without a delivery
PAYOUT = "payout"
REVERSAL = "reversal"
POST = "post"
VOID = "void"


def artisan_payable_code(artisan_id: int) -> str:
    return f"artisan:{artisan_id}:payable"


# --- accounts -------------------------------------------------------------------------------


async def ensure_account(
    session: AsyncSession,
    code: str,
    *,
    name: str | None = None,
    kind: AccountKind | None = None,
    artisan_id: int | None = None,
) -> Account:
    """Return the account with ``code``, creating it on first use.

    The standard accounts know their own name and kind; any other needs both. Two processes
    creating the same account at once is safe: the loser of the race reads the winner's row.
    """
    existing = await _account_by_code(session, code)
    if existing is not None:
        return existing
    if code in STANDARD_ACCOUNTS:
        default_name, default_kind = STANDARD_ACCOUNTS[code]
        name = name or default_name
        kind = kind or default_kind
    if name is None or kind is None:
        raise LedgerError(f"account {code!r} does not exist yet: give its name and kind")
    account = Account(code=code, name=name, kind=kind, artisan_id=artisan_id)
    try:
        async with session.begin_nested():
            session.add(account)
    except IntegrityError:
        existing = await _account_by_code(session, code)
        if existing is None:
            raise
        return existing
    return account


async def artisan_payable(session: AsyncSession, artisan_id: int) -> Account:
    """The liability account holding what the factory owes one artisan."""
    account = await _account_by_code(session, artisan_payable_code(artisan_id))
    if account is not None:
        return account
    person = await session.get(Person, artisan_id)
    if person is None or person.role is not Role.ARTISAN:
        raise NotFound("artisan", artisan_id)
    return await ensure_account(
        session,
        artisan_payable_code(artisan_id),
        name=f"Owed to {person.name}",
        kind=AccountKind.LIABILITY,
        artisan_id=artisan_id,
    )


async def _account_by_code(session: AsyncSession, code: str) -> Account | None:
    return (await session.exec(select(Account).where(Account.code == code))).first()


async def _account(session: AsyncSession, account: Account | int) -> Account:
    if isinstance(account, Account):
        return account
    found = await session.get(Account, account)
    if found is None:
        raise NotFound("account", account)
    return found


def _id(account: Account) -> int:
    if account.id is None:
        raise LedgerError(f"account {account.code!r} has not been saved yet")
    return account.id


# --- transfers ------------------------------------------------------------------------------


def _check_amount(amount_cents: object) -> int:
    # bool is an int to Python, and a float is never money here.
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise LedgerError(
            f"an amount must be a whole number of cents, not {type(amount_cents).__name__} "
            f"{amount_cents!r}"
        )
    if amount_cents <= 0:
        raise LedgerError(f"an amount must be positive, not {amount_cents} cents")
    return amount_cents


async def transfer(
    session: AsyncSession,
    *,
    idempotency_key: str,
    debit: Account | int,
    credit: Account | int,
    amount_cents: int,
    phase: TransferPhase = TransferPhase.POSTED,
    code: str,
    reference: str = "",
    now: datetime,
    id: str | None = None,
    pending_id: str | None = None,
    reverses_id: str | None = None,
) -> Transfer:
    """Record one balanced, immutable movement of money and return it.

    ``post_pending`` / ``void_pending`` transfers resolve the pending transfer ``pending_id``: they
    must name the same accounts and its whole amount (see :func:`post_pending`,
    :func:`void_pending`, which fill these in).
    """
    amount = _check_amount(amount_cents)
    debit_account = await _account(session, debit)
    credit_account = await _account(session, credit)
    debit_id, credit_id = _id(debit_account), _id(credit_account)
    if debit_id == credit_id:
        raise LedgerError(f"a transfer needs two different accounts, not {debit_account.code!r}")
    if not idempotency_key:
        raise LedgerError("every transfer needs an idempotency key")

    wanted = Transfer(
        id=id or str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        debit_account_id=debit_id,
        credit_account_id=credit_id,
        amount_cents=amount,
        phase=phase,
        pending_id=pending_id,
        reverses_id=reverses_id,
        code=code,
        reference=reference,
        created_at=now,
    )
    replay = await _replay(session, wanted, id_given=id is not None)
    if replay is not None:
        return replay

    await _check_phase(session, wanted)
    if reverses_id is not None:
        await _check_reversal(session, wanted)
    if id is not None and await session.get(Transfer, id) is not None:
        raise LedgerError(f"transfer id {id} is already used by another transfer")
    if debit_account.artisan_id is not None and phase in (
        TransferPhase.POSTED,
        TransferPhase.PENDING,
    ):
        await _check_payable_covers(session, debit_account, amount)

    await session.flush()  # so the savepoint below catches only this transfer's conflicts
    try:
        async with session.begin_nested():
            session.add(wanted)
    except IntegrityError as exc:
        # Another transaction got there first: the same request (a replay), or a second
        # resolution of the same pending transfer, or a second reversal.
        replay = await _replay(session, wanted, id_given=id is not None)
        if replay is not None:
            return replay
        raise LedgerError(
            f"transfer {idempotency_key!r} conflicts with one recorded at the same time: {exc.orig}"
        ) from exc
    return wanted


_CONTENT = (
    "debit_account_id",
    "credit_account_id",
    "amount_cents",
    "phase",
    "pending_id",
    "reverses_id",
    "code",
    "reference",
)


async def _replay(session: AsyncSession, wanted: Transfer, *, id_given: bool) -> Transfer | None:
    """The transfer already recorded under ``wanted``'s key, if it is the same request."""
    original = (
        await session.exec(
            select(Transfer).where(Transfer.idempotency_key == wanted.idempotency_key)
        )
    ).first()
    if original is None:
        return None
    _check_same(original, wanted, id_given=id_given)
    return original


def _check_same(original: Transfer, wanted: Transfer, *, id_given: bool = False) -> None:
    fields = _CONTENT + (("id",) if id_given else ())
    differences = [f for f in fields if getattr(original, f) != getattr(wanted, f)]
    if differences:
        raise LedgerError(
            f"idempotency key {wanted.idempotency_key!r} was already used for a different "
            f"transfer ({', '.join(differences)} differ): use a new key for a new transfer"
        )


async def _check_phase(session: AsyncSession, wanted: Transfer) -> None:
    resolving = wanted.phase in (TransferPhase.POST_PENDING, TransferPhase.VOID_PENDING)
    if not resolving:
        if wanted.pending_id is not None:
            raise LedgerError(f"only a post or void names a pending transfer, not {wanted.phase}")
        return
    if wanted.pending_id is None:
        raise LedgerError(f"a {wanted.phase} transfer must name the pending transfer it resolves")
    pending = await session.get(Transfer, wanted.pending_id)
    if pending is None:
        raise NotFound("pending transfer", wanted.pending_id)
    if pending.phase is not TransferPhase.PENDING:
        raise LedgerError(
            f"transfer {pending.id} is {pending.phase}, not pending: nothing to resolve"
        )
    resolution = await resolution_of(session, pending.id)
    if resolution is not None:
        raise LedgerError(
            f"pending transfer {pending.id} was already resolved by {resolution.phase} "
            f"transfer {resolution.id}; it can be posted or voided only once"
        )
    same = (
        pending.debit_account_id == wanted.debit_account_id
        and pending.credit_account_id == wanted.credit_account_id
        and pending.amount_cents == wanted.amount_cents
    )
    if not same:
        raise LedgerError(
            f"a {wanted.phase} transfer must move exactly what pending transfer {pending.id} "
            "reserved: the same accounts and amount"
        )


async def _check_reversal(session: AsyncSession, wanted: Transfer) -> None:
    assert wanted.reverses_id is not None
    original = await session.get(Transfer, wanted.reverses_id)
    if original is None:
        raise NotFound("transfer", wanted.reverses_id)
    mirrored = (
        original.debit_account_id == wanted.credit_account_id
        and original.credit_account_id == wanted.debit_account_id
        and original.amount_cents == wanted.amount_cents
        and wanted.phase is TransferPhase.POSTED
    )
    if not mirrored:
        raise LedgerError(
            f"a reversal of transfer {original.id} must post the same amount between the same "
            "accounts the other way round"
        )


async def _check_payable_covers(session: AsyncSession, payable: Account, amount: int) -> None:
    # Lock the payable so two transactions cannot both spend the same balance (PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already serialises writers).
    await session.exec(select(Account.id).where(Account.id == _id(payable)).with_for_update())
    balance = await account_balance(session, _id(payable))
    available = balance.credits_posted - balance.debits_posted - balance.debits_pending
    if amount > available:
        raise LedgerError(
            f"{payable.name} has {available} cents available, not the {amount} cents asked for: "
            "nobody can be paid (or charged back) more than they have earned"
        )


@dataclass(frozen=True, slots=True)
class NewTransfer:
    """One transfer for :func:`record_new_transfers`: posted or pending, under a fresh key."""

    idempotency_key: str
    debit_account_id: int
    credit_account_id: int
    amount_cents: int
    code: str
    phase: TransferPhase = TransferPhase.POSTED
    reference: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


_TRANSFER: sa.Table = Transfer.__table__  # type: ignore[attr-defined]


async def record_new_transfers(
    session: AsyncSession, transfers: Sequence[NewTransfer], *, now: datetime
) -> None:
    """Record many new posted or pending transfers with one insert statement.

    For callers that make hundreds of transfers under keys never used before (a payout batch).
    :func:`transfer` spends about ten statements on each (replay, resolution and reversal checks,
    the payable's balance, a savepoint); here there is nothing to replay, resolve or reverse, and
    each debited artisan payable is locked and checked once, for the sum of what is taken from
    it. The rules are the same: positive whole cents, two different accounts, a key each, and
    nothing taken from a payable beyond what it holds. A key already used is refused (use
    :func:`transfer` to replay a request); the whole call then records nothing.
    """
    if not transfers:
        return
    taken: dict[int, int] = {}
    keys: set[str] = set()
    for t in transfers:
        _check_amount(t.amount_cents)
        if t.phase not in (TransferPhase.POSTED, TransferPhase.PENDING):
            raise LedgerError(f"only posted or pending transfers go in bulk, not {t.phase}")
        if t.debit_account_id == t.credit_account_id:
            raise LedgerError(f"a transfer needs two different accounts, not {t.debit_account_id}")
        if not t.idempotency_key:
            raise LedgerError("every transfer needs an idempotency key")
        if t.idempotency_key in keys:
            raise LedgerError(f"idempotency key {t.idempotency_key!r} is given twice")
        keys.add(t.idempotency_key)
        taken[t.debit_account_id] = taken.get(t.debit_account_id, 0) + t.amount_cents
    await session.flush()
    await _refuse_used_keys(session, list(keys))
    await _check_payables_cover(session, taken)
    connection = await session.connection()
    await connection.execute(
        _TRANSFER.insert(),
        [
            {
                "id": t.id,
                "idempotency_key": t.idempotency_key,
                "debit_account_id": t.debit_account_id,
                "credit_account_id": t.credit_account_id,
                "amount_cents": t.amount_cents,
                "phase": t.phase,
                "pending_id": None,
                "reverses_id": None,
                "code": t.code,
                "reference": t.reference,
                "created_at": now,
            }
            for t in transfers
        ],
    )


async def _refuse_used_keys(session: AsyncSession, keys: list[str]) -> None:
    for some in in_lists(keys):
        used = (
            await session.exec(
                select(Transfer.idempotency_key)
                .where(col(Transfer.idempotency_key).in_(some))
                .limit(1)
            )
        ).first()
        if used is not None:
            raise LedgerError(
                f"idempotency key {used!r} was already used: a bulk record is for new transfers "
                "only; replay a request with transfer()"
            )


async def _check_payables_cover(session: AsyncSession, taken: dict[int, int]) -> None:
    """Refuse to take from any artisan payable more than it holds, all of them locked first."""
    debited = sorted(taken)
    payables: dict[int, Account] = {}
    for some in in_lists(debited):
        # Locked in one order, so two batches cannot deadlock (PostgreSQL; SQLite's BEGIN
        # IMMEDIATE already serialises writers).
        rows = await session.exec(
            select(Account)
            .where(col(Account.id).in_(some))
            .order_by(col(Account.id))
            .with_for_update()
        )
        payables.update({_id(a): a for a in rows.all()})
    missing = [account_id for account_id in debited if account_id not in payables]
    if missing:
        raise NotFound("account", missing[0])
    artisan_ids = [i for i in debited if payables[i].artisan_id is not None]
    for account_id, b in (await account_balances(session, artisan_ids)).items():
        available = b.credits_posted - b.debits_posted - b.debits_pending
        if taken[account_id] > available:
            raise LedgerError(
                f"{payables[account_id].name} has {available} cents available, not the "
                f"{taken[account_id]} cents asked for: nobody can be paid (or charged back) more "
                "than they have earned"
            )


async def resolution_of(session: AsyncSession, pending_id: str) -> Transfer | None:
    """The post or void that resolved a pending transfer, if any."""
    return (await session.exec(select(Transfer).where(Transfer.pending_id == pending_id))).first()


async def post_pending(
    session: AsyncSession, *, pending_id: str, idempotency_key: str, now: datetime
) -> Transfer:
    """Make a pending transfer final: the reserved money moves for good."""
    return await _resolve(session, pending_id, TransferPhase.POST_PENDING, idempotency_key, now)


async def void_pending(
    session: AsyncSession, *, pending_id: str, idempotency_key: str, now: datetime
) -> Transfer:
    """Release a pending transfer: the reserved money is back where it was."""
    return await _resolve(session, pending_id, TransferPhase.VOID_PENDING, idempotency_key, now)


async def _resolve(
    session: AsyncSession,
    pending_id: str,
    phase: TransferPhase,
    idempotency_key: str,
    now: datetime,
) -> Transfer:
    # The path every settled payout takes, so it is kept to three statements: the pending
    # transfer, locked (PostgreSQL: a second resolution waits here, then sees the first below);
    # what already resolves it or carries this key; the insert. :func:`transfer` would spend
    # about ten on the same rules.
    pending = (
        await session.exec(select(Transfer).where(Transfer.id == pending_id).with_for_update())
    ).first()
    earlier = (
        await session.exec(
            select(Transfer).where(
                sa.or_(
                    col(Transfer.pending_id) == pending_id,
                    col(Transfer.idempotency_key) == idempotency_key,
                )
            )
        )
    ).all()
    wanted, replayed = _resolution(pending, pending_id, phase, idempotency_key, earlier, now)
    if replayed:
        return wanted
    session.add(wanted)
    await session.flush()
    return wanted


def _resolution(
    pending: Transfer | None,
    pending_id: str,
    phase: TransferPhase,
    idempotency_key: str,
    earlier: Sequence[Transfer],
    now: datetime,
) -> tuple[Transfer, bool]:
    """The transfer that posts or voids ``pending``, and whether it is already recorded (a
    replay of the same request). ``earlier``: the transfers that already resolve the pending
    one or carry ``idempotency_key``. Raises for anything the ledger refuses."""
    if pending is None:
        raise NotFound("pending transfer", pending_id)
    if pending.phase is not TransferPhase.PENDING:
        raise LedgerError(
            f"transfer {pending.id} is {pending.phase}, not pending: nothing to resolve"
        )
    if not idempotency_key:
        raise LedgerError("every transfer needs an idempotency key")
    wanted = Transfer(
        id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        debit_account_id=pending.debit_account_id,
        credit_account_id=pending.credit_account_id,
        amount_cents=pending.amount_cents,
        phase=phase,
        pending_id=pending_id,
        code=POST if phase is TransferPhase.POST_PENDING else VOID,
        reference=pending.reference,
        created_at=now,
    )
    for original in earlier:
        if original.idempotency_key == idempotency_key:
            _check_same(original, wanted)
            return original, True
    if earlier:
        resolution = earlier[0]
        raise LedgerError(
            f"pending transfer {pending.id} was already resolved by {resolution.phase} "
            f"transfer {resolution.id}; it can be posted or voided only once"
        )
    return wanted, False


@dataclass(frozen=True, slots=True)
class Resolution:
    """One pending transfer to post or void, for :func:`resolve_pending_transfers`."""

    pending_id: str
    phase: TransferPhase  # POST_PENDING or VOID_PENDING
    idempotency_key: str


async def resolve_pending_transfers(
    session: AsyncSession, resolutions: Sequence[Resolution], *, now: datetime
) -> None:
    """:func:`post_pending` and :func:`void_pending` for many pending transfers at once.

    For the payout callbacks settled in groups: three statements for the lot instead of three
    each (the pending transfers locked, what already resolves them or carries their keys, one
    insert). The rules are :func:`post_pending`'s, applied in order, so a second resolution of
    one pending transfer in the same call is a replay (same key) or refused (another key). A
    replay records nothing; anything refused raises, and the call then records nothing.
    """
    if not resolutions:
        return
    for r in resolutions:
        if r.phase not in (TransferPhase.POST_PENDING, TransferPhase.VOID_PENDING):
            raise LedgerError(f"a pending transfer is posted or voided, not {r.phase}")
    await session.flush()
    pending_ids = sorted({r.pending_id for r in resolutions})
    keys = sorted({r.idempotency_key for r in resolutions})
    pendings: dict[str, Transfer] = {}
    earlier: list[Transfer] = []
    for some in in_lists(pending_ids):
        rows = await session.exec(
            select(Transfer)
            .where(col(Transfer.id).in_(some))
            .order_by(col(Transfer.id))  # locked in one order: two callers cannot deadlock
            .with_for_update()
        )
        pendings.update({t.id: t for t in rows.all()})
        earlier += (
            await session.exec(select(Transfer).where(col(Transfer.pending_id).in_(some)))
        ).all()
    for some in in_lists(keys):
        earlier += (
            await session.exec(select(Transfer).where(col(Transfer.idempotency_key).in_(some)))
        ).all()
    by_pending = {t.pending_id: t for t in earlier if t.pending_id is not None}
    by_key = {t.idempotency_key: t for t in earlier}
    fresh: list[Transfer] = []
    for r in resolutions:
        seen = {
            t.id: t
            for t in (by_key.get(r.idempotency_key), by_pending.get(r.pending_id))
            if t is not None
        }
        wanted, replayed = _resolution(
            pendings.get(r.pending_id),
            r.pending_id,
            r.phase,
            r.idempotency_key,
            list(seen.values()),
            now,
        )
        if not replayed:
            fresh.append(wanted)
            by_pending[r.pending_id] = by_key[r.idempotency_key] = wanted
    if not fresh:
        return
    connection = await session.connection()
    await connection.execute(
        _TRANSFER.insert(),
        [{name: getattr(t, name) for name in _INSERTED} for t in fresh],
    )


_INSERTED = ("id", "idempotency_key", *_CONTENT, "created_at")


async def reverse(
    session: AsyncSession, *, transfer_id: str, reason: str, now: datetime
) -> Transfer:
    """Undo a posted transfer with a new one the other way round; a pending one is voided.

    A transfer is reversed at most once. Asking again with the same reason returns the first
    reversal (a retry); with another reason it is refused.
    """
    original = await session.get(Transfer, transfer_id)
    if original is None:
        raise NotFound("transfer", transfer_id)
    if original.phase is TransferPhase.PENDING:
        return await void_pending(
            session, pending_id=original.id, idempotency_key=f"reverse:{original.id}", now=now
        )
    if original.phase is not TransferPhase.POSTED:
        raise LedgerError(
            f"transfer {original.id} resolves pending transfer {original.pending_id} and cannot "
            "itself be reversed; record a new correcting transfer instead"
        )
    if original.reverses_id is not None:
        # Keeps reversals unambiguous in balances; to restore money, record it again.
        raise LedgerError(
            f"transfer {original.id} is itself a reversal and cannot be reversed; record the "
            "original movement again instead"
        )
    reason = reason.strip()[:120]
    if not reason:
        raise LedgerError("a reversal needs a reason a person can read later")
    earlier = (
        await session.exec(select(Transfer).where(Transfer.reverses_id == original.id))
    ).first()
    if earlier is not None and earlier.reference != reason:
        raise LedgerError(
            f"transfer {original.id} was already reversed by {earlier.id} "
            f"({earlier.reference!r}); a transfer is reversed at most once"
        )
    return await transfer(
        session,
        idempotency_key=f"reverse:{original.id}",
        debit=original.credit_account_id,
        credit=original.debit_account_id,
        amount_cents=original.amount_cents,
        phase=TransferPhase.POSTED,
        code=REVERSAL,
        reference=reason,
        reverses_id=original.id,
        now=now,
    )


# --- earnings -------------------------------------------------------------------------------


def earning_key(reference: str) -> str:
    return f"earning:{reference}"


async def record_earning(
    session: AsyncSession, *, artisan_id: int, amount_cents: int, reference: str, now: datetime
) -> Transfer:
    """Owe an artisan for work received: debit production, credit the artisan's payable.

    Idempotent by ``reference`` (e.g. ``delivery:12``): recording the same earning twice returns
    the first; the same reference with another amount or artisan is refused.
    """
    if not reference:
        raise LedgerError("an earning needs a reference to what was earned, e.g. 'delivery:12'")
    payable = await artisan_payable(session, artisan_id)
    production = await ensure_account(session, WORKSHOP_PRODUCTION)
    return await transfer(
        session,
        idempotency_key=earning_key(reference),
        debit=production,
        credit=payable,
        amount_cents=amount_cents,
        code=EARNING,
        reference=reference,
        now=now,
    )


async def record_write_off(
    session: AsyncSession, *, artisan_id: int, amount_cents: int, reference: str, now: datetime
) -> Transfer:
    """Owe an artisan for passed pieces of a cancelled job that an admin wrote off as paid:
    an earning like any other (debit production, credit the artisan's payable) under its own
    code, ``write_off``. Idempotent by ``reference`` (``write_off:<id>``)."""
    if not reference:
        raise LedgerError("a write-off needs a reference, e.g. 'write_off:3'")
    payable = await artisan_payable(session, artisan_id)
    production = await ensure_account(session, WORKSHOP_PRODUCTION)
    return await transfer(
        session,
        idempotency_key=earning_key(reference),
        debit=production,
        credit=payable,
        amount_cents=amount_cents,
        code=WRITE_OFF,
        reference=reference,
        now=now,
    )


async def record_earning_correction(
    session: AsyncSession,
    *,
    artisan_id: int,
    reference: str,
    amount_cents: int,
    reason: str,
    now: datetime,
) -> Transfer | None:
    """Set what an artisan earned for ``reference`` to ``amount_cents`` (0 cancels it).

    The current earning is reversed and, unless the new amount is 0, a replacement is recorded:
    the history keeps every version. Asking for the amount already in force changes nothing, so
    a retried correction is harmless. Returns the earning now in force, or None.
    """
    if amount_cents != 0:
        _check_amount(amount_cents)
    versions = await _earning_versions(session, reference)
    if not versions:
        raise NotFound("earning", reference)
    current = versions[-1]
    payable = await artisan_payable(session, artisan_id)
    if current.credit_account_id != payable.id:
        raise LedgerError(f"earning {reference!r} belongs to another artisan, not {artisan_id}")
    live = current if await _reversal_of(session, current.id) is None else None
    if live is not None and live.amount_cents == amount_cents:
        return live
    if live is None and amount_cents == 0:
        return None
    if live is not None:
        await reverse(session, transfer_id=live.id, reason=reason, now=now)
    if amount_cents == 0:
        return None
    production = await ensure_account(session, WORKSHOP_PRODUCTION)
    return await transfer(
        session,
        idempotency_key=f"{earning_key(reference)}#{len(versions) + 1}",
        debit=production,
        credit=payable,
        amount_cents=amount_cents,
        code=EARNING,
        reference=reference,
        now=now,
    )


async def _earning_versions(session: AsyncSession, reference: str) -> list[Transfer]:
    key = earning_key(reference)
    rows = await session.exec(
        select(Transfer).where(
            sa.or_(
                col(Transfer.idempotency_key) == key,
                col(Transfer.idempotency_key).like(f"{key}#%"),
            )
        )
    )

    def version(t: Transfer) -> int:
        _, _, suffix = t.idempotency_key.partition("#")
        return int(suffix) if suffix else 1

    # LIKE treats "_" in a reference as a wildcard, so keep only this reference's own versions.
    mine = [t for t in rows.all() if t.idempotency_key.partition("#")[0] == key]
    return sorted(mine, key=version)


async def _reversal_of(session: AsyncSession, transfer_id: str) -> Transfer | None:
    return (await session.exec(select(Transfer).where(Transfer.reverses_id == transfer_id))).first()


# --- balances -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """TigerBeetle's four totals. Pending amounts count only while unresolved."""

    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    reversal_debits: int = 0  # part of debits_posted that reverses earlier credits
    reversal_credits: int = 0  # part of credits_posted that reverses earlier debits


@dataclass(frozen=True, slots=True)
class ArtisanBalance:
    """What an artisan earned and where it is: ``paid + in_flight + available == earned``."""

    earned_cents: int
    in_flight_cents: int
    paid_cents: int
    available_cents: int


_BALANCE_FIELDS = (
    "debits_posted",
    "credits_posted",
    "debits_pending",
    "credits_pending",
    "reversal_debits",
    "reversal_credits",
)


@functools.cache  # built once: making an alias is slow, and a reused one hits the SQL cache
def _amount_columns() -> tuple[Any, Any, Any]:
    """SUM expressions for posted and still-pending amounts, and the join that tells them apart.

    A pending transfer counts as pending only until a post or void names it; the post then
    counts as posted (TigerBeetle's rule), the void as nothing.
    """
    resolution = aliased(Transfer)
    posted = col(Transfer.phase).in_([TransferPhase.POSTED, TransferPhase.POST_PENDING])
    pending = sa.and_(col(Transfer.phase) == TransferPhase.PENDING, col(resolution.id).is_(None))
    posted_sum = sa.func.coalesce(
        sa.func.sum(sa.case((posted, col(Transfer.amount_cents)), else_=0)), 0
    )
    pending_sum = sa.func.coalesce(
        sa.func.sum(sa.case((pending, col(Transfer.amount_cents)), else_=0)), 0
    )
    join = (resolution, col(resolution.pending_id) == col(Transfer.id))
    return posted_sum, pending_sum, join


async def account_balance(session: AsyncSession, account_id: int) -> AccountBalance:
    posted_sum, pending_sum, join = _amount_columns()
    is_reversal = col(Transfer.reverses_id).is_not(None)
    rows = await session.exec(
        select(col(Transfer.debit_account_id), is_reversal, posted_sum, pending_sum)
        .outerjoin(*join)
        .where(
            sa.or_(
                col(Transfer.debit_account_id) == account_id,
                col(Transfer.credit_account_id) == account_id,
            )
        )
        .group_by(col(Transfer.debit_account_id), is_reversal)
    )
    totals = dict.fromkeys(_BALANCE_FIELDS, 0)
    for debit_id, reversal, posted, pending in rows.all():
        side = "debits" if debit_id == account_id else "credits"
        totals[f"{side}_posted"] += int(posted)
        totals[f"{side}_pending"] += int(pending)
        if reversal:
            totals[f"reversal_{side}"] += int(posted)
    return AccountBalance(**totals)


async def artisan_balance(session: AsyncSession, artisan_id: int) -> ArtisanBalance:
    """Earned, paid, in flight to M-Pesa and available to pay, for one artisan.

    earned = posted credits to the payable minus reversals of them; paid = posted debits minus
    reversals of them; in flight = reserved by unresolved pending payouts; available is the rest.
    """
    account = await _account_by_code(session, artisan_payable_code(artisan_id))
    if account is None:
        return ArtisanBalance(0, 0, 0, 0)
    return _artisan_balance_from(await account_balance(session, _id(account)))


def _artisan_balance_from(b: AccountBalance) -> ArtisanBalance:
    earned = b.credits_posted - b.reversal_credits - b.reversal_debits
    paid = b.debits_posted - b.reversal_debits - b.reversal_credits
    in_flight = b.debits_pending
    return ArtisanBalance(
        earned_cents=earned,
        in_flight_cents=in_flight,
        paid_cents=paid,
        available_cents=earned - paid - in_flight,
    )


async def account_balances(
    session: AsyncSession, account_ids: Collection[int]
) -> dict[int, AccountBalance]:
    """:func:`account_balance` for many accounts at once: two grouped queries per few hundred
    accounts (one per side, each on its side's index) instead of one query per account."""
    posted_sum, pending_sum, join = _amount_columns()
    is_reversal = col(Transfer.reverses_id).is_not(None)
    totals = {
        account_id: dict.fromkeys(_BALANCE_FIELDS, 0) for account_id in dict.fromkeys(account_ids)
    }
    ids = list(totals)
    for some in in_lists(ids):
        for side, side_column in (
            ("debits", col(Transfer.debit_account_id)),
            ("credits", col(Transfer.credit_account_id)),
        ):
            rows = await session.exec(
                select(side_column, is_reversal, posted_sum, pending_sum)
                .outerjoin(*join)
                .where(side_column.in_(some))
                .group_by(side_column, is_reversal)
            )
            for account_id, reversal, posted, pending in rows.all():
                mine = totals[account_id]
                mine[f"{side}_posted"] += int(posted)
                mine[f"{side}_pending"] += int(pending)
                if reversal:
                    mine[f"reversal_{side}"] += int(posted)
    return {account_id: AccountBalance(**t) for account_id, t in totals.items()}


async def artisan_balances(
    session: AsyncSession, artisan_ids: Collection[int]
) -> dict[int, ArtisanBalance]:
    """:func:`artisan_balance` for many artisans at once (all zero for one never owed)."""
    accounts: dict[int, int] = {}
    wanted = list(dict.fromkeys(artisan_ids))
    for some in in_lists(wanted):
        rows = await session.exec(
            select(Account.artisan_id, Account.id).where(col(Account.artisan_id).in_(some))
        )
        accounts.update({a: i for a, i in rows.all() if a is not None and i is not None})
    by_account = await account_balances(session, accounts.values())
    zero = ArtisanBalance(0, 0, 0, 0)
    return {
        artisan_id: (
            _artisan_balance_from(by_account[accounts[artisan_id]])
            if artisan_id in accounts
            else zero
        )
        for artisan_id in wanted
    }


@dataclass(frozen=True, slots=True)
class TrialBalance:
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    problems: tuple[str, ...]

    @property
    def balanced(self) -> bool:
        return (
            self.debits_posted == self.credits_posted
            and self.debits_pending == self.credits_pending
            and not self.problems
        )


async def trial_balance(session: AsyncSession) -> TrialBalance:
    """Sum every account's debits and credits, and check that every resolution and reversal
    mirrors the transfer it refers to."""
    debits = await _side_totals(session, col(Transfer.debit_account_id))
    credits = await _side_totals(session, col(Transfer.credit_account_id))
    return TrialBalance(
        debits_posted=debits[0],
        credits_posted=credits[0],
        debits_pending=debits[1],
        credits_pending=credits[1],
        problems=tuple(await _mismatches(session)),
    )


async def _side_totals(session: AsyncSession, side: Any) -> tuple[int, int]:
    # Totalled per account first, as a trial balance lists accounts, then summed.
    posted_sum, pending_sum, join = _amount_columns()
    rows = await session.exec(select(side, posted_sum, pending_sum).outerjoin(*join).group_by(side))
    per_account = rows.all()
    return sum(int(r[1]) for r in per_account), sum(int(r[2]) for r in per_account)


_TARGET = aliased(Transfer)


async def _mismatches(session: AsyncSession) -> Iterable[str]:
    other = _TARGET
    rows = await session.exec(
        select(Transfer, other).join(
            other,
            sa.or_(
                col(other.id) == col(Transfer.pending_id),
                col(other.id) == col(Transfer.reverses_id),
            ),
        )
    )
    problems: list[str] = []
    for t, target in rows.all():
        if t.pending_id is not None:
            ok = (
                target.phase is TransferPhase.PENDING
                and (t.debit_account_id, t.credit_account_id)
                == (target.debit_account_id, target.credit_account_id)
                and t.amount_cents == target.amount_cents
            )
            if not ok:
                problems.append(f"transfer {t.id} does not mirror pending transfer {target.id}")
        if t.reverses_id is not None:
            ok = (t.debit_account_id, t.credit_account_id) == (
                target.credit_account_id,
                target.debit_account_id,
            ) and t.amount_cents == target.amount_cents
            if not ok:
                problems.append(f"reversal {t.id} does not mirror transfer {target.id}")
    return problems


# --- immutability ---------------------------------------------------------------------------


@event.listens_for(Session, "before_flush")
def _refuse_changed_transfers(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, Transfer):
            raise LedgerError(
                f"transfer {obj.id} cannot be deleted: the ledger is append-only; reverse it"
            )
    for obj in session.dirty:
        if isinstance(obj, Transfer) and session.is_modified(obj, include_collections=False):
            raise LedgerError(
                f"transfer {obj.id} cannot be changed: the ledger is append-only; reverse it "
                "with a new transfer instead"
            )


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ is Transfer:
        raise LedgerError("transfers cannot be updated or deleted: the ledger is append-only")
