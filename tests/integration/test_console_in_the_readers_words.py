"""The staff console shows skills, components and areas by their names in the reader's language,
and days written out (issue 16, item 5), over HTTP against the real routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from sqlmodel import col, select
from starlette.applications import Starlette

from bot.console import console_routes
from conversations.i18n import t
from conversations.messages import Reply
from conversations.outbox import enqueue
from domain.model import Channel, Language, OutboxKind, OutboxMessage, OutboxStatus, Person
from domain.services import dead_letters
from domain.services.names import apply_names, parse_names_csv
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import Factory, build_factory, place_order
from tests.integration.test_names_in_chat import NAMES_CSV
from tests.integration.test_staff_console import (
    ADMIN_NUMBER,
    AGENT_NUMBER,
    CODE,
    ask_code,
    enter,
    make_console,
)


@pytest.fixture
async def factory(store: Store, clock: FakeClock) -> Factory:
    factory = await build_factory(store, clock)
    async with store.transaction() as session:
        await apply_names(session, parse_names_csv(NAMES_CSV))
    return factory


@pytest.fixture
async def web(store: Store, clock: FakeClock, factory: Factory) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=console_routes(make_console(store, clock)))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def log_in(web: httpx.AsyncClient, store: Store, number: str) -> None:
    """As the staff console tests do, in either language (the code's message is in theirs)."""
    await ask_code(web, number)
    async with store.read() as session:
        rows = await session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.address == number)
            .order_by(col(OutboxMessage.id).desc())
        )
        found = (CODE.search(Reply.from_json(row.body).text) for row in rows)
        code = next(match.group(1) for match in found if match)
    assert (await enter(web, number, code)).status_code == 303


async def _speaks(store: Store, person_id: int, language: Language) -> None:
    async with store.transaction() as session:
        person = (await session.exec(select(Person).where(Person.id == person_id))).one()
        person.language = language
        session.add(person)


async def test_a_kiswahili_admin_reads_skills_components_and_days_in_kiswahili(
    web: httpx.AsyncClient, store: Store, clock: FakeClock, factory: Factory
) -> None:
    await _speaks(store, factory.admin, Language.SW)
    order = await place_order(store, clock, due_date=date(2026, 4, 20))
    await log_in(web, store, ADMIN_NUMBER)

    artisans = (await web.get("/console/artisans")).text
    one = (await web.get(f"/console/artisans/{factory.otieno}")).text
    order_page = (await web.get(f"/console/orders/{order.order_id}")).text

    assert ">uchongaji wa pembe</option>" in artisans  # the filter's choices
    assert "uchongaji wa pembe (" in artisans  # each artisan's skills
    assert "uchongaji wa pembe (" in one
    assert "horn carving (" not in artisans + one
    assert "Kidani cha pembe kilichochongwa" in order_page
    assert "Carved horn pendant" not in order_page
    assert "Jumatatu 20 Aprili 2026" in order_page  # the due day, written out
    assert "2026-04-20" not in order_page


async def test_an_english_admin_reads_english_names_and_an_agent_their_areas_by_name(
    web: httpx.AsyncClient, store: Store, clock: FakeClock, factory: Factory
) -> None:
    order = await place_order(store, clock, due_date=date(2026, 4, 20))
    await log_in(web, store, ADMIN_NUMBER)
    order_page = (await web.get(f"/console/orders/{order.order_id}")).text
    assert "Carved horn pendant" in order_page
    assert "Monday 20 April 2026" in order_page

    await _speaks(store, factory.agent, Language.SW)
    await web.post("/console/logout")
    await log_in(web, store, AGENT_NUMBER)
    artisans = (await web.get("/console/artisans")).text
    assert 'id="areas">Maeneo yako: Kibera<' in artisans


async def test_the_factory_page_tells_held_messages_from_those_we_gave_up_sending(
    web: httpx.AsyncClient, store: Store, clock: FakeClock, factory: Factory
) -> None:
    async with store.transaction() as session:
        for status, code in (
            (OutboxStatus.DEAD, "63016"),
            (OutboxStatus.QUEUED, dead_letters.NO_SENDER),
            (OutboxStatus.QUEUED, dead_letters.NO_SENDER),
        ):
            message = await enqueue(
                session,
                channel=Channel.TELEGRAM,
                address="5550001",
                reply=Reply("Your offer"),
                kind=OutboxKind.BUSINESS,
                now=clock.now(),
                person_id=factory.otieno,
            )
            message.status, message.error_code = status, code
    await log_in(web, store, ADMIN_NUMBER)

    page = (await web.get("/console/factory")).text

    assert 'id="dead-letters">1<' in page  # the one we gave up on, not the two held
    assert f'{t("en", "console.outbox_held")}</td><td class="n">2<' in page
    assert f"{t('en', 'console.outbox_dead')}</td>" in page
    assert "no_channel" not in page
    assert ">dead<" not in page
