"""SMS over real HTTP on loopback, against the fake Africa's Talking (and Twilio, Daraja).

The story: Wambui has no smartphone. She registers by SMS in Kiswahili (her number is offered as
her M-Pesa number, and she takes it by typing 1); Kamau, the field agent on WhatsApp, verifies
her; an offer reaches her by SMS in one segment with the codes to type; she answers "KUBALI <id>";
she says on the USSD menu, from the same number, that 10 pieces are ready (no photos: QC
happens when they are counted in); Kamau checks and counts them in at the workshop; the SMS
menu is numbered for her; Achieng, the admin, pays; the payment receipt reaches her by SMS, and
every SMS she got was short. Then: a WhatsApp artisan outside the 24-hour window with no
template gets the offer by SMS instead, and the admin's /deadletters shows which channel carried
it. Last: bad callbacks (no token, a wrong one, oversized, malformed, replayed) change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from conversations.i18n import default_catalogue
from conversations.registry import REGISTRY
from conversations.sms import count_segments
from domain import events
from domain.ledger import artisan_balance
from domain.model import (
    ArtisanProfile,
    Channel,
    ChannelIdentity,
    FloatBalanceQuery,
    FloatQueryStatus,
    InboundMessage,
    Language,
    OutboxMessage,
    OutboxStatus,
    Payout,
    PayoutStatus,
    Person,
    QcReview,
    Role,
)
from domain.services.people import link_identity
from domain.store import Store
from tests.e2e.harness import Running, eventually, running_karakana
from tests.fakes.africastalking import FakeAfricasTalking
from tests.fakes.daraja_api import FakeDaraja
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.factory_fixtures import (
    active_artisan,
    confirmed_order,
    ident,
    open_offer,
    stock_catalogue,
)
from tests.integration.mpesa_harness import INITIATOR_PASSWORD, certificate

WAMBUI = "+254722555001"  # SMS only, Kiswahili
KAMAU = "+254700000002"  # the field agent, on WhatsApp
ACHIENG = "+254700000001"  # the admin, on WhatsApp
OTIENO = "+254722555002"  # WhatsApp and SMS, outside the window
TOKEN = "sms-callback-token-for-the-story-0123"
CATALOGUE = default_catalogue()


@dataclass
class World:
    k: Running
    at: FakeAfricasTalking
    daraja: FakeDaraja

    @property
    def inbound_url(self) -> str:
        return f"{self.k.url}/sms/{TOKEN}/inbound"

    @property
    def status_url(self) -> str:
        return f"{self.k.url}/sms/{TOKEN}/status"

    def sms_to(self, number: str) -> list[str]:
        return self.at.texts_to(number)

    async def texts(self, number: str, text: str, *, until: str | None = None) -> str:
        """``number`` sends an SMS; everything sent back (waiting for ``until``)."""
        before = len(self.sms_to(number))
        answer = await self.at.deliver(self.inbound_url, from_number=number, text=text)
        assert answer.status_code == 200

        def answered() -> str:
            new = "\n".join(self.sms_to(number)[before:])
            return new if new and (until is None or until in new) else ""

        return await eventually(answered)

    async def whatsapp(self, number: str, text: str = "", *, until: str, **form: str) -> str:
        before = len(self.k.texts_to(number))
        await self.k.whatsapp(number, text, **form)

        def answered() -> str:
            new = "\n".join(self.k.texts_to(number)[before:])
            return new if until in new else ""

        return await eventually(answered)

    async def rows(self, statement: Any) -> list[Any]:
        async with self.k.store.transaction() as session:
            return list(await session.exec(statement))


@pytest.fixture
async def world(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> AsyncIterator[World]:
    pem = tmp_path / "mpesa.cer"
    pem.write_bytes(certificate()[0])
    async with FakeAfricasTalking().running() as at, FakeDaraja().running() as daraja:
        settings = {
            "at_username": at.username,
            "at_api_key": at.api_key,
            "at_api_base_url": at.base_url,
            "at_sender_id": "KARAKANA",
            "at_callback_token": TOKEN,
            "sms_send_rate": 50,
            "payout_minimum": "100",
            "mpesa_api_base_url": daraja.base_url,
            "mpesa_consumer_key": daraja.consumer_key,
            "mpesa_consumer_secret": daraja.consumer_secret,
            "mpesa_shortcode": "600999",
            "mpesa_initiator_name": "karakana_api",
            "mpesa_initiator_password": INITIATOR_PASSWORD,
            "mpesa_certificate_path": pem,
            "mpesa_request_timeout": 2,
            "mpesa_callback_token": "sms-story-mpesa-callback-token-0123",
        }
        async with running_karakana(
            store, tmp_path, twilio, telegram, extra_settings=settings
        ) as k:
            yield World(k, at, daraja)


async def test_an_sms_only_artisan_registers_is_offered_work_accepts_and_is_paid(
    world: World,
) -> None:
    k, store = world.k, world.k.store
    sw = CATALOGUE.t
    async with store.transaction() as session:
        await stock_catalogue(session)
    kamau = await k.add_staff("Kamau", channel=Channel.WHATSAPP, address=KAMAU)
    await k.add_staff("Achieng", channel=Channel.WHATSAPP, address=ACHIENG, role=Role.ADMIN)

    # The staff have written today, so their WhatsApp windows are open.
    await world.whatsapp(KAMAU, "menu", until="")
    await world.whatsapp(ACHIENG, "menu", until="")

    # 1. Wambui registers by SMS, in Kiswahili, answering each question as it comes.
    await world.texts(WAMBUI, "Habari")
    for answer in ("2", "Wambui Njeri", "Njeri Beads", "1", "Kibera", "40"):
        await world.texts(WAMBUI, answer)
    asked_mpesa = world.sms_to(WAMBUI)[-1]
    assert "1 " + sw("sw", "registration.mpesa_same", number="0722 555 001") in asked_mpesa
    received = await world.texts(WAMBUI, "1")  # her SMS number is her M-Pesa number
    done = sw("sw", "registration.received", name="Wambui Njeri")
    for _ in range(4):  # the first numbered choice of what else it asks: skip, then "yes"
        if received == done:
            break
        assert "\n1 " in received, received
        received = await world.texts(WAMBUI, "1")
    assert received == done
    [identity] = await world.rows(
        select(ChannelIdentity).where(ChannelIdentity.channel == Channel.SMS)
    )
    wambui = identity.person_id
    [profile] = await world.rows(select(ArtisanProfile).where(ArtisanProfile.person_id == wambui))
    assert profile.mpesa_number == WAMBUI

    # 2. Kamau, on WhatsApp, verifies her with the button of his notice.
    await eventually(lambda: any("Wambui Njeri" in x for x in k.texts_to(KAMAU)))
    await world.whatsapp(KAMAU, button_payload=f"verify:{wambui}", until="Wambui Njeri")
    await eventually(
        lambda: any(
            sw("sw", "registration.verified", name="Wambui Njeri") in x
            for x in world.sms_to(WAMBUI)
        )
    )

    # 3. An offer reaches her by SMS: one segment, with the codes to type.
    now = datetime.now(UTC)
    async with store.transaction() as session:
        order = await confirmed_order(session, now=now, lines={"EARRINGS-BEAD": 5})
        offer = await open_offer(
            session, job_id=order.jobs["BEAD-STRAND"], artisan_id=wambui, quantity=10, now=now
        )
        await REGISTRY.notifier(CATALOGUE)(session, events.drain(session), now)
    k.bot.dispatcher.wake()
    offered = await eventually(
        lambda: next((x for x in world.sms_to(WAMBUI) if f"KUBALI {offer.id}" in x), "")
    )
    assert offered.startswith(f"Ofa {offer.id}: 10 x Beaded strand")
    assert f"SEHEMU {offer.id} <idadi> au KATAA {offer.id}" in offered
    assert count_segments(offered).count == 1

    # 4. She accepts by typing the code.
    took = await world.texts(WAMBUI, f"KUBALI {offer.id}")
    assert f"#{offer.id}" in took
    assert "10 x Beaded strand" in took  # "×" is sent as "x": the whole SMS stays GSM-7

    # 5. She says her work is ready on the USSD menu (no photo: a basic phone takes none),
    #    dialling from the same number; the screen says QC happens when it is counted in.
    ussd = f"{k.url}/ussd/{TOKEN}"
    path: list[str] = []

    async def dial(*answers: str) -> str:
        path.extend(answers)
        form = {
            "sessionId": "ATUid_sms_story",
            "serviceCode": "*384*1234#",
            "phoneNumber": WAMBUI,
            "networkCode": "63902",
            "text": "*".join(path),
        }
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            answer = await http.post(ussd, data=form)
        assert answer.status_code == 200, answer.text
        assert len(answer.text) - 4 <= 160
        return answer.text

    assert (await dial()).startswith("CON ")
    assert "1 hadi 10" in await dial("3")  # work ready: how many of her 10?
    assert "Picha haihitajiki" in await dial("10")
    assert (await dial("1")).startswith("END Tumepokea: vipande 10 viko tayari")

    # 6. Kamau checks and counts them in at the workshop, where QC happens for work with no
    #    photos.
    await world.whatsapp(KAMAU, "/receipt", until="no photos")
    await world.whatsapp(KAMAU, "1", until="how many pass QC?")
    await world.whatsapp(KAMAU, "10", until="passed and counted in")
    [review] = await world.rows(select(QcReview))
    assert (review.passed, review.rejected, review.reviewer_id) == (10, 0, ident(kamau))

    # 7. She reads on the SMS menu that the work was received (the menu is numbered for SMS).
    menu = await world.texts(WAMBUI, "menyu", until=sw("sw", "menu.item.delivery"))
    assert any(line.endswith(sw("sw", "menu.item.delivery")) for line in menu.splitlines())
    async with store.read() as session:
        earned = (await artisan_balance(session, wambui)).available_cents
    assert earned == 10 * 5_000

    # 8. Achieng pays; the receipt reaches Wambui by SMS, at her SMS number's M-Pesa.
    await world.whatsapp(ACHIENG, "/make_payouts", until="/approve_payouts")
    # Making the batch asked M-Pesa what the float holds; approving waits for its answer.
    await eventually(
        lambda: world.rows(
            select(FloatBalanceQuery).where(FloatBalanceQuery.status == FloatQueryStatus.ANSWERED)
        )
    )
    await world.whatsapp(ACHIENG, "/approve_payouts", until="KES 500")
    await world.whatsapp(ACHIENG, "yes", until="#1")

    async def paid() -> list[Payout]:
        rows = await world.rows(select(Payout))
        return rows if rows and all(p.status is PayoutStatus.SUCCEEDED for p in rows) else []

    [payout] = await eventually(paid, within=60)
    assert (payout.msisdn, payout.amount_cents) == (WAMBUI, 50_000)
    receipt = await eventually(
        lambda: next((x for x in world.sms_to(WAMBUI) if "M-Pesa" in x and "500" in x), "")
    )
    assert count_segments(receipt).count == 1

    # Every SMS she got was plain GSM-7 (no stray character halving what a segment holds);
    # the offer, the acceptance and the payment took one segment each; the cost is recorded.
    assert all(count_segments(x).encoding == "GSM-7" for x in world.sms_to(WAMBUI))
    sent = await eventually(lambda: k.all_sent(WAMBUI))
    assert all(m.cost_e4 and m.segments for m in sent)


async def test_a_whatsapp_artisan_outside_the_window_without_a_template_gets_the_sms(
    world: World,
) -> None:
    k, store = world.k, world.k.store
    now = datetime.now(UTC)
    async with store.transaction() as session:
        await stock_catalogue(session)
    admin = await k.add_staff("Achieng", channel=Channel.WHATSAPP, address=ACHIENG, role=Role.ADMIN)
    await world.whatsapp(ACHIENG, "menu", until="")  # her window is open
    async with store.transaction() as session:
        otieno = await active_artisan(
            session,
            verified_by=ident(admin),
            now=now,
            name="Otieno",
            skills={"beadwork": 50},
            language=Language.EN,
            channel=Channel.WHATSAPP,
            address=OTIENO,
            mpesa_number=OTIENO,
        )
        await link_identity(session, person_id=ident(otieno), channel=Channel.SMS, address=OTIENO)
        # He last wrote on WhatsApp two days ago: the 24-hour window is closed.
        session.add(
            InboundMessage(
                channel=Channel.WHATSAPP,
                provider_message_id="SM-two-days-ago",
                address=OTIENO,
                payload="{}",
                received_at=now - timedelta(days=2),
            )
        )
        order = await confirmed_order(session, now=now, lines={"EARRINGS-BEAD": 5})
        offer = await open_offer(
            session,
            job_id=order.jobs["BEAD-STRAND"],
            artisan_id=ident(otieno),
            quantity=10,
            now=now,
        )
        await REGISTRY.notifier(CATALOGUE)(session, events.drain(session), now)
    k.bot.dispatcher.wake()

    by_sms = await eventually(
        lambda: next((x for x in world.sms_to(OTIENO) if x.startswith(f"Offer {offer.id}")), "")
    )
    assert by_sms.startswith(f"Offer {offer.id}: 10 x Beaded strand")
    assert f"ACCEPT {offer.id}" in by_sms
    # (His verification notice, outside the window too, went the same way.)
    assert k.texts_to(OTIENO) == []  # nothing went on WhatsApp

    async def carried() -> list[OutboxMessage]:
        rows = await world.rows(
            select(OutboxMessage)
            .where(OutboxMessage.address == OTIENO, OutboxMessage.channel == Channel.SMS)
            .order_by(col(OutboxMessage.id).desc())
        )
        return rows[:1] if rows and rows[0].status is OutboxStatus.SENT else []

    [on_sms] = await eventually(carried)
    [on_whatsapp] = await world.rows(
        select(OutboxMessage).where(OutboxMessage.id == on_sms.fallback_of)
    )
    assert (on_whatsapp.channel, on_whatsapp.status, on_whatsapp.error_code) == (
        Channel.WHATSAPP,
        OutboxStatus.DEAD,
        f"via_sms:{on_sms.id}",
    )
    # The admin's view shows which channel carried it.
    shown = await world.whatsapp(ACHIENG, "/deadletters", until=f"via_sms:{on_sms.id}")
    assert f"#{on_whatsapp.id}" in shown
    # He answers by SMS: the same number is the same person.
    took = await world.texts(OTIENO, f"ACCEPT {offer.id}", until=f"#{offer.id}")
    assert "10 x Beaded strand" in took
    async with store.read() as session:
        found = await session.get(Person, ident(otieno))
        assert found is not None
        assert found.role is Role.ARTISAN


async def test_bad_callbacks_change_nothing(world: World, caplog: pytest.LogCaptureFixture) -> None:
    k = world.k
    caplog.set_level(logging.DEBUG, logger="bot")
    form = {"from": WAMBUI, "to": "20880", "text": "Habari", "id": "AT-1", "date": "x"}

    async def post(url: str, body: dict[str, str] | bytes) -> int:
        return (await world.at.post(url, body)).status_code

    # No token, a wrong one, a token only as long as a prefix: 404, as for a route that
    # does not exist.
    assert await post(f"{k.url}/sms/inbound", form) == 404
    assert await post(f"{k.url}/sms//inbound", form) == 404
    assert await post(f"{k.url}/sms/not-the-token-at-all-0000/inbound", form) == 404
    assert await post(f"{k.url}/sms/{TOKEN[:-1]}/inbound", form) == 404
    assert await post(f"{k.url}/sms/{TOKEN[:-1]}/status", {"id": "x", "status": "Success"}) == 404
    # Oversized, malformed, not a phone number, no id, an unknown delivery status.
    assert await post(world.inbound_url, form | {"text": "x" * 70_000}) == 413
    assert await post(world.inbound_url, b"%%%not a form") == 400
    assert await post(world.inbound_url, form | {"from": "KARAKANA"}) == 400
    assert await post(world.inbound_url, {k: v for k, v in form.items() if k != "id"}) == 400
    assert await post(world.status_url, {"id": "ATXid_1", "status": "Teleported"}) == 400
    assert await world.rows(select(InboundMessage)) == []
    assert await world.rows(select(Person)) == []

    # A good one, then the same one replayed: handled once, answered once.
    assert await post(world.inbound_url, form) == 200
    [welcome] = await eventually(lambda: world.sms_to(WAMBUI))
    assert await post(world.inbound_url, form) == 200
    assert len(await world.rows(select(InboundMessage))) == 1
    await eventually(lambda: k.all_sent(WAMBUI))
    assert world.sms_to(WAMBUI) == [welcome]
    # A delivery report for a message we never sent changes nothing.
    assert await post(world.status_url, {"id": "ATXid_unknown", "status": "Failed"}) == 200
    # The server logged neither our token nor the wrong ones (the test's own HTTP client does).
    ours = "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.name.split(".")[0] in ("bot", "conversations", "domain", "uvicorn")
    )
    assert "refused an Africa's Talking callback" in ours
    assert TOKEN[:-1] not in ours
    assert "not-the-token-at-all" not in ours
    [reply] = await world.rows(select(OutboxMessage))
    assert reply.status is OutboxStatus.SENT
