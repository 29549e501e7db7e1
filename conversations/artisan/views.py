"""What artisans are shown, shared by their flows, commands and notices.

Money in the configured currency ("KES 1,250"), days and times in Nairobi time
(``conversations.formatting``). Each function takes ``t`` — a ``(msgid, **params) -> str`` in
the reader's language — so a flow passes ``ctx.t`` and a notice passes the catalogue bound to the
recipient's language (and ``money`` the same way: ``ctx.money``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.formatting import Say, weekday_date, weekday_date_time
from conversations.messages import Choice, Reply
from domain.limits import MAX_PIECES
from domain.model import Allocation, Component, ComponentMaterial, Offer
from domain.numbers import number_in, or_none

Money = Callable[[int], str]  # cents -> "KES 1,250" in the configured currency


def amount(value: Decimal) -> str:
    """``Decimal('2.500')`` -> ``2.5``; whole amounts without a decimal point."""
    return f"{value.normalize():f}"


def one_number(text: str) -> int | None:
    """The one count of pieces in "I can do 30", "30", "naweza 1,000"; None when there is none,
    several, or one that is signed, has a fraction or an exponent, or is beyond ``MAX_PIECES``
    (``domain.numbers``: every flow reads numbers the same way). The flow's hint says why."""
    return or_none(number_in, text, most=MAX_PIECES)


# --- offers -------------------------------------------------------------------------------


async def materials_line(session: AsyncSession, t: Say, component_id: int, pieces: int) -> str:
    """What ``pieces`` of a component use, e.g. "cattle horn 2.5 kg, brass wire 0.4 kg"."""
    rows = await session.exec(
        select(ComponentMaterial)
        .where(ComponentMaterial.component_id == component_id)
        .order_by(col(ComponentMaterial.material))
    )
    parts = [  # each material by its name in the reader's language (catalogue data)
        t(
            "words.material_amount",
            material=m.material,
            amount=amount(Decimal(m.quantity_per_piece) * pieces),
            unit=m.unit,
        )
        for m in rows
    ]
    return ", ".join(parts) if parts else t("artisan.offer_no_materials")


def offer_choices(t: Say, offer_id: int) -> tuple[Choice, ...]:
    """The offer's buttons; each carries the offer id, so several open offers never mix up."""
    return (
        Choice(f"offer:{offer_id}:accept", t("artisan.offer_accept_all")),
        Choice(f"offer:{offer_id}:part", t("artisan.offer_accept_part")),
        Choice(f"offer:{offer_id}:decline", t("artisan.offer_decline")),
    )


async def offer_text(
    session: AsyncSession, t: Say, money: Money, offer: Offer, component: Component
) -> str:
    assert offer.id is not None
    assert component.id is not None
    return t(
        "artisan.offer_details",
        id=offer.id,
        job=offer.job_id,
        quantity=offer.quantity,
        component=component.name,
        rate=money(offer.piece_rate_cents),
        total=money(offer.piece_rate_cents * offer.quantity),
        due=weekday_date(t, offer.due_date),
        materials=await materials_line(session, t, component.id, offer.quantity),
        expires=weekday_date_time(t, offer.expires_at),
    )


async def offer_message(
    session: AsyncSession, t: Say, money: Money, offer: Offer, component: Component, *, new: bool
) -> Reply:
    """An offer as the artisan reads it, with its buttons and the codes to type without them."""
    assert offer.id is not None
    head = t("artisan.offer_new") if new else ""
    text = await offer_text(session, t, money, offer, component)
    codes = t("artisan.offer_codes", id=offer.id, quantity=offer.quantity)
    body = "\n".join(part for part in (head, text, codes) if part)
    short = t(
        "sms.offer",
        id=offer.id,
        quantity=offer.quantity,
        component=component.name,
        rate=money(offer.piece_rate_cents),
        due=weekday_date(t, offer.due_date),
    )
    return Reply(body, choices=offer_choices(t, offer.id), short=short)


# --- allocations ----------------------------------------------------------------------------


def job_label(t: Say, allocation: Allocation, component: Component, pieces: int) -> str:
    """A job as one short choice label: "#7 Horn pendant (12)", with the job's own number, the
    one staff see too (``/jobs``, ``/order``, QC): an artisan's share of a job is never shown
    under a number of its own."""
    return t("artisan.job_label", id=allocation.job_id, component=component.name, count=pieces)


async def job_number(session: AsyncSession, allocation_id: int) -> int | str:
    """The number of the job an allocation is a share of, as everyone sees it ("-" if gone)."""
    allocation = await session.get(Allocation, allocation_id)
    return "-" if allocation is None else allocation.job_id
