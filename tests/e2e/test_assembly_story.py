"""Assembly and shipping through the real WhatsApp webhook, with the fake Twilio.

Otieno's three brass bangles pass QC and come to the central workshop in two lots. Achieng, the
admin, marks Kamau (a field agent) as working at the workshop; Kamau counts the first lot of two
in and assembles two bangles; when he counts the last one in, both hear the line is ready with an
"Assemble" button, which Achieng presses: the order is complete, and she is told it is ready to
ship with a "Ship" button. She ships it with a carrier and a tracking reference, and /order shows
them. Every step goes over Twilio-signed webhooks and is checked on what the fake Twilio received
and in the store.
"""

from __future__ import annotations

from datetime import UTC, datetime

from conversations.i18n import t
from domain import events
from domain.model import Order, OrderLine, OrderStatus
from domain.services import work
from domain.services.offers import accept_offer
from domain.text import quoted
from tests.e2e.harness import Running, eventually
from tests.integration.factory_fixtures import (
    CHATS,
    active_artisan,
    arranged_drop_off,
    confirmed_order,
    hire_staff,
    ident,
    open_offer,
    stock_catalogue,
    submitted_work,
)

ADMIN = CHATS["admin"][1]  # Achieng, on WhatsApp
KAMAU = CHATS["agent"][1]  # a field agent, on WhatsApp


async def say(
    karakana: Running, number: str, text: str = "", *, until: str, button: str | None = None
) -> str:
    """``number`` writes (or presses ``button``) over the signed webhook; returns what they are
    sent from then on, once it holds ``until``."""
    before = len(karakana.texts_to(number))
    if button is None:
        await karakana.whatsapp(number, text)
    else:
        await karakana.whatsapp(number, text, button_payload=button)

    def answered() -> str:
        new = "\n".join(karakana.texts_to(number)[before:])
        return new if until in new else ""

    return await eventually(answered)


async def test_an_order_goes_from_components_received_to_ready_to_shipped_over_whatsapp(
    karakana: Running,
) -> None:
    now = datetime.now(UTC)
    async with karakana.store.transaction() as s:
        await stock_catalogue(s)
        staff = await hire_staff(s, now=now)
        otieno = ident(await active_artisan(s, verified_by=staff.agent, now=now, name="Otieno"))
        order = await confirmed_order(s, now=now, lines={"BANGLE-BRASS": 3})
        offer = await open_offer(
            s, job_id=order.jobs["BRASS-BANGLE"], artisan_id=otieno, quantity=3, now=now
        )
        allocation = ident(await accept_offer(s, offer_id=ident(offer), artisan_id=otieno, now=now))
        submission = await submitted_work(
            s, allocation_id=allocation, artisan_id=otieno, count=3, now=now
        )
        await work.review_submission(
            s,
            submission_id=ident(submission),
            reviewer_id=staff.agent,
            passed=3,
            rejected=0,
            reasons=[],
            now=now,
        )
        first_lot = ident(
            await arranged_drop_off(
                s, allocation_id=allocation, artisan_id=otieno, quantity=2, now=now
            )
        )
        last_lot = ident(
            await arranged_drop_off(
                s, allocation_id=allocation, artisan_id=otieno, quantity=1, now=now
            )
        )
        events.drain(s)  # the setting up of the story is told to nobody
    line = order.lines["BANGLE-BRASS"]
    reference = quoted(order.reference)

    await say(
        karakana,
        ADMIN,
        f"/workshop {staff.agent} on",
        until=t("en", "admin.workshop_on", id=staff.agent, name=quoted("Kamau")),
    )

    # The first lot of two comes in; Kamau assembles what it allows.
    await say(karakana, KAMAU, f"/receipt {first_lot}", until="2")
    await say(karakana, KAMAU, "2", until="Brass bangle")
    assembled = await say(karakana, KAMAU, f"/assemble {line}", until="2 of 3 done")
    assert t("en", "assembly.still_to_do", left=1) in assembled
    refused = await say(karakana, KAMAU, f"/assemble {line}", until="cannot be assembled yet")
    assert "BRASS-BANGLE: 2 of 3 received" in refused

    # The last bangle comes in: the line is ready, with an Assemble button for both of them.
    await say(karakana, KAMAU, f"/receipt {last_lot}", until="1")
    ready_for_assembly = t(
        "en",
        "agent.notice.ready_for_assembly",
        id=order.order_id,
        order=reference,
        line=line,
        quantity=3,
        product="Brass bangle",
    )
    await say(karakana, KAMAU, "1", until=ready_for_assembly)
    await eventually(lambda: any(ready_for_assembly in m for m in karakana.texts_to(ADMIN)))

    # The admin who made it ready hears it once, with the Ship button (no second notice).
    pressed = await say(
        karakana,
        ADMIN,
        until=t("en", "polish.order_complete_ship", id=order.order_id, order=reference),
        button=f"assemble:{line}",
    )
    assert "1 × Brass bangle" in pressed

    await say(
        karakana,
        ADMIN,
        f"/ship {order.order_id} G4S KE123456",
        until=t("en", "admin.shipped", id=order.order_id),
    )
    shown = await say(karakana, ADMIN, f"/order {order.order_id}", until="Shipped with")
    assert (
        t("en", "admin.order_shipped_with", carrier=quoted("G4S"), tracking=quoted("KE123456"))
        in shown
    )
    async with karakana.store.read() as s:
        shipped = await s.get(Order, order.order_id)
        assembled_line = await s.get(OrderLine, line)
        assert shipped is not None
        assert assembled_line is not None
        assert (shipped.status, shipped.carrier, shipped.tracking_reference) == (
            OrderStatus.SHIPPED,
            "G4S",
            "KE123456",
        )
        assert assembled_line.assembled_quantity == 3
