"""What artisans are shown, shared by their flows, commands and notifications.

Money is shown as "KES 1,250" (integer cents in, shillings out), days and times in Nairobi time.
Each function takes ``t`` — a ``(msgid, **params) -> str`` in the reader's language — so a flow
passes ``ctx.t`` and a notification passes the catalogue bound to the recipient's language.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.explosion import FACTORY_ZONE
from domain.limits import MAX_PIECES
from domain.model import (
    Allocation,
    AllocationStatus,
    Component,
    ComponentMaterial,
    Job,
    Offer,
    OfferStatus,
)
from domain.numbers import number_in, or_none
from domain.quantities import AllocationProgress, allocations_progress

Say = Callable[..., str]  # t(msgid, **params) in the reader's language

_WEEKDAYS = (
    N_("artisan.weekday.mon"),
    N_("artisan.weekday.tue"),
    N_("artisan.weekday.wed"),
    N_("artisan.weekday.thu"),
    N_("artisan.weekday.fri"),
    N_("artisan.weekday.sat"),
    N_("artisan.weekday.sun"),
)


def kes(cents: int) -> str:
    """``125000`` -> ``KES 1,250``; cents only when there are some."""
    whole, part = divmod(cents, 100)
    return f"KES {whole:,}" if part == 0 else f"KES {whole:,}.{part:02d}"


def day(t: Say, when: date) -> str:
    """``Fri 13/03``: the weekday helps more than the year when a date is days away."""
    return f"{t(_WEEKDAYS[when.weekday()])} {when:%d/%m}"


def moment(t: Say, when: datetime) -> str:
    """An instant as the artisan's clock shows it: ``Fri 13/03 14:00`` in Nairobi."""
    local = when.astimezone(FACTORY_ZONE)
    return f"{day(t, local.date())} {local:%H:%M}"


def amount(value: Decimal) -> str:
    """``Decimal('2.500')`` -> ``2.5``; whole amounts without a decimal point."""
    return f"{value.normalize():f}"


def one_number(text: str) -> int | None:
    """The one count of pieces in "I can do 30", "30", "naweza 1,000"; None when there is none,
    several, or one that is signed, has a fraction or an exponent, or is beyond ``MAX_PIECES``
    (``domain.numbers``: every flow reads numbers the same way). The flow's hint says why."""
    return or_none(number_in, text, most=MAX_PIECES)


# --- offers -------------------------------------------------------------------------------


async def open_offers(
    session: AsyncSession, artisan_id: int, now: datetime
) -> list[tuple[Offer, Component]]:
    """The artisan's offers that can still be answered, the soonest to expire first."""
    rows = await session.exec(_OPEN_OFFERS, params={"artisan_id": artisan_id, "now": now})
    return list(rows.all())


# Built once, with its cache key: the offers menu runs it twice a message.
_OPEN_OFFERS = (
    select(Offer, Component)
    .join(Job, col(Job.id) == col(Offer.job_id))
    .join(Component, col(Component.id) == col(Job.component_id))
    .where(Offer.artisan_id == sa.bindparam("artisan_id"), Offer.status == OfferStatus.OPEN)
    .where(col(Offer.expires_at) > sa.bindparam("now"))
    .order_by(col(Offer.expires_at), col(Offer.id))
)


async def offer_component(session: AsyncSession, offer: Offer) -> Component:
    component = await job_component(session, offer.job_id)
    assert component is not None  # an offer's job, and its component, are never deleted
    return component


async def job_component(session: AsyncSession, job_id: int) -> Component | None:
    """The component a job makes, in one query (the job itself is not needed)."""
    return (await session.exec(_JOB_COMPONENT, params={"job_id": job_id})).first()


_JOB_COMPONENT = (
    select(Component)
    .join(Job, col(Job.component_id) == col(Component.id))
    .where(col(Job.id) == sa.bindparam("job_id"))
)


async def materials_line(session: AsyncSession, t: Say, component_id: int, pieces: int) -> str:
    """What ``pieces`` of a component use, e.g. "cattle horn 2.5 kg, brass wire 0.4 kg"."""
    rows = await session.exec(
        select(ComponentMaterial)
        .where(ComponentMaterial.component_id == component_id)
        .order_by(col(ComponentMaterial.material))
    )
    parts = [
        f"{m.material} {amount(Decimal(m.quantity_per_piece) * pieces)} {m.unit}" for m in rows
    ]
    return ", ".join(parts) if parts else t("artisan.offer_no_materials")


def offer_choices(t: Say, offer_id: int) -> tuple[Choice, ...]:
    """The offer's buttons; each carries the offer id, so several open offers never mix up."""
    return (
        Choice(f"offer:{offer_id}:accept", t("artisan.offer_accept_all")),
        Choice(f"offer:{offer_id}:part", t("artisan.offer_accept_part")),
        Choice(f"offer:{offer_id}:decline", t("artisan.offer_decline")),
    )


async def offer_text(session: AsyncSession, t: Say, offer: Offer, component: Component) -> str:
    assert offer.id is not None
    assert component.id is not None
    return t(
        "artisan.offer_details",
        id=offer.id,
        quantity=offer.quantity,
        component=component.name,
        rate=kes(offer.piece_rate_cents),
        total=kes(offer.piece_rate_cents * offer.quantity),
        due=day(t, offer.due_date),
        materials=await materials_line(session, t, component.id, offer.quantity),
        expires=moment(t, offer.expires_at),
    )


async def offer_message(
    session: AsyncSession, t: Say, offer: Offer, component: Component, *, new: bool
) -> Reply:
    """An offer as the artisan reads it, with its buttons and the codes to type without them."""
    assert offer.id is not None
    head = t("artisan.offer_new") if new else ""
    text = await offer_text(session, t, offer, component)
    codes = t("artisan.offer_codes", id=offer.id, quantity=offer.quantity)
    body = "\n".join(part for part in (head, text, codes) if part)
    return Reply(body, choices=offer_choices(t, offer.id))


# --- allocations ----------------------------------------------------------------------------


async def active_allocations(
    session: AsyncSession, artisan_id: int
) -> list[tuple[Allocation, Component, AllocationProgress]]:
    """The artisan's work in progress, soonest due first, with where its pieces are."""
    rows = list((await session.exec(_ACTIVE, params={"artisan_id": artisan_id})).all())
    progress = await allocations_progress(session, [allocation for allocation, _ in rows])
    return [
        (allocation, component, progress[allocation.id])
        for allocation, component in rows
        if allocation.id is not None
    ]


_ACTIVE = (
    select(Allocation, Component)
    .join(Job, col(Job.id) == col(Allocation.job_id))
    .join(Component, col(Component.id) == col(Job.component_id))
    .where(
        Allocation.artisan_id == sa.bindparam("artisan_id"),
        Allocation.status == AllocationStatus.ACTIVE,
    )
    .order_by(col(Allocation.due_date), col(Allocation.id))
)


def job_label(t: Say, allocation: Allocation, component: Component, pieces: int) -> str:
    """A job as one short choice label: "#7 Horn pendant (12)"."""
    return t("artisan.job_label", id=allocation.id, component=component.name, count=pieces)
