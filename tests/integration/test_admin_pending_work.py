"""Pending work is visible to admins (issue 16, item 10), through the engine with the real
matching round: each unfinished job in /jobs and /order shows its pieces accepted, on offer
(waiting for answers) and not taken yet; a /match that offers nothing says why, from what the
round saw (no confirmed order, no artisan with the skill, everything already out), in English
and Kiswahili."""

from __future__ import annotations

from datetime import date

from sqlmodel import col, select

from bot.matchmaker import Matchmaker
from conversations.engine import Engine
from conversations.i18n import t
from conversations.registry import REGISTRY
from domain.model import Channel, Component, CustomerKind, Job, Language, Role
from domain.services.orders import create_order, get_or_create_customer
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff, seed_catalogue
from tests.integration.factory_fixtures import active_artisan, ident

AMINA = "tg:admin-amina"  # English
ZAWADI = "tg:admin-zawadi"  # Kiswahili


async def _jobs(store: Store) -> dict[str, int]:
    async with store.read() as session:
        rows = await session.exec(
            select(Component.code, Job.id).join(
                Component, col(Component.id) == col(Job.component_id)
            )
        )
        return {code: job_id for code, job_id in rows if job_id is not None}


async def test_pending_pieces_and_why_match_offers_nothing(store: Store, clock: FakeClock) -> None:
    await seed_catalogue(store)  # a necklace: beads (beading), hooks (brass casting), horn
    amina = await add_staff(store, clock, name="Amina", address=AMINA, role=Role.ADMIN)
    await add_staff(
        store, clock, name="Zawadi", address=ZAWADI, role=Role.ADMIN, language=Language.SW
    )
    async with store.transaction() as session:
        await active_artisan(  # the only artisan: beading only
            session, verified_by=ident(amina), now=clock.now(), skills={"beading": 40}
        )
    engine = Engine(store, registry=REGISTRY, matcher=Matchmaker(seed=7))
    en = Chat(engine, clock, address=AMINA, channel=Channel.TELEGRAM)
    sw = Chat(engine, clock, address=ZAWADI, channel=Channel.TELEGRAM)
    none = t("en", "admin.match_none")

    assert await en.say("/match") == f"{none}\n{t('en', 'admin.match_why_no_orders')}"
    async with store.transaction() as session:
        customer = await get_or_create_customer(session, name="Duka", kind=CustomerKind.RETAILER)
        order = await create_order(
            session,
            customer_id=ident(customer),
            reference="PO-9",
            due_date=date(2026, 4, 30),
            lines=[("NECK-1", 10)],
            now=clock.now(),
        )
    assert await sw.say("/match") == "\n".join(
        [t("sw", "admin.match_none"), t("sw", "admin.match_why_drafts", count=1)]
    )

    await en.say(f"/confirm {order.id}")
    first = await en.say("/match")  # the beads go to the one beader
    jobs = await _jobs(store)
    listed = await en.say("/jobs")
    detail = await sw.say(f"/order {order.id}")
    again = await en.say("/match")  # nothing new: the beads are out, nobody makes the rest
    again_sw = await sw.say("/match")

    assert first == t("en", "admin.match_done", offers=1, pieces=10)
    beads = t("en", "admin.job_pending", accepted=0, offered=10, untaken=10)
    hooks = t("en", "admin.job_pending", accepted=0, offered=0, untaken=20)
    assert beads in listed
    assert hooks in listed
    assert t("sw", "admin.job_pending", accepted=0, offered=10, untaken=10) in detail
    for language, said in (("en", again), ("sw", again_sw)):
        assert said.startswith(t(language, "admin.match_none"))
        assert (
            t(
                language,
                "admin.match_why_no_skill",
                job=jobs["HOOK"],
                skill="brass casting",
                pieces=20,
            )
            in said
        )
        assert (
            t(
                language,
                "admin.match_why_no_skill",
                job=jobs["HORN"],
                skill="horn carving",
                pieces=10,
            )
            in said
        )
        assert f"#{jobs['BEAD-STR']} " not in said  # its pieces are all out on offer
