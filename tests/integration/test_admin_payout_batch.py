"""Admins start a payout batch in chat with /make_payouts, and drop one with /cancel_payouts,
through the engine on real databases.

The batch remembers who started it (``PayoutBatch.created_by``); admins see that name, or
"scheduled" for the weekly batch, wherever they see a batch: /payouts, the approval reply, and the
notice that a batch waits for approval. The admin who started or approved a batch hears it once,
in their command's reply; the other admins are told by the payout notices.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlmodel import col, select

from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import Reply
from conversations.ports import AdminPolicy
from conversations.registry import REGISTRY
from domain import ledger
from domain.model import (
    Channel,
    Language,
    OutboxKind,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    Role,
)
from domain.payouts import create_payout_batch
from domain.services.people import register_artisan
from domain.store import Store, is_sqlite
from scheduler import jobs
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff, outbox
from tests.integration.factory_fixtures import payee
from tests.integration.mpesa_harness import notifier
from tests.integration.overlap import meeting
from tests.integration.payout_chat import approve_in_chat, mpesa_said_float

AMINA = "tg:admin-amina"  # an admin, in English
ZAWADI = "whatsapp:+254722000111"  # another admin, in Kiswahili
OTIENO = "tg:agent-otieno"  # a field agent
WANJIRU = "whatsapp:+254711000001"  # an artisan
MINIMUM = "KES 100"  # DEFAULT_ADMIN_POLICY's payout minimum


@dataclass
class Office:
    store: Store
    clock: FakeClock
    engine: Engine
    amina: Person
    zawadi: Person
    owed: dict[str, int]  # artisan name -> person id

    def chat(self, address: str, channel: Channel = Channel.TELEGRAM) -> Chat:
        return Chat(self.engine, self.clock, address=address, channel=channel)

    async def notices_to(self, address: str) -> list[str]:
        """The business messages queued to one chat, oldest first (replies left out)."""
        return [
            Reply.from_json(m.body).text
            for m in await outbox(self.store, address=address, kind=OutboxKind.BUSINESS)
        ]

    async def earn(self, name: str, cents: int) -> None:
        async with self.store.transaction() as session:
            await ledger.record_earning(
                session,
                artisan_id=self.owed[name],
                amount_cents=cents,
                reference=f"delivery:{name}-{cents}",
                now=self.clock.now(),
            )

    async def batches(self) -> list[PayoutBatch]:
        async with self.store.transaction() as session:
            return list(await session.exec(select(PayoutBatch).order_by(col(PayoutBatch.id))))

    async def batch_being_built(self, *, by: Person) -> PayoutBatch:
        """A batch with no payouts yet, as a build leaves it between two of its transactions."""
        async with self.store.transaction() as session:
            batch = PayoutBatch(
                status=PayoutBatchStatus.BUILDING, created_at=self.clock.now(), created_by=by.id
            )
            session.add(batch)
            await session.flush()
        assert batch.id is not None
        return batch

    async def payouts(self) -> list[Payout]:
        async with self.store.transaction() as session:
            return list(await session.exec(select(Payout).order_by(col(Payout.artisan_id))))


async def _office(store: Store, clock: FakeClock) -> Office:
    amina = await add_staff(store, clock, name="Amina", address=AMINA, role=Role.ADMIN)
    zawadi = await add_staff(
        store,
        clock,
        name="Zawadi",
        address=ZAWADI,
        role=Role.ADMIN,
        channel=Channel.WHATSAPP,
        language=Language.SW,
    )
    await add_staff(store, clock, name="Otieno", address=OTIENO, areas=("Kibera",))
    owed = {}
    async with store.transaction() as session:
        for name in ("Wanjiru", "Baraka", "Njeri"):
            owed[name] = await payee(session, name, now=clock.now())
    office = Office(store, clock, Engine(store, registry=REGISTRY), amina, zawadi, owed)
    await mpesa_said_float(store, clock.now())  # approval needs a float M-Pesa has told us
    await office.earn("Wanjiru", 150_000)
    await office.earn("Baraka", 80_000)
    await office.earn("Njeri", 5_000)  # KES 50: below the minimum, waits for a later batch
    return office


@pytest.fixture
async def office(store: Store, clock: FakeClock) -> Office:
    return await _office(store, clock)


def started_by(language: str, name: str) -> str:
    return t(language, "admin.batch_started_by", name=name)


async def test_an_admin_makes_a_batch_of_everyone_owed_and_is_told_how_to_approve_it(
    office: Office,
) -> None:
    reply = await office.chat(AMINA).say("/make_payouts")

    [batch] = await office.batches()
    assert reply == t(
        "en",
        "admin.payouts_made",
        id=batch.id,
        count=2,
        total="KES 2,300",
        minimum=MINIMUM,
    )
    assert (batch.status, batch.created_by) == (
        PayoutBatchStatus.AWAITING_APPROVAL,
        office.amina.id,
    )
    payouts = await office.payouts()
    assert [(p.artisan_id, p.amount_cents, p.status) for p in payouts] == [
        (office.owed["Wanjiru"], 150_000, PayoutStatus.PENDING),
        (office.owed["Baraka"], 80_000, PayoutStatus.PENDING),
    ]
    async with office.store.transaction() as session:
        balances = await ledger.artisan_balances(session, list(office.owed.values()))
        assert (await ledger.trial_balance(session)).balanced
    # Reserved, not paid: the money is in flight until M-Pesa answers, Njeri's stays available.
    assert [
        (b.in_flight_cents, b.available_cents)
        for b in (balances[office.owed[n]] for n in ("Wanjiru", "Baraka", "Njeri"))
    ] == [(150_000, 0), (80_000, 0), (0, 5_000)]


async def test_the_other_admins_hear_who_made_the_batch_and_the_maker_is_not_told_twice(
    office: Office,
) -> None:
    await office.chat(AMINA).say("/make_payouts")

    [batch] = await office.batches()
    assert await office.notices_to(ZAWADI) == [
        t(
            "sw",
            "payouts.batch_waiting_started_by",
            name="Amina",
            batch=batch.id,
            count=2,
            total="2,300",
        )
    ]
    assert await office.notices_to(AMINA) == []


async def test_the_approver_hears_the_approval_once_and_the_other_admins_hear_who_gave_it(
    office: Office,
) -> None:
    await office.chat(AMINA).say("/make_payouts")
    [batch] = await office.batches()
    told_before = await office.notices_to(ZAWADI)

    approved = await approve_in_chat(
        office.chat(ZAWADI, Channel.WHATSAPP), str(batch.id), answer="ndiyo"
    )

    assert approved == t(
        "sw",
        "admin.approved",
        id=batch.id,
        by=started_by("sw", "Amina"),
        count=2,
        total="KES 2,300",
    )
    assert await office.notices_to(ZAWADI) == told_before  # nothing more: the reply said it
    assert await office.notices_to(AMINA) == [
        t("en", "payouts.batch_approved", name="Zawadi", batch=batch.id, total="2,300")
    ]


async def test_every_admin_hears_the_weekly_schedule_made_a_batch_and_who_approved_it(
    office: Office,
) -> None:
    outcome = await jobs.weekly_payout_batch(
        office.store,
        clock=office.clock.now,
        minimum_cents=10_000,
        auto_approve_limit_cents=0,
        notify=notifier(),
    )
    assert outcome.batch_id is not None
    waiting = {
        language: t(
            language,
            "payouts.batch_waiting_scheduled",
            batch=outcome.batch_id,
            count=2,
            total="2,300",
        )
        for language in ("en", "sw")
    }
    assert await office.notices_to(AMINA) == [waiting["en"]]
    assert await office.notices_to(ZAWADI) == [waiting["sw"]]

    await approve_in_chat(office.chat(AMINA))

    assert await office.notices_to(AMINA) == [waiting["en"]]
    assert await office.notices_to(ZAWADI) == [
        waiting["sw"],
        t("sw", "payouts.batch_approved", name="Amina", batch=outcome.batch_id, total="2,300"),
    ]


async def test_payouts_and_the_approval_show_which_admin_started_the_batch(
    office: Office,
) -> None:
    await office.chat(AMINA).say("/make_payouts")
    [batch] = await office.batches()
    zawadi = office.chat(ZAWADI, Channel.WHATSAPP)

    shown = await zawadi.say("/payouts")
    approved = await approve_in_chat(zawadi, str(batch.id), answer="ndiyo")

    assert (
        t(
            "sw",
            "admin.payout_batch",
            id=batch.id,
            by=started_by("sw", "Amina"),
            count=2,
            total="KES 2,300",
        )
        in shown
    )
    assert approved == t(
        "sw",
        "admin.approved",
        id=batch.id,
        by=started_by("sw", "Amina"),
        count=2,
        total="KES 2,300",
    )
    [stored] = await office.batches()
    assert (stored.status, stored.created_by, stored.approved_by) == (
        PayoutBatchStatus.APPROVED,
        office.amina.id,
        office.zawadi.id,
    )


async def test_the_preview_suggests_making_the_batch(office: Office) -> None:
    preview = await office.chat(AMINA).say("/payouts")

    assert t("en", "admin.payouts_preview", minimum=MINIMUM, count=2, total="KES 2,300") in preview
    assert preview.endswith(t("en", "admin.payouts_make_hint"))
    assert await office.batches() == []  # looking makes nothing


async def test_with_nobody_owed_the_minimum_no_batch_is_made(
    store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Amina", address=AMINA, role=Role.ADMIN)
    async with store.transaction() as session:
        artisan = await payee(session, "Njeri", now=clock.now())
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=9_999, reference="delivery:1", now=clock.now()
        )

    reply = await Chat(
        Engine(store, registry=REGISTRY),
        clock,
        address=AMINA,
        channel=Channel.TELEGRAM,
    ).say("/make_payouts")

    assert reply == t("en", "admin.payouts_made_nothing", minimum=MINIMUM)
    async with store.transaction() as session:
        assert list(await session.exec(select(PayoutBatch))) == []


async def test_a_batch_waiting_for_approval_is_named_and_no_second_batch_is_made(
    office: Office,
) -> None:
    async with office.store.transaction() as session:
        scheduled = await create_payout_batch(session, minimum_cents=10_000, now=office.clock.now())
    assert scheduled is not None
    await office.earn("Njeri", 20_000)  # now owed KES 250, but a batch still waits

    reply = await office.chat(AMINA).say("/make_payouts")

    assert reply == t(
        "en", "admin.payouts_make_waiting", id=scheduled.id, by=t("en", "admin.batch_scheduled")
    )
    assert [b.id for b in await office.batches()] == [scheduled.id]
    assert office.owed["Njeri"] not in {p.artisan_id for p in await office.payouts()}


async def test_a_batch_still_being_built_is_named_and_left_to_its_builder(
    office: Office,
) -> None:
    # What the scheduler's chunked build looks like between two of its transactions.
    building = await office.batch_being_built(by=office.zawadi)

    reply = await office.chat(AMINA).say("/make_payouts")

    assert reply == t(
        "en", "admin.payouts_make_building", id=building.id, by=started_by("en", "Zawadi")
    )
    [batch] = await office.batches()
    assert batch.status is PayoutBatchStatus.BUILDING
    assert await office.payouts() == []


@pytest.mark.parametrize("who", ["field agent", "artisan"])
async def test_a_field_agent_or_an_artisan_is_refused_and_nothing_is_reserved(
    office: Office, who: str
) -> None:
    chat = office.chat(OTIENO)
    if who == "artisan":
        chat = office.chat(WANJIRU, Channel.WHATSAPP)
        async with office.store.transaction() as session:
            await register_artisan(
                session,
                name="Wanjiru",
                workshop="Kazi Beads",
                area="Kibera",
                skills={"beading": 40},
                mpesa_number="0712 345 678",
                language=Language.EN,
                channel=Channel.WHATSAPP,
                address=WANJIRU,
                now=office.clock.now(),
            )

    assert await chat.say("/make_payouts") == t("en", "command.forbidden")
    assert await office.batches() == []


async def test_two_admins_at_once_make_one_batch_and_each_artisan_is_reserved_once(
    any_store: Store, clock: FakeClock
) -> None:
    office = await _office(any_store, clock)
    amina, zawadi = office.chat(AMINA), office.chat(ZAWADI, Channel.WHATSAPP)

    with meeting(any_store, table="payout_batch") as met:
        replies = await asyncio.gather(amina.say("/make_payouts"), zawadi.say("/make_payouts"))

    assert met.met or is_sqlite(str(any_store.engine.url))
    [batch] = await office.batches()
    maker = "en" if batch.created_by == office.amina.id else "sw"
    other = "sw" if maker == "en" else "en"
    made = t(maker, "admin.payouts_made", id=batch.id, count=2, total="KES 2,300", minimum=MINIMUM)
    name = "Amina" if maker == "en" else "Zawadi"
    refused = t(other, "admin.payouts_make_waiting", id=batch.id, by=started_by(other, name))
    assert sorted(replies) == sorted([made, refused])
    assert sorted(p.amount_cents for p in await office.payouts()) == [80_000, 150_000]


async def test_two_admins_approving_at_once_approve_the_batch_once(
    any_store: Store, clock: FakeClock
) -> None:
    office = await _office(any_store, clock)
    await office.chat(AMINA).say("/make_payouts")
    [waiting] = await office.batches()
    amina, zawadi = office.chat(AMINA), office.chat(ZAWADI, Channel.WHATSAPP)
    # Maker-checker off: the maker, Amina, may approve as well as Zawadi, so both race.
    amina.engine = zawadi.engine = Engine(
        any_store, registry=REGISTRY, admin_policy=AdminPolicy(payout_maker_checker=False)
    )
    await amina.say("/approve_payouts")
    await zawadi.say("/approve_payouts")  # both asked, neither has answered
    told_before = {ZAWADI: await office.notices_to(ZAWADI), AMINA: await office.notices_to(AMINA)}

    with meeting(any_store, table="payout_batch") as met:
        replies = await asyncio.gather(amina.say("yes"), zawadi.say("ndiyo"))

    assert met.met or is_sqlite(str(any_store.engine.url))
    [batch] = await office.batches()
    assert batch.id == waiting.id
    assert batch.status is PayoutBatchStatus.APPROVED
    winner, loser = (AMINA, ZAWADI) if batch.approved_by == office.amina.id else (ZAWADI, AMINA)
    language = {AMINA: "en", ZAWADI: "sw"}
    name = {AMINA: "Amina", ZAWADI: "Zawadi"}
    said = dict(zip((AMINA, ZAWADI), replies, strict=True))
    assert said[winner] == t(
        language[winner],
        "admin.approved",
        id=batch.id,
        by=started_by(language[winner], "Amina"),
        count=2,
        total="KES 2,300",
    )
    # The loser's yes found the batch approved already, and says so.
    assert said[loser] == t(language[loser], "admin.approve_not_waiting", id=batch.id)
    # The approval happened once: the other admin hears of it once, the approver not at all.
    assert await office.notices_to(winner) == told_before[winner]
    assert await office.notices_to(loser) == [
        *told_before[loser],
        t(
            language[loser],
            "payouts.batch_approved",
            name=name[winner],
            batch=batch.id,
            total="2,300",
        ),
    ]


# --- /cancel_payouts --------------------------------------------------------------------------


async def _balances(office: Office) -> list[tuple[int, int]]:
    """(in flight, available) for Wanjiru, Baraka and Njeri."""
    async with office.store.transaction() as session:
        balances = await ledger.artisan_balances(session, list(office.owed.values()))
        assert (await ledger.trial_balance(session)).balanced
    return [(b.in_flight_cents, b.available_cents) for b in balances.values()]


async def test_an_admin_cancels_the_waiting_batch_and_its_money_goes_in_the_next_one(
    office: Office,
) -> None:
    await office.chat(AMINA).say("/make_payouts")
    [batch] = await office.batches()
    zawadi = office.chat(ZAWADI, Channel.WHATSAPP)
    told_before = await office.notices_to(ZAWADI)

    reply = await zawadi.say("/cancel_payouts")

    assert reply == t(
        "sw",
        "admin.payouts_cancelled",
        id=batch.id,
        by=started_by("sw", "Amina"),
        count=2,
        total="KES 2,300",
    )
    [cancelled] = await office.batches()
    assert cancelled.status is PayoutBatchStatus.CANCELLED
    assert {p.status for p in await office.payouts()} == {PayoutStatus.CANCELLED}
    assert await _balances(office) == [(0, 150_000), (0, 80_000), (0, 5_000)]
    assert await office.notices_to(ZAWADI) == told_before  # the reply said it
    assert (await office.notices_to(AMINA))[-1] == t(
        "en", "payouts.batch_cancelled", name="Zawadi", batch=batch.id, count=2, total="2,300"
    )

    await office.chat(AMINA).say("/make_payouts")
    [_, again] = await office.batches()
    assert again.status is PayoutBatchStatus.AWAITING_APPROVAL
    assert await _balances(office) == [(150_000, 0), (80_000, 0), (0, 5_000)]


async def test_the_preview_and_the_refusal_to_make_a_second_batch_say_how_to_cancel(
    office: Office,
) -> None:
    await office.chat(AMINA).say("/make_payouts")
    [batch] = await office.batches()

    preview = await office.chat(AMINA).say("/payouts")
    refused = await office.chat(AMINA).say("/make_payouts")

    assert preview.endswith(t("en", "admin.payout_approve_hint"))
    assert "/cancel_payouts" in t("en", "admin.payout_approve_hint")
    assert refused == t(
        "en", "admin.payouts_make_waiting", id=batch.id, by=started_by("en", "Amina")
    )
    assert f"/cancel_payouts {batch.id}" in refused


async def test_an_approved_batch_is_not_cancelled_and_stays_on_its_way(office: Office) -> None:
    await office.chat(AMINA).say("/make_payouts")
    [batch] = await office.batches()
    await approve_in_chat(office.chat(ZAWADI, Channel.WHATSAPP), str(batch.id), answer="ndiyo")

    reply = await office.chat(AMINA).say(f"/cancel_payouts {batch.id}")

    assert reply == t("en", "admin.cancel_payouts_too_late", id=batch.id)
    [stored] = await office.batches()
    assert stored.status is PayoutBatchStatus.APPROVED
    assert {p.status for p in await office.payouts()} == {PayoutStatus.PENDING}
    assert await _balances(office) == [(150_000, 0), (80_000, 0), (0, 5_000)]


async def test_cancel_without_a_batch_to_cancel_or_with_a_wrong_number_says_so(
    office: Office,
) -> None:
    amina = office.chat(AMINA)

    assert await amina.say("/cancel_payouts") == t("en", "admin.cancel_payouts_nothing")
    assert await amina.say("/cancel_payouts soon") == t("en", "admin.cancel_payouts_usage")
    assert await amina.say("/cancel_payouts 404") == t("en", "admin.batch_not_found", id=404)
    assert await office.batches() == []


async def test_with_several_batches_waiting_the_admin_is_asked_which(office: Office) -> None:
    async with office.store.transaction() as session:
        waiting = [
            PayoutBatch(status=PayoutBatchStatus.AWAITING_APPROVAL, created_at=office.clock.now())
            for _ in range(2)
        ]
        session.add_all(waiting)
        await session.flush()
        ids = [batch.id for batch in waiting]

    reply = await office.chat(AMINA).say("/cancel_payouts")

    assert reply == t("en", "admin.cancel_payouts_which", ids=f"#{ids[0]}, #{ids[1]}")
    assert {b.status for b in await office.batches()} == {PayoutBatchStatus.AWAITING_APPROVAL}


async def test_a_batch_left_half_made_is_cancelled_by_its_number_and_a_new_one_can_be_made(
    office: Office,
) -> None:
    # What a crash between two of the chunked build's transactions leaves behind.
    stuck = await office.batch_being_built(by=office.zawadi)
    amina = office.chat(AMINA)

    reply = await amina.say(f"/cancel_payouts #{stuck.id}")

    assert reply == t(
        "en",
        "admin.payouts_cancelled",
        id=stuck.id,
        by=started_by("en", "Zawadi"),
        count=0,
        total="KES 0",
    )
    made = await amina.say("/make_payouts")
    [cancelled, new] = await office.batches()
    assert (cancelled.id, cancelled.status) == (stuck.id, PayoutBatchStatus.CANCELLED)
    assert new.status is PayoutBatchStatus.AWAITING_APPROVAL
    assert made.startswith(
        t("en", "admin.payouts_made", id=new.id, count=2, total="KES 2,300", minimum=MINIMUM)
    )


async def test_a_field_agent_cannot_cancel_a_batch(office: Office) -> None:
    await office.chat(AMINA).say("/make_payouts")

    assert await office.chat(OTIENO).say("/cancel_payouts") == t("en", "command.forbidden")
    [batch] = await office.batches()
    assert batch.status is PayoutBatchStatus.AWAITING_APPROVAL


# --- confirmation and maker-checker --------------------------------------------------------


async def test_the_maker_of_a_batch_cannot_approve_it_while_another_admin_can(
    office: Office,
) -> None:
    await office.chat(AMINA).say("/make_payouts")
    [batch] = await office.batches()

    refused = await office.chat(AMINA).say(f"/approve_payouts {batch.id}")

    assert refused == t("en", "admin.approve_maker_checker", id=batch.id)
    [stored] = await office.batches()
    assert stored.status is PayoutBatchStatus.AWAITING_APPROVAL
    # In Kiswahili too, when Zawadi makes the next one.
    await office.chat(AMINA).say(f"/cancel_payouts {batch.id}")
    zawadi = office.chat(ZAWADI, Channel.WHATSAPP)
    await zawadi.say("/make_payouts")
    [_, second] = await office.batches()
    assert await zawadi.say("/approve_payouts") == t(
        "sw", "admin.approve_maker_checker", id=second.id
    )


async def test_the_only_admin_approves_their_own_batch_and_is_told_so(
    store: Store, clock: FakeClock
) -> None:
    amina = await add_staff(
        store, clock, name="Amina", address=AMINA, role=Role.ADMIN, language=Language.SW
    )
    async with store.transaction() as session:
        wanjiru = await payee(session, "Wanjiru", now=clock.now())
        await ledger.record_earning(
            session, artisan_id=wanjiru, amount_cents=150_000, reference="d:1", now=clock.now()
        )
    await mpesa_said_float(store, clock.now())
    chat = Chat(Engine(store, registry=REGISTRY), clock, address=AMINA, channel=Channel.TELEGRAM)
    await chat.say("/make_payouts")

    asked = await chat.say("/approve_payouts")
    approved = await chat.say("ndiyo")

    assert t("sw", "admin.approve_alone") in asked
    [batch] = list(await _batches(store))
    assert approved == "\n---\n".join(
        [
            t(
                "sw",
                "admin.approved",
                id=batch.id,
                by=started_by("sw", "Amina"),
                count=1,
                total="KES 1,500",
            ),
            t("sw", "admin.approved_alone"),
        ]
    )
    assert (batch.status, batch.created_by, batch.approved_by) == (
        PayoutBatchStatus.APPROVED,
        amina.id,
        amina.id,
    )


async def _batches(store: Store) -> list[PayoutBatch]:
    async with store.transaction() as session:
        return list(await session.exec(select(PayoutBatch).order_by(col(PayoutBatch.id))))


async def test_the_approve_button_asks_with_the_total_and_no_leaves_the_batch_waiting(
    office: Office,
) -> None:
    await office.chat(AMINA).say("/make_payouts")
    [batch] = await office.batches()
    zawadi = office.chat(ZAWADI, Channel.WHATSAPP)
    shown = await zawadi.send("/payouts")
    [button] = [choice for reply in shown for choice in reply.choices]
    assert (button.payload, button.label) == (
        f"approve_payouts:{batch.id}",
        t("sw", "admin.approve_button", id=batch.id),
    )

    [asked] = await zawadi.send(payload=button.payload)
    kept = await zawadi.say("hapana")

    assert asked.text.startswith(
        t(
            "sw",
            "admin.approve_confirm",
            id=batch.id,
            by=started_by("sw", "Amina"),
            count=2,
            total="KES 2,300",
        )
    )
    assert [c.label for c in asked.choices] == [
        t("sw", "admin.approve_confirm_yes"),
        t("sw", "admin.confirm_no"),
    ]
    assert kept == t("sw", "admin.approve_kept", id=batch.id)
    [stored] = await office.batches()
    assert stored.status is PayoutBatchStatus.AWAITING_APPROVAL


async def test_with_maker_checker_off_the_maker_approves_their_own_batch(
    office: Office,
) -> None:
    amina = office.chat(AMINA)
    amina.engine = Engine(
        office.store, registry=REGISTRY, admin_policy=AdminPolicy(payout_maker_checker=False)
    )
    await amina.say("/make_payouts")
    [batch] = await office.batches()

    approved = await approve_in_chat(amina)

    assert approved == t(
        "en",
        "admin.approved",
        id=batch.id,
        by=started_by("en", "Amina"),
        count=2,
        total="KES 2,300",
    )
