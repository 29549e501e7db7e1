"""Whom money goes to, in chat through the engine on real databases: an artisan changes their
M-Pesa number with /mpesa, their field agent confirms it (/confirm_mpesa or the button), and until
then their payouts are held, with the reason shown to them and to admins in /payouts; the payout
limits leave out an artisan owed too much and refuse a batch too big to approve.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import col, select

from conversations.engine import Engine
from conversations.i18n import default_catalogue, t
from conversations.messages import Reply
from conversations.ports import AdminPolicy
from conversations.registry import REGISTRY
from domain import events, ledger
from domain.errors import Forbidden
from domain.model import (
    ArtisanProfile,
    Channel,
    Language,
    MpesaNumberChange,
    NumberChangeStatus,
    OutboxKind,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    Person,
    Role,
)
from domain.payouts import (
    check_payee,
    confirm_number_change,
    create_payout_batch,
    payout_holds,
    payouts_to_send,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff, outbox
from tests.integration.factory_fixtures import active_artisan, ident, payloads
from tests.integration.payout_chat import approve_in_chat, mpesa_said_float

AMINA = "tg:admin-amina"  # an admin, in English
KAMAU = "tg:agent-kamau"  # the field agent covering Kibera, in English
NJERI = "tg:agent-njeri"  # a field agent covering Githurai
WANJIRU = "+254711000001"  # an artisan in Kibera, in English, on WhatsApp
BARAKA = "+254711000002"  # an artisan in Kibera, in Kiswahili, on WhatsApp
NEW_NUMBER = "0722 000 333"
NEW_E164 = "+254722000333"


@dataclass
class Workshop:
    store: Store
    clock: FakeClock
    engine: Engine
    amina: Person
    kamau: Person
    njeri: Person
    wanjiru: int
    baraka: int

    def chat(self, address: str, channel: Channel = Channel.TELEGRAM) -> Chat:
        return Chat(self.engine, self.clock, address=address, channel=channel)

    def artisan(self, address: str) -> Chat:
        return self.chat(address, Channel.WHATSAPP)

    async def notices_to(self, address: str) -> list[Reply]:
        return [
            Reply.from_json(m.body)
            for m in await outbox(self.store, address=address, kind=OutboxKind.BUSINESS)
        ]

    async def changes(self) -> list[MpesaNumberChange]:
        async with self.store.transaction() as session:
            rows = await session.exec(select(MpesaNumberChange).order_by(col(MpesaNumberChange.id)))
            return list(rows)

    async def number_of(self, artisan: int) -> str:
        async with self.store.transaction() as session:
            profile = await session.get(ArtisanProfile, artisan)
            assert profile is not None
            return profile.mpesa_number

    async def payouts(self) -> list[Payout]:
        async with self.store.transaction() as session:
            return list(await session.exec(select(Payout).order_by(col(Payout.artisan_id))))


async def _workshop(store: Store, clock: FakeClock, policy: AdminPolicy) -> Workshop:
    amina = await add_staff(store, clock, name="Amina", address=AMINA, role=Role.ADMIN)
    kamau = await add_staff(store, clock, name="Kamau", address=KAMAU, areas=("Kibera",))
    njeri = await add_staff(store, clock, name="Njeri", address=NJERI, areas=("Githurai",))
    now = clock.now()
    async with store.transaction() as session:
        wanjiru = ident(
            await active_artisan(
                session,
                verified_by=ident(kamau),
                now=now,
                name="Wanjiru Kamau",
                language=Language.EN,
                address=WANJIRU,
                mpesa_number=WANJIRU,
            )
        )
        baraka = ident(
            await active_artisan(
                session,
                verified_by=ident(kamau),
                now=now,
                name="Baraka Otieno",
                language=Language.SW,
                address=BARAKA,
                mpesa_number=BARAKA,
            )
        )
        for artisan, cents in ((wanjiru, 150_000), (baraka, 80_000)):
            await ledger.record_earning(
                session, artisan_id=artisan, amount_cents=cents, reference=f"d:{artisan}", now=now
            )
    engine = Engine(store, registry=REGISTRY, admin_policy=policy)
    return Workshop(store, clock, engine, amina, kamau, njeri, wanjiru, baraka)


@pytest.fixture
async def workshop(store: Store, clock: FakeClock) -> Workshop:
    return await _workshop(store, clock, AdminPolicy())


async def test_an_artisan_changes_their_number_and_their_area_agent_is_asked_to_confirm_it(
    workshop: Workshop,
) -> None:
    reply = await workshop.artisan(WANJIRU).say(f"/mpesa {NEW_NUMBER}")

    [change] = await workshop.changes()
    assert reply == t("en", "artisan.mpesa_requested", number=NEW_E164, id=change.id)
    assert (change.status, change.requested_by, change.old_masked, change.new_masked) == (
        NumberChangeStatus.PENDING,
        workshop.wanjiru,
        "+254*****001",
        "+254*****333",
    )
    assert change.confirmed_by is None
    # Not used until confirmed: payouts still know only the old number.
    assert await workshop.number_of(workshop.wanjiru) == WANJIRU
    [notice] = await workshop.notices_to(KAMAU)
    assert notice.text == t(
        "en",
        "agent.mpesa_change_request",
        id=change.id,
        artisan=workshop.wanjiru,
        name="“Wanjiru Kamau”",
        area="“Kibera”",
        old="+254*****001",
        new="+254*****333",
    )
    assert payloads(notice) == [f"confirm_mpesa:{change.id}"]
    assert await workshop.notices_to(NJERI) == []  # Githurai is not Wanjiru's area


async def test_the_agent_confirms_with_the_button_and_the_artisan_hears_who_confirmed_it(
    workshop: Workshop,
) -> None:
    await workshop.artisan(WANJIRU).say(f"/mpesa {NEW_NUMBER}")
    [change] = await workshop.changes()

    reply = await workshop.chat(KAMAU).say(payload=f"confirm_mpesa:{change.id}")

    assert reply == t(
        "en", "agent.mpesa_confirmed", id=change.id, name="“Wanjiru Kamau”", new="+254*****333"
    )
    assert await workshop.number_of(workshop.wanjiru) == NEW_E164
    [confirmed] = await workshop.changes()
    assert (confirmed.status, confirmed.confirmed_by) == (
        NumberChangeStatus.CONFIRMED,
        workshop.kamau.id,
    )
    assert confirmed.confirmed_at == workshop.clock.now()
    assert [n.text for n in await workshop.notices_to(WANJIRU)] == [
        t("en", "artisan.mpesa_confirmed", name="Kamau", new="+254*****333")
    ]
    # Confirmed once: a second confirmation is politely refused.
    again = await workshop.chat(KAMAU).say(f"/confirm_mpesa {change.id}")
    assert again == t("en", "agent.confirm_mpesa_not_pending", id=change.id)


async def test_a_pending_number_holds_the_artisans_payout_and_says_why_to_them_and_to_admins(
    workshop: Workshop,
) -> None:
    await workshop.artisan(BARAKA).say(f"/mpesa {NEW_NUMBER}")
    [change] = await workshop.changes()

    preview = await workshop.chat(AMINA).say("/payouts")
    made = await workshop.chat(AMINA).say("/make_payouts")
    view = await workshop.artisan(BARAKA).say(payload="menu:mpesa")

    held = t(
        "en",
        "admin.payout_held_line",
        id=workshop.baraka,
        name="“Baraka Otieno”",
        amount="KES 800",
        reason=t("en", "admin.hold_number_unconfirmed"),
    )
    assert t("en", "admin.payouts_held_title") in preview
    assert held in preview
    assert "Baraka" not in preview.split(t("en", "admin.payouts_held_title"))[0]
    [batch] = await _batches(workshop.store)
    assert made.startswith(
        t("en", "admin.payouts_made", id=batch.id, count=1, total="KES 1,500", minimum="KES 100")
    )
    assert [p.artisan_id for p in await workshop.payouts()] == [workshop.wanjiru]
    assert view == t(
        "sw", "artisan.mpesa_status_pending", old="+254*****002", new="+254*****333", id=change.id
    ) + "\n\n" + t("sw", "artisan.mpesa_how")

    # Confirmed: the next batch pays Baraka, to the new number.
    await workshop.chat(KAMAU).say(f"/confirm_mpesa {change.id}")
    async with workshop.store.transaction() as session:
        await create_payout_batch(session, minimum_cents=10_000, now=workshop.clock.now())
    paid = {p.artisan_id: p.msisdn for p in await workshop.payouts()}
    assert paid == {workshop.wanjiru: WANJIRU, workshop.baraka: NEW_E164}


async def test_a_change_after_the_batch_is_made_holds_its_unsent_payout_until_confirmed(
    workshop: Workshop,
) -> None:
    async with workshop.store.transaction() as session:
        await create_payout_batch(session, minimum_cents=10_000, now=workshop.clock.now())
    await workshop.artisan(WANJIRU).say(f"/mpesa {NEW_NUMBER}")
    [change] = await workshop.changes()
    await mpesa_said_float(workshop.store, workshop.clock.now())
    await approve_in_chat(workshop.chat(AMINA))
    async with workshop.store.transaction() as session:
        waiting = await payouts_to_send(session)
    assert [p.artisan_id for p in waiting] == [workshop.baraka]

    await workshop.chat(KAMAU).say(f"/confirm_mpesa {change.id}")

    async with workshop.store.transaction() as session:
        waiting = await payouts_to_send(session)
    assert {p.artisan_id: p.msisdn for p in waiting} == {
        workshop.wanjiru: NEW_E164,
        workshop.baraka: BARAKA,
    }


@pytest.mark.parametrize(("address", "language"), [(WANJIRU, "en"), (BARAKA, "sw")])
async def test_a_number_that_is_not_a_kenyan_mobile_gets_a_polite_reply_in_the_artisans_language(
    workshop: Workshop, address: str, language: str
) -> None:
    chat = workshop.artisan(address)
    assert await chat.say("/mpesa 12345") == t(language, "artisan.mpesa_invalid", number="“12345”")
    assert await chat.say("/mpesa") == t(language, "artisan.mpesa_usage")
    assert await chat.say(f"/mpesa {address}") == t(language, "artisan.mpesa_same")
    assert await workshop.changes() == []


async def test_a_newer_request_replaces_the_pending_one_which_can_no_longer_be_confirmed(
    workshop: Workshop,
) -> None:
    chat = workshop.artisan(WANJIRU)
    await chat.say(f"/mpesa {NEW_NUMBER}")
    await chat.say("/mpesa 0733 000 444")
    first, second = await workshop.changes()
    assert (first.status, second.status) == (
        NumberChangeStatus.SUPERSEDED,
        NumberChangeStatus.PENDING,
    )

    refused = await workshop.chat(KAMAU).say(f"/confirm_mpesa {first.id}")

    assert refused == t("en", "agent.confirm_mpesa_not_pending", id=first.id)
    assert await workshop.number_of(workshop.wanjiru) == WANJIRU


async def test_nobody_confirms_their_own_number_change(workshop: Workshop) -> None:
    await workshop.artisan(WANJIRU).say(f"/mpesa {NEW_NUMBER}")
    [change] = await workshop.changes()
    assert change.id is not None

    # An artisan has no /confirm_mpesa at all, and the domain refuses them by name too.
    refused = await workshop.artisan(WANJIRU).say(f"/confirm_mpesa {change.id}")
    assert refused == t("en", "command.forbidden")
    async with workshop.store.transaction() as session:
        with pytest.raises(Forbidden):
            await confirm_number_change(
                session,
                change_id=change.id,
                confirmer_id=workshop.wanjiru,
                now=workshop.clock.now(),
            )
    assert await workshop.number_of(workshop.wanjiru) == WANJIRU
    bad = await workshop.chat(KAMAU).say("/confirm_mpesa twelve")
    assert bad == t("en", "agent.confirm_mpesa_usage")
    missing = await workshop.chat(KAMAU).say("/confirm_mpesa 999")
    assert missing == t("en", "agent.confirm_mpesa_not_found", id=999)


async def test_an_artisan_owed_more_than_a_payout_may_pay_is_left_out_and_shown_with_the_reason(
    store: Store, clock: FakeClock
) -> None:
    workshop = await _workshop(store, clock, AdminPolicy(payout_max_per_artisan_cents=100_000))

    preview = await workshop.chat(AMINA).say("/payouts")
    await workshop.chat(AMINA).say("/make_payouts")

    assert (
        t(
            "en",
            "admin.payout_held_line",
            id=workshop.wanjiru,
            name="“Wanjiru Kamau”",
            amount="KES 1,500",
            reason=t("en", "admin.hold_over_limit", limit="KES 1,000"),
        )
        in preview
    )
    assert [p.artisan_id for p in await workshop.payouts()] == [workshop.baraka]


async def test_a_batch_over_the_batch_limit_is_refused_at_approval_with_the_reason(
    store: Store, clock: FakeClock
) -> None:
    workshop = await _workshop(store, clock, AdminPolicy(payout_max_per_batch_cents=200_000))
    await workshop.chat(AMINA).say("/make_payouts")
    [batch] = await _batches(store)

    preview = await workshop.chat(AMINA).say("/payouts")
    refused = await workshop.chat(AMINA).say("/approve_payouts")

    over = t("en", "admin.batch_over_limit", id=batch.id, total="KES 2,300", limit="KES 2,000")
    assert over in preview
    assert refused == over
    [still] = await _batches(store)
    assert still.status is PayoutBatchStatus.AWAITING_APPROVAL


async def _batches(store: Store) -> list[PayoutBatch]:
    async with store.transaction() as session:
        return list(await session.exec(select(PayoutBatch).order_by(col(PayoutBatch.id))))


async def test_the_menu_shows_where_payouts_go_and_how_to_change_it(workshop: Workshop) -> None:
    view = await workshop.artisan(WANJIRU).say(payload="menu:mpesa")

    assert view == t("en", "artisan.mpesa_status", number="+254*****001") + "\n\n" + t(
        "en", "artisan.mpesa_how"
    )


async def test_after_a_name_mismatch_the_artisan_is_told_why_and_an_admin_releases_it(
    workshop: Workshop,
) -> None:
    async with workshop.store.transaction() as session:
        batch = await create_payout_batch(session, minimum_cents=10_000, now=workshop.clock.now())
        assert batch is not None
        [payout] = [
            p for p in await session.exec(select(Payout)) if p.artisan_id == workshop.baraka
        ]
        assert payout.id is not None
        check = await check_payee(
            session,
            payout_id=payout.id,
            receiver_public_name="254711000002 - JOHN MWANGI",
            now=workshop.clock.now(),
        )
        assert check is not None
        # What the payout runner does with the events of a settlement: the notices.
        await REGISTRY.notify(
            session, events.drain(session), catalogue=default_catalogue(), now=workshop.clock.now()
        )

    view = await workshop.artisan(BARAKA).say(payload="menu:mpesa")
    nothing = await workshop.chat(AMINA).say(f"/payee_ok {workshop.wanjiru}")
    released = await workshop.chat(AMINA).say(f"/payee_ok {workshop.baraka}")
    by_agent = await workshop.chat(KAMAU).say(f"/payee_ok {workshop.baraka}")

    assert t("sw", "artisan.mpesa_held_name") in view
    # Baraka was told at once, in Kiswahili, what happened and what happens next.
    assert [n.text for n in await workshop.notices_to(BARAKA)] == [
        t(
            "sw",
            "artisan.payee_mismatch",
            amount="KES 800",
            receiver="“JOHN MWANGI”",
            name="“Baraka Otieno”",
        )
    ]
    assert nothing == t("en", "admin.payee_ok_nothing", id=workshop.wanjiru, name="“Wanjiru Kamau”")
    assert released == t("en", "admin.payee_ok_done", id=workshop.baraka, name="“Baraka Otieno”")
    assert by_agent == t("en", "command.forbidden")
    assert await workshop.chat(AMINA).say("/payee_ok x") == t("en", "admin.payee_ok_usage")
    async with workshop.store.transaction() as session:
        assert await payout_holds(session) == {}


@pytest.mark.parametrize("language", ["en", "sw"])
async def test_payouts_shows_the_approved_batch_its_state_and_a_payout_held_inside_it(
    workshop: Workshop, language: str
) -> None:
    async with workshop.store.transaction() as session:
        batch = await create_payout_batch(session, minimum_cents=10_000, now=workshop.clock.now())
        assert batch is not None
        amina = await session.get(Person, workshop.amina.id)
        assert amina is not None
        amina.language = Language(language)
        session.add(amina)
    await workshop.artisan(WANJIRU).say(f"/mpesa {NEW_NUMBER}")  # after the batch was made
    await mpesa_said_float(workshop.store, workshop.clock.now())
    await approve_in_chat(workshop.chat(AMINA), answer="yes" if language == "en" else "ndiyo")

    shown = await workshop.chat(AMINA).say("/payouts")

    assert (
        t(
            language,
            "admin.payouts_approved_batch",
            id=batch.id,
            by=t(language, "admin.batch_scheduled"),
            approver="Amina",
            total="KES 2,300",
            paid=0,
            sending=0,
            waiting=2,
            failed=0,
        )
        in shown
    )
    held = t(
        language,
        "admin.payout_held_line",
        id=workshop.wanjiru,
        name="“Wanjiru Kamau”",
        amount="KES 1,500",
        reason=t(language, "admin.hold_number_unconfirmed"),
    )
    assert held in shown
    assert t(language, "admin.payouts_approved_going") in shown  # Baraka's goes
