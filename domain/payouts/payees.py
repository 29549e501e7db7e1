"""Whom a payout goes to: confirmed M-Pesa numbers and receiver names that match.

Two guards hold an artisan's payouts (:func:`payout_holds`): they are left out of a batch being
made, and a payout already in an approved batch is not claimed for sending while one holds.

- **A changed number waits for a second person.** :func:`request_number_change` records the
  artisan's new number as *pending* (the audit trail: ``MpesaNumberChange``, with the old and
  new numbers masked, who asked and when). Until a field agent or an admin — never the artisan
  themself — confirms it (:func:`confirm_number_change`), the artisan's payouts are held: not
  to the old number, which they may have lost, and not to the new one, which nobody has
  vouched for. Confirming makes it the payout number, for payouts not yet sent as well.
- **The receiver's name must be the artisan's.** M-Pesa's B2C result names who received the
  money (``ReceiverPartyPublicName``, ``"2547XXXXXXXX - JANE W DOE"``). :func:`names_match`
  compares it with the registered name by this rule:

  1. both names are folded: case and accents dropped, anything but letters turned into spaces,
     split into words;
  2. a word of one letter is an initial; the other words are full names;
  3. they match when at least one full name is common to both, and the side with fewer words
     (either, when both have as many) is *covered* by the other: each of its full names is a
     word of the other side or starts with one of its initials, and each of its initials
     starts a word of the other side. The longer side may have more (a middle name, an
     initial).

  So order, case, a middle name present on one side only, and initials ("J W Doe" for "Jane
  Wambui Doe") all match; "Jane Doe" does not match "John Doe" nor "Jane Kamau". A mismatch is a
  ``PayeeCheck``: the admins are told (``PayeeNameMismatch``), and the artisan's next payouts are
  held until an admin clears it (:func:`clear_payee_holds`, ``/payee_ok``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import Forbidden, NotFound, PayoutError
from domain.model import (
    ArtisanProfile,
    MpesaNumberChange,
    NumberChangeStatus,
    PayeeCheck,
    PayeeCheckStatus,
    Payout,
    PayoutStatus,
    Person,
    Role,
)
from domain.phone import mask, normalise_kenyan_mobile
from domain.store import in_lists

CONFIRMERS = frozenset({Role.FIELD_AGENT, Role.ADMIN})


class HoldReason(StrEnum):
    """Why an artisan's payouts are held."""

    NUMBER_UNCONFIRMED = "number_unconfirmed"  # a new M-Pesa number waits for confirmation
    PAYEE_NAME_MISMATCH = "payee_name_mismatch"  # M-Pesa's receiver name was not theirs


class SameNumber(PayoutError):
    """The artisan asked to change to the number they already have."""


# --- number changes -------------------------------------------------------------------------


async def request_number_change(
    session: AsyncSession, *, artisan_id: int, raw_number: str, now: datetime
) -> MpesaNumberChange:
    """The artisan asks for their payouts to go to ``raw_number`` from now on.

    Raises ``InvalidPhoneNumber`` for what is not a Kenyan mobile number, :class:`SameNumber`
    when it is the number payouts already go to (with nothing pending). A change still pending
    is superseded by this one: the latest request is the one to confirm.
    """
    person = await session.get(Person, artisan_id)
    profile = await session.get(ArtisanProfile, artisan_id)
    if person is None or profile is None or person.role is not Role.ARTISAN:
        raise NotFound("artisan", artisan_id)
    number = normalise_kenyan_mobile(raw_number)
    waiting = await _pending_changes(session, artisan_id)
    if number == profile.mpesa_number and not waiting:
        raise SameNumber(f"payouts already go to {mask(number)}")
    for change in waiting:
        change.status = NumberChangeStatus.SUPERSEDED
        session.add(change)
    change = MpesaNumberChange(
        artisan_id=artisan_id,
        old_masked=mask(profile.mpesa_number),
        new_masked=mask(number),
        new_number=number,
        requested_by=artisan_id,
        requested_at=now,
    )
    session.add(change)
    await session.flush()
    assert change.id is not None
    events.record(
        session, events.MpesaNumberChangeRequested(change_id=change.id, artisan_id=artisan_id)
    )
    return change


async def confirm_number_change(
    session: AsyncSession, *, change_id: int, confirmer_id: int, now: datetime
) -> MpesaNumberChange:
    """A field agent or an admin, not the artisan, confirms a pending number change.

    The artisan's payout number becomes the new one, and so does that of their payouts not yet
    sent. Raises ``NotFound``, ``Forbidden`` (a wrong role, or the artisan themself) or
    ``PayoutError`` (the change is no longer pending).
    """
    confirmer = await session.get(Person, confirmer_id)
    if confirmer is None:
        raise NotFound("person", confirmer_id)
    if confirmer.role not in CONFIRMERS:
        raise Forbidden(f"only a field agent or an admin confirms a number, not a {confirmer.role}")
    change = (
        await session.exec(
            select(MpesaNumberChange)
            .where(MpesaNumberChange.id == change_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if change is None:
        raise NotFound("M-Pesa number change", change_id)
    if confirmer_id in (change.artisan_id, change.requested_by):
        raise Forbidden("a number change is confirmed by someone other than who asked for it")
    if change.status is not NumberChangeStatus.PENDING:
        raise PayoutError(f"M-Pesa number change {change_id} is {change.status}, not pending")
    profile = await session.get(ArtisanProfile, change.artisan_id)
    if profile is None:
        raise NotFound("artisan", change.artisan_id)
    change.status = NumberChangeStatus.CONFIRMED
    change.confirmed_by = confirmer_id
    change.confirmed_at = now
    profile.mpesa_number = change.new_number
    session.add_all([change, profile])
    unsent = await session.exec(
        select(Payout).where(
            Payout.artisan_id == change.artisan_id, Payout.status == PayoutStatus.PENDING
        )
    )
    for payout in unsent:
        payout.msisdn = change.new_number
        payout.updated_at = now
        session.add(payout)
    await session.flush()
    events.record(
        session,
        events.MpesaNumberChangeConfirmed(
            change_id=change_id, artisan_id=change.artisan_id, confirmed_by=confirmer_id
        ),
    )
    return change


async def pending_number_change(session: AsyncSession, artisan_id: int) -> MpesaNumberChange | None:
    """The artisan's number change waiting for confirmation, if there is one."""
    waiting = await _pending_changes(session, artisan_id)
    return waiting[-1] if waiting else None


async def _pending_changes(session: AsyncSession, artisan_id: int) -> list[MpesaNumberChange]:
    rows = await session.exec(
        select(MpesaNumberChange)
        .where(
            MpesaNumberChange.artisan_id == artisan_id,
            MpesaNumberChange.status == NumberChangeStatus.PENDING,
        )
        .order_by(col(MpesaNumberChange.id))
    )
    return list(rows)


async def number_changes(session: AsyncSession, artisan_id: int) -> list[MpesaNumberChange]:
    """The artisan's audit trail of number changes, oldest first."""
    rows = await session.exec(
        select(MpesaNumberChange)
        .where(MpesaNumberChange.artisan_id == artisan_id)
        .order_by(col(MpesaNumberChange.id))
    )
    return list(rows)


# --- holds ----------------------------------------------------------------------------------


async def payout_holds(
    session: AsyncSession, artisan_ids: Sequence[int] | None = None
) -> dict[int, HoldReason]:
    """The artisans (of ``artisan_ids``, or all) whose payouts are held, and why; an
    unconfirmed number is named before a name mismatch."""
    # Every hold at once, filtered here: there are few, while a batch may ask about 25,000
    # artisans, more than one IN list may hold.
    changes = select(MpesaNumberChange.artisan_id).where(
        MpesaNumberChange.status == NumberChangeStatus.PENDING
    )
    checks = select(PayeeCheck.artisan_id).where(PayeeCheck.status == PayeeCheckStatus.HELD)
    holds = {artisan: HoldReason.PAYEE_NAME_MISMATCH for artisan in await session.exec(checks)}
    holds |= {artisan: HoldReason.NUMBER_UNCONFIRMED for artisan in await session.exec(changes)}
    if artisan_ids is None:
        return holds
    wanted = set(artisan_ids)
    return {artisan: reason for artisan, reason in holds.items() if artisan in wanted}


# --- receiver names -------------------------------------------------------------------------


def receiver_name(public_name: str) -> str:
    """The name part of M-Pesa's ``ReceiverPartyPublicName`` (``"2547... - JANE DOE"``)."""
    _number, dash, name = public_name.partition(" - ")
    return name.strip() if dash else public_name.strip()


def _words(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(ch if ch.isalpha() else " " for ch in folded if not unicodedata.combining(ch))
    return letters.split()


def names_match(registered: str, receiver: str) -> bool:
    """Whether M-Pesa's receiver name is the registered name, by the module's rule."""
    a, b = _words(registered), _words(receiver_name(receiver))
    full_a = {w for w in a if len(w) > 1}
    full_b = {w for w in b if len(w) > 1}
    if not full_a & full_b:
        return False
    if len(a) < len(b):
        return _covered(a, b)
    if len(b) < len(a):
        return _covered(b, a)
    return _covered(a, b) or _covered(b, a)


def _covered(words: list[str], other: list[str]) -> bool:
    """Every word of ``words`` has its counterpart in ``other`` (the rule's step 3)."""
    initials = {w for w in other if len(w) == 1}
    for word in words:
        if len(word) == 1:
            if not any(w.startswith(word) for w in other):
                return False
        elif word not in other and word[0] not in initials:
            return False
    return True


async def check_payee(
    session: AsyncSession, *, payout_id: int, receiver_public_name: str, now: datetime
) -> PayeeCheck | None:
    """Compare a paid payout's receiver with the artisan; a mismatch holds their next payouts
    and is told to the admins. None when the names match (or it was checked already)."""
    made = await check_payees(session, [(payout_id, receiver_public_name)], now=now)
    return made[0] if made else None


async def check_payees(
    session: AsyncSession, receivers: Sequence[tuple[int, str]], *, now: datetime
) -> list[PayeeCheck]:
    """:func:`check_payee` for many (payout id, ``ReceiverPartyPublicName``) pairs: one read
    for the lot, and a row (and a ``PayeeNameMismatch``) only for each mismatch."""
    # M-Pesa gave no name (only the number): there is nothing to compare.
    given = {payout_id: name for payout_id, name in receivers if _words(receiver_name(name))}
    if not given:
        return []
    mismatched: list[tuple[int, int, str]] = []
    for some in in_lists(sorted(given)):
        rows = await session.exec(
            select(Payout.id, Payout.artisan_id, Person.name)
            .join(Person, col(Person.id) == col(Payout.artisan_id))
            .where(col(Payout.id).in_(some))
        )
        mismatched += [
            (payout_id, artisan_id, name)
            for payout_id, artisan_id, name in rows
            if payout_id is not None and not names_match(name, given[payout_id])
        ]
    if not mismatched:
        return []
    checked = set(
        await session.exec(
            select(PayeeCheck.payout_id).where(
                col(PayeeCheck.payout_id).in_([payout_id for payout_id, _, _ in mismatched])
            )
        )
    )
    made: list[PayeeCheck] = []
    for payout_id, artisan_id, name in mismatched:
        if payout_id in checked:
            continue
        check = PayeeCheck(
            artisan_id=artisan_id,
            payout_id=payout_id,
            registered_name=name[:80],
            receiver_name=receiver_name(given[payout_id])[:120],
            created_at=now,
        )
        session.add(check)
        made.append(check)
    await session.flush()
    for check in made:
        assert check.id is not None
        events.record(
            session,
            events.PayeeNameMismatch(
                check_id=check.id, artisan_id=check.artisan_id, payout_id=check.payout_id
            ),
        )
    return made


async def clear_payee_holds(
    session: AsyncSession, *, artisan_id: int, admin_id: int, now: datetime
) -> int:
    """An admin confirms the receiver is the artisan: their payouts go again. How many
    checks were cleared (0: none held)."""
    admin = await session.get(Person, admin_id)
    if admin is None or admin.role is not Role.ADMIN:
        raise Forbidden("only an admin can clear a payee name check")
    held = list(
        await session.exec(
            select(PayeeCheck).where(
                PayeeCheck.artisan_id == artisan_id, PayeeCheck.status == PayeeCheckStatus.HELD
            )
        )
    )
    for check in held:
        check.status = PayeeCheckStatus.CLEARED
        check.cleared_by = admin_id
        check.cleared_at = now
        session.add(check)
    await session.flush()
    return len(held)
