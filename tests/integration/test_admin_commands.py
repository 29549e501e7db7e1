"""Admin slash commands end to end through the engine, on real SQLite with a fake clock."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.admin.commands import COMMANDS as ADMIN_COMMANDS
from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import Reply
from conversations.outbox import enqueue
from conversations.registry import REGISTRY
from domain import ledger
from domain.model import (
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Channel,
    Component,
    CustomerKind,
    Job,
    JobStatus,
    Language,
    Offer,
    OfferStatus,
    Order,
    OrderStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    PayoutBatch,
    PayoutBatchStatus,
    Person,
    Role,
)
from domain.payouts import create_payout_batch
from domain.services.offers import accept_offer, make_offer
from domain.services.orders import create_order, get_or_create_customer
from domain.services.people import register_artisan, set_opted_out, verify_artisan
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import (
    Chat,
    add_staff,
    outbox,
    register,
    seed_catalogue,
)
from tests.integration.payout_chat import mpesa_said_float

ADMIN = "tg:admin-amina"
AGENT = "tg:agent-otieno"


@dataclass(frozen=True)
class Summary:
    offers_made: int
    pieces_offered: int


@dataclass
class FakeMatcher:
    """Offers every open job's pieces to one artisan, as a real round would, and explains."""

    artisan_id: int
    rounds: list[datetime] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, now: datetime) -> Summary:
        self.rounds.append(now)
        skills = set(
            await session.exec(
                select(ArtisanSkill.skill).where(ArtisanSkill.artisan_id == self.artisan_id)
            )
        )
        jobs = await session.exec(
            select(Job)
            .join(Component, col(Component.id) == col(Job.component_id))
            .where(Job.status == JobStatus.OPEN, col(Component.skill).in_(skills))
        )
        offers = pieces = 0
        for job in list(jobs):
            assert job.id is not None
            await make_offer(
                session,
                job_id=job.id,
                artisan_id=self.artisan_id,
                quantity=job.quantity,
                expires_at=now + timedelta(hours=24),
                now=now,
            )
            offers += 1
            pieces += job.quantity
        return Summary(offers, pieces)

    async def explain(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> str:
        return f"artisan {artisan_id} has the skill for job {job_id} and capacity left"


@dataclass
class Factory:
    store: Store
    clock: FakeClock
    admin: Person
    agent: Person
    artisans: dict[str, Person]

    async def order(self, reference: str = "PO-1", quantity: int = 10) -> int:
        async with self.store.transaction() as session:
            customer = await get_or_create_customer(
                session, name="Maridadi Crafts", kind=CustomerKind.RETAILER
            )
            assert customer.id is not None
            order = await create_order(
                session,
                customer_id=customer.id,
                reference=reference,
                due_date=date(2026, 4, 30),
                lines=[("NECK-1", quantity)],
                now=self.clock.now(),
            )
            assert order.id is not None
            return order.id


async def _artisan(
    store: Store,
    clock: FakeClock,
    admin: Person,
    *,
    name: str,
    address: str,
    area: str,
    skills: dict[str, int],
    language: Language = Language.EN,
) -> Person:
    async with store.transaction() as session:
        person = await register_artisan(
            session,
            name=name,
            workshop=f"{name} Workshop",
            area=area,
            skills=skills,
            mpesa_number="0712 000 111",
            language=language,
            channel=Channel.WHATSAPP,
            address=address,
            now=clock.now(),
        )
        assert person.id is not None
        assert admin.id is not None
        await verify_artisan(session, artisan_id=person.id, agent_id=admin.id, now=clock.now())
        return person


@pytest.fixture
async def factory(store: Store, clock: FakeClock) -> Factory:
    await seed_catalogue(store)
    admin = await add_staff(store, clock, name="Amina", address=ADMIN, role=Role.ADMIN)
    agent = await add_staff(store, clock, name="Otieno", address=AGENT, areas=("Kibera",))
    artisans = {
        "wanjiru": await _artisan(
            store,
            clock,
            admin,
            name="Wanjiru",
            address="whatsapp:+254711000001",
            area="Kibera",
            skills={"beading": 40, "brass casting": 20},
        ),
        "baraka": await _artisan(
            store,
            clock,
            admin,
            name="Baraka",
            address="whatsapp:+254711000002",
            area="Kariobangi",
            skills={"horn carving": 30},
            language=Language.SW,
        ),
    }
    return Factory(store, clock, admin, agent, artisans)


@pytest.fixture
def matcher(factory: Factory) -> FakeMatcher:
    assert factory.artisans["wanjiru"].id is not None
    return FakeMatcher(factory.artisans["wanjiru"].id)


@pytest.fixture
def engine(factory: Factory, matcher: FakeMatcher) -> Engine:
    return Engine(factory.store, registry=REGISTRY, matcher=matcher)


@pytest.fixture
def admin(engine: Engine, clock: FakeClock) -> Chat:
    return Chat(engine, clock, address=ADMIN, channel=Channel.TELEGRAM)


# --- who may run them -----------------------------------------------------------------------

EVERY_ADMIN_COMMAND = sorted(f"/{name} 1" for name in ADMIN_COMMANDS)


@pytest.mark.parametrize("who", ["artisan", "field agent"])
async def test_artisans_and_field_agents_are_refused_every_admin_command_and_it_is_logged(
    factory: Factory, engine: Engine, clock: FakeClock, caplog: pytest.LogCaptureFixture, who: str
) -> None:
    if who == "artisan":
        chat = Chat(engine, clock, address="whatsapp:+254711000001")
        person = factory.artisans["wanjiru"]
    else:
        chat = Chat(engine, clock, address=AGENT, channel=Channel.TELEGRAM)
        person = factory.agent
    order_id = await factory.order()
    for command in [*EVERY_ADMIN_COMMAND, f"/confirm {order_id}", f"/cancel {order_id} no"]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="conversations.slash"):
            reply = await chat.say(command)
        assert reply == t("en", "command.forbidden"), command
        assert f"refused {command.split()[0]} from person {person.id}" in caplog.text
    async with factory.store.transaction() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        assert order.status is OrderStatus.DRAFT


async def test_a_pending_artisan_is_refused_too(factory: Factory, engine: Engine) -> None:
    chat = Chat(engine, factory.clock, address="whatsapp:+254799000123")
    await register(chat)
    assert await chat.say("/stats") == t("en", "command.forbidden")


async def test_an_unknown_command_gets_a_clear_reply(admin: Chat) -> None:
    assert await admin.say("/launch_rocket") == t("en", "command.unknown", command="/launch_rocket")


async def test_help_lists_every_admin_command(admin: Chat) -> None:
    text = await admin.say("/help")
    for command in ADMIN_COMMANDS.values():
        assert t("en", command.usage) in text


# --- orders ---------------------------------------------------------------------------------


async def test_orders_lists_recent_orders_grouped_by_status(factory: Factory, admin: Chat) -> None:
    first = await factory.order("PO-1")
    await factory.order("PO-2", quantity=25)
    await admin.say(f"/confirm {first}")
    text = await admin.say("/orders")
    assert t("en", "admin.orders_title", count=2) in text
    assert text.index(t("en", "admin.status_draft")) < text.index("PO-2")
    assert text.index(t("en", "admin.status_confirmed")) < text.index("PO-1")
    assert "25 pcs" in text
    only_drafts = await admin.say("/orders draft")
    assert "PO-2" in only_drafts
    assert "PO-1" not in only_drafts


async def test_order_shows_lines_jobs_with_progress_and_revenue_share(
    factory: Factory, admin: Chat
) -> None:
    order_id = await factory.order(quantity=10)
    await admin.say(f"/confirm {order_id}")
    async with factory.store.transaction() as session:
        job = (await session.exec(select(Job).order_by(col(Job.id)))).first()
        assert job is not None
        assert job.id is not None
        artisan_id = factory.artisans["wanjiru"].id
        assert artisan_id is not None
        offer = await make_offer(
            session,
            job_id=job.id,
            artisan_id=artisan_id,
            quantity=6,
            expires_at=factory.clock.now() + timedelta(days=1),
            now=factory.clock.now(),
        )
        assert offer.id is not None
        await accept_offer(
            session, offer_id=offer.id, artisan_id=artisan_id, now=factory.clock.now()
        )
        job_id = job.id
    text = await admin.say(f"/order {order_id}")
    assert "Maridadi Crafts" in text
    assert "NECK-1 Necklace × 10 at KES 900 = KES 9,000" in text
    assert f"Job #{job_id} Bead-Str × 10" in text
    assert ": 6 / 0 / 0" in text  # 6 allocated, none passed or received yet
    # 4 pieces x KES 20 per necklace sold at KES 900: 8.9%, below the 25-35% band
    assert t("en", "admin.share_below", share="9%", low="25%", high="35%") in text


BAD_ARGUMENTS = (
    ("/order abc", t("en", "admin.order_usage")),
    ("/order", t("en", "admin.order_usage")),
    ("/order 999", t("en", "admin.order_not_found", id=999)),
    ("/confirm 999", t("en", "admin.order_not_found", id=999)),
    ("/ship x", t("en", "admin.ship_usage")),
    ("/pause", t("en", "admin.pause_usage")),
    ("/resume 999", t("en", "admin.artisan_not_found", id=999)),
    ("/artisan 999", t("en", "admin.artisan_not_found", id=999)),
    ("/retry 999", t("en", "admin.retry_not_found", id=999)),
    ("/jobs tomorrow", t("en", "admin.jobs_usage")),
    ("/why 1", t("en", "admin.why_usage")),
    ("/broadcast", t("en", "admin.broadcast_usage")),
    (
        "/broadcast Mombasa hello",
        t("en", "admin.broadcast_unknown_audience", audience="Mombasa"),
    ),
    ("/import_orders", t("en", "admin.import_usage")),
)


async def test_bad_arguments_get_a_clear_reply(admin: Chat) -> None:
    for command, reply in BAD_ARGUMENTS:
        assert await admin.say(command) == reply, command


async def test_confirm_explodes_a_draft_and_refuses_to_do_it_twice(
    factory: Factory, admin: Chat
) -> None:
    order_id = await factory.order()
    assert await admin.say(f"/confirm {order_id}") == t(
        "en", "admin.confirmed", id=order_id, jobs=3, count=3
    )
    assert await admin.say(f"/confirm {order_id}") == t(
        "en", "admin.confirm_not_draft", id=order_id, status="confirmed"
    )


async def test_cancel_calls_off_an_order_with_the_reason_given(
    factory: Factory, admin: Chat
) -> None:
    order_id = await factory.order()
    await admin.say(f"/confirm {order_id}")
    asked = await admin.say(f"/cancel {order_id} customer withdrew")  # what stops, then yes
    assert asked.startswith(t("en", "clarity.cancel_ask", id=order_id, count=3))
    assert await admin.say("yes") == t("en", "admin.cancelled", id=order_id, jobs=3, count=3)
    async with factory.store.transaction() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, "customer withdrew")
        jobs = await session.exec(select(Job.status).distinct())
        assert set(jobs) == {JobStatus.CANCELLED}
    assert await admin.say(f"/cancel {order_id}") == t(
        "en", "admin.cancel_refused", id=order_id, status="cancelled"
    )


async def test_ship_marks_a_ready_order_shipped_and_refuses_one_not_ready(
    factory: Factory, admin: Chat
) -> None:
    order_id = await factory.order()
    assert await admin.say(f"/ship {order_id}") == t(
        "en", "admin.ship_not_ready", id=order_id, status="draft"
    )
    async with factory.store.transaction() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        order.status = OrderStatus.READY  # assembly is another flow's business
    assert await admin.say(f"/ship {order_id}") == t("en", "admin.shipped", id=order_id)
    async with factory.store.transaction() as session:
        shipped = await session.get(Order, order_id)
        assert shipped is not None
        assert shipped.status is OrderStatus.SHIPPED


# --- production -----------------------------------------------------------------------------


async def test_jobs_lists_unfinished_jobs_and_late_only_those_at_risk(
    factory: Factory, admin: Chat
) -> None:
    assert await admin.say("/jobs") == t("en", "admin.jobs_none")
    order_id = await factory.order()
    await admin.say(f"/confirm {order_id}")
    text = await admin.say("/jobs")
    assert t("en", "admin.jobs_title", count=3) in text
    assert f"(order #{order_id})" in text
    assert await admin.say("/jobs late") == t("en", "admin.jobs_none_late")
    factory.clock.advance(days=60)  # past every job's latest start
    late = await admin.say("/jobs late")
    assert t("en", "admin.jobs_late_title", count=3) in late


async def test_match_runs_a_round_and_the_offers_go_out_with_the_reply(
    factory: Factory, admin: Chat, matcher: FakeMatcher
) -> None:
    order_id = await factory.order(quantity=10)
    await admin.say(f"/confirm {order_id}")
    reply = await admin.say("/match")
    assert reply == t("en", "admin.match_done", offers=2, pieces=30)  # beads and hooks
    assert matcher.rounds == [factory.clock.now()]
    async with factory.store.transaction() as session:
        offers = list(await session.exec(select(Offer)))
    assert {o.status for o in offers} == {OfferStatus.OPEN}


async def test_match_and_why_say_so_when_matching_is_not_configured(
    factory: Factory, clock: FakeClock
) -> None:
    chat = Chat(
        Engine(factory.store, registry=REGISTRY),
        clock,
        address=ADMIN,
        channel=Channel.TELEGRAM,
    )
    assert await chat.say("/match") == t("en", "admin.match_not_configured")
    assert await chat.say("/why 1 2") == t("en", "admin.why_not_configured")


async def test_why_asks_the_matcher_for_its_explanation(factory: Factory, admin: Chat) -> None:
    order_id = await factory.order()
    await admin.say(f"/confirm {order_id}")
    artisan_id = factory.artisans["wanjiru"].id
    async with factory.store.transaction() as session:
        job_id = (await session.exec(select(Job.id))).first()
    text = await admin.say(f"/why {artisan_id} {job_id}")
    assert f"artisan {artisan_id} has the skill for job {job_id}" in text
    assert await admin.say(f"/why {artisan_id} 999") == t("en", "admin.job_not_found", id=999)


# --- artisans -------------------------------------------------------------------------------


async def test_artisans_lists_everyone_or_filters_by_skill_or_area(
    factory: Factory, admin: Chat
) -> None:
    everyone = await admin.say("/artisans")
    assert "Wanjiru" in everyone
    assert "Baraka" in everyone
    carvers = await admin.say("/artisans horn carving")
    assert "Baraka" in carvers
    assert "Wanjiru" not in carvers
    kibera = await admin.say("/artisans kibera")
    assert "Wanjiru" in kibera
    assert "Baraka" not in kibera
    unknown = await admin.say("/artisans welding")
    assert unknown.startswith('No skill or area is called "welding"')


async def test_artisan_shows_profile_skills_reputation_and_balance(
    factory: Factory, admin: Chat
) -> None:
    wanjiru = factory.artisans["wanjiru"]
    assert wanjiru.id is not None
    async with factory.store.transaction() as session:
        await ledger.record_earning(
            session,
            artisan_id=wanjiru.id,
            amount_cents=125_000,
            reference="delivery:1",
            now=factory.clock.now(),
        )
    text = await admin.say(f"/artisan {wanjiru.id}")
    assert f"#{wanjiru.id} “Wanjiru” – “Wanjiru Workshop”" in text
    assert "beading (40), brass casting (20)" in text
    # A newcomer's smoothed score starts at the prior, not at zero, and is labelled so, with
    # the plain counts beside it and why /why's estimates can differ.
    assert "Score (smoothed estimates): on time 80%" in text
    record = t(
        "en", "admin.artisan_record", on_time=0, due=0, passed=0, checked=0, accepted=0, offers=0
    )
    assert record in text
    assert t("en", "admin.artisan_scores_note") in text
    assert "Earned KES 1,250" in text
    assert "available KES 1,250" in text


async def test_pause_and_resume_an_artisan(factory: Factory, admin: Chat) -> None:
    wanjiru = factory.artisans["wanjiru"]
    assert await admin.say(f"/pause {wanjiru.id}") == t(
        "en", "admin.paused", id=wanjiru.id, name="“Wanjiru”"
    )
    assert await _status(factory.store, wanjiru) is ArtisanStatus.PAUSED
    assert await admin.say(f"/pause {wanjiru.id}") == t(
        "en", "admin.pause_refused", id=wanjiru.id, status="paused"
    )
    assert await admin.say(f"/resume #{wanjiru.id}") == t(
        "en", "admin.resumed", id=wanjiru.id, name="“Wanjiru”"
    )
    assert await _status(factory.store, wanjiru) is ArtisanStatus.ACTIVE


async def test_broadcast_reaches_artisans_by_skill_and_skips_those_who_said_stop(
    factory: Factory, admin: Chat
) -> None:
    baraka = factory.artisans["baraka"]
    assert baraka.id is not None
    async with factory.store.transaction() as session:
        await set_opted_out(session, person_id=baraka.id, opted_out=True)
    await admin.say("/broadcast all en: Materials arrive on Friday. sw: Vifaa vitafika Ijumaa.")
    reply = await admin.say("yes")
    assert reply == t("en", "admin.broadcast_done", sent=1, skipped=1)
    business = await outbox(factory.store, kind=OutboxKind.BUSINESS)
    sent = [m for m in business if "Materials arrive on Friday." in m.body]
    assert [m.person_id for m in sent] == [factory.artisans["wanjiru"].id]


async def test_broadcast_to_a_skill_goes_in_each_artisans_language(
    factory: Factory, admin: Chat
) -> None:
    preview = await admin.say("/broadcast horn carving sw: Lete pembe Jumatatu")
    assert preview == "\n\n".join(
        [
            t("en", "admin.broadcast_preview", count=1, audience="horn carving"),
            t(
                "en",
                "admin.broadcast_preview_language",
                language="Kiswahili",
                count=1,
                text=t("sw", "admin.broadcast_message", text="Lete pembe Jumatatu"),
            ),
            t("en", "admin.confirm_yes_no"),
        ]
    )
    reply = await admin.say("ndiyo")
    assert reply == t("en", "admin.broadcast_done", sent=1, skipped=0)
    [message] = [
        m for m in await outbox(factory.store, kind=OutboxKind.BUSINESS) if "pembe" in m.body
    ]
    assert message.person_id == factory.artisans["baraka"].id
    body = Reply.from_json(message.body).text
    assert body == t("sw", "admin.broadcast_message", text="Lete pembe Jumatatu")


async def test_a_broadcast_is_written_per_language_previewed_and_sent_only_on_yes(
    factory: Factory, admin: Chat
) -> None:
    readers = "English (1), Kiswahili (1)"
    unmarked = await admin.say("/broadcast all Materials arrive on Friday.")
    only_english = await admin.say("/broadcast all en: Materials arrive on Friday.")
    asked = await admin.send("/broadcast all EN: Materials arrive. SW: Vifaa vinafika.")
    declined = await admin.say("hapana")

    assert unmarked == t("en", "admin.broadcast_per_language", languages=readers, audience="all")
    assert only_english == t(
        "en", "admin.broadcast_missing_language", languages="Kiswahili (1)", codes="sw:"
    )
    [question] = asked
    assert [c.label for c in question.choices] == [
        t("en", "admin.broadcast_confirm_yes"),
        t("en", "admin.confirm_no"),
    ]
    assert t("en", "admin.broadcast_message", text="Materials arrive.") in question.text
    assert t("sw", "admin.broadcast_message", text="Vifaa vinafika.") in question.text
    assert declined == t("en", "admin.broadcast_kept")
    business = await outbox(factory.store, kind=OutboxKind.BUSINESS)
    assert not [m for m in business if "Materials" in m.body or "Vifaa" in m.body]

    await admin.send("/broadcast all en: Materials arrive. sw: Vifaa vinafika.")
    assert await admin.say("maybe") == t("en", "admin.confirm_unclear")
    assert await admin.say(payload="bcast:yes") == t(
        "en", "admin.broadcast_done", sent=2, skipped=0, count=2
    )
    bodies = {
        m.person_id: Reply.from_json(m.body).text
        for m in await outbox(factory.store, kind=OutboxKind.BUSINESS)
    }
    assert bodies[factory.artisans["wanjiru"].id] == t(
        "en", "admin.broadcast_message", text="Materials arrive."
    )
    assert bodies[factory.artisans["baraka"].id] == t(
        "sw", "admin.broadcast_message", text="Vifaa vinafika."
    )


# --- payouts --------------------------------------------------------------------------------


async def test_payouts_previews_what_would_be_paid_then_approves_a_waiting_batch(
    factory: Factory, admin: Chat
) -> None:
    assert await admin.say("/payouts") == t("en", "admin.payouts_nothing", minimum="KES 100")
    wanjiru, baraka = factory.artisans["wanjiru"], factory.artisans["baraka"]
    assert wanjiru.id is not None
    assert baraka.id is not None
    async with factory.store.transaction() as session:
        for artisan_id, cents, ref in ((wanjiru.id, 150_000, "a"), (baraka.id, 5_000, "b")):
            await ledger.record_earning(
                session,
                artisan_id=artisan_id,
                amount_cents=cents,
                reference=f"delivery:{ref}",
                now=factory.clock.now(),
            )
    preview = await admin.say("/payouts")
    assert t("en", "admin.payouts_preview", minimum="KES 100", count=1, total="KES 1,500") in (
        preview
    )
    assert "Baraka" not in preview  # KES 50 is below the minimum
    assert await admin.say("/approve_payouts") == t("en", "admin.approve_nothing")

    async with factory.store.transaction() as session:
        batch = await create_payout_batch(session, minimum_cents=10_000, now=factory.clock.now())
        assert batch is not None
        batch_id = batch.id
    waiting = await admin.say("/payouts")
    scheduled = t("en", "admin.batch_scheduled")
    assert (
        t("en", "admin.payout_batch", id=batch_id, by=scheduled, count=1, total="KES 1,500")
        in waiting
    )
    await mpesa_said_float(factory.store, factory.clock.now())
    asked = await admin.say("/approve_payouts")
    assert asked.startswith(
        t("en", "admin.approve_confirm", id=batch_id, by=scheduled, count=1, total="KES 1,500")
    )
    assert await admin.say("yes") == t(
        "en", "admin.approved", id=batch_id, by=scheduled, count=1, total="KES 1,500"
    )
    async with factory.store.transaction() as session:
        approved = await session.get(PayoutBatch, batch_id)
        assert approved is not None
        assert (approved.status, approved.approved_by) == (
            PayoutBatchStatus.APPROVED,
            factory.admin.id,
        )
    assert await admin.say(f"/approve_payouts {batch_id}") == t(
        "en", "admin.approve_not_waiting", id=batch_id
    )


# --- the factory ----------------------------------------------------------------------------


async def test_stats_report_the_last_four_weeks(factory: Factory, admin: Chat) -> None:
    order_id = await factory.order(quantity=10)
    await admin.say(f"/confirm {order_id}")
    await admin.say("/match")  # offers only: nothing allocated yet
    text = await admin.say("/stats")
    assert "Fill: 0% (0 of 40 pieces found an artisan)" in text
    assert "On time: – (0 of 0 jobs due)" in text
    assert "Orders confirmed: 1" in text
    assert t("en", "admin.share_below", share="9%", low="25%", high="35%") in text


async def test_deadletters_lists_dead_messages_and_retry_queues_one_again(
    factory: Factory, admin: Chat
) -> None:
    assert await admin.say("/deadletters") == t("en", "admin.deadletters_none")
    async with factory.store.transaction() as session:
        message = await enqueue(
            session,
            channel=Channel.WHATSAPP,
            address="whatsapp:+254711000001",
            reply=Reply("Your offer: 40 beaded strands"),
            kind=OutboxKind.BUSINESS,
            now=factory.clock.now(),
            person_id=factory.artisans["wanjiru"].id,
        )
        message.status = OutboxStatus.DEAD
        message.attempts = 8
        message.error_code = "63016"
        message_id = message.id
    text = await admin.say("/deadletters")
    assert f"#{message_id} to “Wanjiru” on WhatsApp, 8 tries, error 63016" in text
    assert "Your offer: 40 beaded strands" in text
    assert await admin.say(f"/retry {message_id}") == t("en", "admin.retried", id=message_id)
    async with factory.store.transaction() as session:
        retried = await session.get(OutboxMessage, message_id)
        assert retried is not None
        assert (retried.status, retried.attempts, retried.error_code) == (
            OutboxStatus.QUEUED,
            0,
            None,
        )
    assert await admin.say(f"/retry {message_id}") == t(
        "en", "admin.retry_not_dead", id=message_id, status="queued"
    )


# --- the menu -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("orders", t("en", "admin.orders_none")),
        ("payouts", t("en", "admin.payouts_nothing", minimum="KES 100")),
        ("artisans", t("en", "admin.artisans_title", count=2)),
        ("stats", "The last 4 weeks"),
    ],
)
async def test_each_admin_menu_item_works_and_none_is_coming_soon(
    admin: Chat, item: str, expected: str
) -> None:
    await admin.say("menu")
    text = await admin.say(payload=f"menu:{item}")
    assert expected in text
    assert "coming soon" not in text.casefold()


def test_every_admin_menu_item_has_an_action() -> None:
    assert all(item.action is not None for item in REGISTRY.menus[Role.ADMIN])


# --- Kiswahili ------------------------------------------------------------------------------


async def test_an_admin_who_reads_kiswahili_gets_kiswahili(
    factory: Factory, engine: Engine, clock: FakeClock
) -> None:
    await add_staff(
        factory.store,
        clock,
        name="Zawadi",
        address="tg:zawadi",
        role=Role.ADMIN,
        language=Language.SW,
    )
    chat = Chat(engine, clock, address="tg:zawadi", channel=Channel.TELEGRAM)
    order_id = await factory.order()
    assert await chat.say(f"/confirm {order_id}") == t(
        "sw", "admin.confirmed", id=order_id, jobs=3, count=3
    )
    assert await chat.say("/order 999") == t("sw", "admin.order_not_found", id=999)


# --- helpers --------------------------------------------------------------------------------


async def _status(store: Store, person: Person) -> ArtisanStatus:
    async with store.transaction() as session:
        profile = await session.get(ArtisanProfile, person.id)
        assert profile is not None
        return profile.status
