"""The staff console's login, sessions, roles and forms, over HTTP against the real routes.

The app is ``bot.console.console_routes`` on a real SQLite store, called in-process through
httpx's ASGI transport; codes are read where they really go: the outbox row queued for the
staff member's own chat. docs/security.md names these tests.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

import bot.console
from bot.console import Console, Cookies, console_routes
from bot.console.auth import LOGIN_COOKIE, SESSION_COOKIE
from bot.console.export_rows import EXPORTS
from bot.main import console_refusal
from bot.settings import Settings
from conversations.console_sessions import CONSOLE_WORDS
from conversations.engine import Engine
from conversations.i18n import default_catalogue, t
from conversations.messages import Reply
from conversations.ports import AdminPolicy
from conversations.registry import REGISTRY
from domain.model import (
    Channel,
    ConsoleLoginCode,
    CustomerKind,
    Language,
    Order,
    OrderStatus,
    OutboxMessage,
    PayoutBatch,
    PayoutBatchStatus,
    Role,
)
from domain.payouts import create_payout_batch
from domain.services.channel_choice import choose_channel
from domain.services.orders import get_or_create_customer
from domain.services.people import add_person, link_identity
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import (
    CHATS,
    Factory,
    build_factory,
    draft_order,
    owed_earnings,
)

KEY = b"k" * 32
ADMIN_NUMBER = CHATS["admin"][1]
AGENT_NUMBER = CHATS["agent"][1]
CODE = re.compile(r"\b(\d{6})\b")


def make_console(store: Store, clock: FakeClock, *, secure: bool = False) -> Console:
    return Console(
        store=store,
        key=KEY,
        clock=clock.now,
        catalogue=default_catalogue(),
        policy=AdminPolicy(mpesa_configured=False),
        cookies=Cookies(secure=secure, session_seconds=12 * 3600),
    )


@pytest.fixture
async def factory(store: Store, clock: FakeClock) -> Factory:
    return await build_factory(store, clock)


@pytest.fixture
async def web(store: Store, clock: FakeClock, factory: Factory) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=console_routes(make_console(store, clock)))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no {name} field in the page"
    return found.group(1)


async def ask_code(web: httpx.AsyncClient, number: str) -> httpx.Response:
    page = await web.get("/console/login")
    return await web.post(
        "/console/login", data={"csrf": _hidden(page.text, "csrf"), "number": number}
    )


async def enter(web: httpx.AsyncClient, number: str, code: str) -> httpx.Response:
    page = await web.get("/console/login")
    return await web.post(
        "/console/login/code",
        data={"csrf": _hidden(page.text, "csrf"), "number": number, "code": code},
    )


async def codes_sent(store: Store, address: str) -> list[str]:
    async with store.read() as session:
        rows = await session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.address == address)
            .order_by(col(OutboxMessage.id))
        )
        texts = [Reply.from_json(row.body).text for row in rows]
    return [m.group(1) for text in texts if (m := CODE.search(text)) and "console" in text]


async def log_in(web: httpx.AsyncClient, store: Store, number: str) -> None:
    await ask_code(web, number)
    code = (await codes_sent(store, number))[-1]
    response = await enter(web, number, code)
    assert response.status_code == 303, response.text


async def test_a_code_goes_to_the_staff_members_own_chat_and_opens_a_locked_down_session(
    store: Store, clock: FakeClock, factory: Factory
) -> None:
    app = Starlette(routes=console_routes(make_console(store, clock, secure=True)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as web:
        answer = await ask_code(web, "0700 000 001")  # the admin's number, as people type it
        assert answer.status_code == 200
        assert "a code is on its way" in answer.text
        (code,) = await codes_sent(store, ADMIN_NUMBER)
        async with store.read() as session:
            stored = (await session.exec(select(ConsoleLoginCode.code_digest))).one()
        assert code not in stored  # only a keyed digest is kept
        response = await enter(web, ADMIN_NUMBER, code)
        assert response.status_code == 303
        cookie = next(
            value
            for name, value in response.headers.multi_items()
            if name == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
        )
        flags = {part.strip().casefold() for part in cookie.split(";")}
        assert {"httponly", "secure", "samesite=strict", "path=/console"} <= flags
        assert "max-age=43200" in flags
        factory_page = await web.get("/console/factory")
        assert factory_page.status_code == 200
        assert "Achieng" in factory_page.text
        assert factory_page.headers["content-security-policy"].startswith("default-src 'none'")
        # Tampering with the signed cookie logs nobody in.
        token = web.cookies[SESSION_COOKIE]
        web.cookies.set(SESSION_COOKIE, token[:-1] + ("0" if token[-1] != "0" else "1"))
        assert (await web.get("/console/factory")).status_code == 303


async def test_a_wrong_a_reused_and_an_expired_code_are_refused(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    await ask_code(web, ADMIN_NUMBER)
    (code,) = await codes_sent(store, ADMIN_NUMBER)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = await enter(web, ADMIN_NUMBER, wrong)
    assert refused.status_code == 403
    assert "does not work" in refused.text
    assert SESSION_COOKIE not in web.cookies
    assert (await enter(web, ADMIN_NUMBER, code)).status_code == 303
    web.cookies.delete(SESSION_COOKIE)
    assert (await enter(web, ADMIN_NUMBER, code)).status_code == 403  # used once already

    await ask_code(web, ADMIN_NUMBER)
    late = (await codes_sent(store, ADMIN_NUMBER))[-1]
    clock.advance(minutes=10, seconds=1)
    assert (await enter(web, ADMIN_NUMBER, late)).status_code == 403
    assert SESSION_COOKIE not in web.cookies


async def test_codes_and_wrong_tries_are_rate_limited_per_number_and_per_client(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    for _ in range(3):
        assert (await ask_code(web, ADMIN_NUMBER)).status_code == 200
    limited = await ask_code(web, ADMIN_NUMBER)
    assert limited.status_code == 429
    assert len(await codes_sent(store, ADMIN_NUMBER)) == 3
    # Seven other numbers from the same client address reach the per-client limit of ten.
    for n in range(7):
        assert (await ask_code(web, f"+25479900{n:04d}")).status_code == 200
    assert (await ask_code(web, AGENT_NUMBER)).status_code == 429
    assert await codes_sent(store, AGENT_NUMBER) == []

    clock.advance(minutes=16)
    await ask_code(web, ADMIN_NUMBER)
    code = (await codes_sent(store, ADMIN_NUMBER))[-1]
    for _ in range(5):
        assert (await enter(web, ADMIN_NUMBER, "000000" if code != "000000" else "1")).status_code
    # Five wrong codes for the number: even the right one is now refused for a while.
    held_off = await enter(web, ADMIN_NUMBER, code)
    assert held_off.status_code == 429
    assert SESSION_COOKIE not in web.cookies


async def test_an_artisans_number_gets_no_code_and_the_same_answer_as_a_staff_number(
    web: httpx.AsyncClient, store: Store
) -> None:
    staff = await ask_code(web, ADMIN_NUMBER)
    artisan = await ask_code(web, CHATS["wanjiru"][1])
    stranger = await ask_code(web, "+254799123456")
    assert staff.status_code == artisan.status_code == stranger.status_code == 200

    def said(page: str) -> str:
        found = re.search(r'<p id="code-sent">(.*?)</p>', page)
        assert found is not None
        return found.group(1)

    assert said(staff.text) == said(artisan.text) == said(stranger.text)
    assert await codes_sent(store, CHATS["wanjiru"][1]) == []
    async with store.read() as session:
        sent = (await session.exec(select(ConsoleLoginCode.person_id))).all()
    assert len(sent) == 1


async def test_a_field_agent_sees_the_artisans_of_their_area_only(
    web: httpx.AsyncClient, store: Store, factory: Factory
) -> None:
    await log_in(web, store, AGENT_NUMBER)  # Kamau covers Kibera
    listing = await web.get("/console/artisans")
    assert listing.status_code == 200
    assert "Wanjiru" in listing.text  # Kibera
    assert "Otieno" not in listing.text  # Githurai
    assert "Otieno" not in (await web.get("/console/artisans?area=Githurai")).text
    assert (await web.get(f"/console/artisans/{factory.wanjiru}")).status_code == 200
    other = await web.get(f"/console/artisans/{factory.otieno}")
    assert other.status_code == 404
    assert "Otieno" not in other.text
    for admins_only in ("/console/factory", "/console/payouts", "/console/exports/payouts.csv"):
        assert (await web.get(admins_only)).status_code == 403


async def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        order_id = (await draft_order(session, now=clock.now())).id
    await log_in(web, store, ADMIN_NUMBER)
    for data in ({}, {"csrf": "forged"}):
        refused = await web.post(f"/console/orders/{order_id}/confirm", data=data)
        assert refused.status_code == 403
    async with store.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        assert order.status is OrderStatus.DRAFT
    page = await web.get(f"/console/orders/{order_id}")
    confirmed = await web.post(
        f"/console/orders/{order_id}/confirm", data={"csrf": _hidden(page.text, "csrf")}
    )
    assert confirmed.status_code == 303
    async with store.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        assert order.status is OrderStatus.CONFIRMED
    # The login forms carry their own token: without the login cookie's, nothing is sent.
    web.cookies.delete(LOGIN_COOKIE)
    bare = await web.post("/console/login", data={"csrf": "x", "number": ADMIN_NUMBER})
    assert bare.status_code == 403


async def test_logout_all_in_chat_ends_every_console_session(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    await log_in(web, store, ADMIN_NUMBER)
    assert (await web.get("/console/factory")).status_code == 200
    chat = Chat(Engine(store, registry=REGISTRY), clock, address=ADMIN_NUMBER)
    said = await chat.say("/logout_all")
    assert said == t("en", "console.logout_all_done", count=1)
    after = await web.get("/console/factory")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/console/login")


async def test_approving_in_the_console_obeys_the_same_maker_checker_rule_as_chat(
    web: httpx.AsyncClient, store: Store, clock: FakeClock, factory: Factory
) -> None:
    async with store.transaction() as session:
        await owed_earnings(
            session, verified_by=factory.agent, now=clock.now(), owed={"Akinyi": 150_000}
        )
        batch = await create_payout_batch(
            session, minimum_cents=50_000, now=clock.now(), created_by=factory.admin
        )
        assert batch is not None
        batch_id = batch.id
        second = await _second_admin(session, clock)
    await log_in(web, store, ADMIN_NUMBER)  # Achieng made the batch
    refused = await web.get(f"/console/payouts/{batch_id}/approve")
    assert "another admin must approve" in refused.text
    assert 'id="approve-yes"' not in refused.text
    web.cookies.delete(SESSION_COOKIE)
    await log_in(web, store, second)
    question = await web.get(f"/console/payouts/{batch_id}/approve")
    assert "Pay KES 1,500 to 1 artisans" in question.text
    done = await web.post(
        f"/console/payouts/{batch_id}/approve",
        data={"csrf": _hidden(question.text, "csrf"), "confirm": "yes"},
    )
    assert done.status_code == 303
    async with store.read() as session:
        approved = await session.get(PayoutBatch, batch_id)
        assert approved is not None
        assert approved.status is PayoutBatchStatus.APPROVED


async def _second_admin(session: AsyncSession, clock: FakeClock) -> str:
    number = "+254799555001"
    await add_person(
        session,
        role=Role.ADMIN,
        name="Baraka",
        channel=Channel.WHATSAPP,
        address=number,
        now=clock.now(),
    )
    return number


async def test_an_export_is_streamed_csv_with_formula_cells_made_inert(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        customer = await get_or_create_customer(
            session, name='=HYPERLINK("http://x","y")', kind=CustomerKind.RETAILER
        )
        await draft_order(session, now=clock.now(), customer=customer)
    await log_in(web, store, ADMIN_NUMBER)
    response = await web.get("/console/exports/orders.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["order_id", "reference", "customer"]
    assert rows[1][2] == '\'=HYPERLINK("http://x","y")'


def test_the_console_needs_its_secret_key_beside_a_real_channel_but_not_in_the_demo() -> None:
    demo = Settings(_env_file=None)
    assert console_refusal(demo) is None
    public = Settings(_env_file=None, host="0.0.0.0")
    assert console_refusal(public) is not None
    assert "CONSOLE_SECRET_KEY" in (console_refusal(public) or "")
    keyed = Settings(_env_file=None, host="0.0.0.0", console_secret_key="s" * 40)
    assert console_refusal(keyed) is None


def test_every_word_of_the_console_pages_is_listed_for_the_catalogues() -> None:
    folder = Path(bot.console.__file__).parent
    used: set[str] = set()
    for path in [*folder.glob("templates/*.html"), *folder.glob("*.py")]:
        used |= set(re.findall(r"[\"'](console\.[a-z_]+)[\"']", path.read_text("utf-8")))
    used -= {"console.css", "console.export_"}
    used |= {f"console.export_{name}" for name in EXPORTS}
    assert used == set(CONSOLE_WORDS)
    for language in ("en", "sw"):
        for msgid in CONSOLE_WORDS:
            assert default_catalogue().has(Language(language), msgid), msgid


async def test_a_field_agent_on_telegram_logs_in_with_the_phone_number_kept_for_them(
    store: Store, factory: Factory, web: httpx.AsyncClient
) -> None:
    """Telegram tells us no phone number: `karakana people add --telegram ID --phone NUMBER`
    keeps it as an SMS identity and keeps their messages on Telegram (tests/integration/test_cli.py
    shows the command), so the code reaches their Telegram chat."""
    phone = "+254711222333"
    async with store.transaction() as session:
        await link_identity(
            session, person_id=factory.far_agent, channel=Channel.SMS, address=phone
        )
        await choose_channel(session, factory.far_agent, Channel.TELEGRAM)

    await ask_code(web, "0711 222 333")

    telegram = CHATS["far_agent"][1]
    assert await codes_sent(store, phone) == []  # nothing by SMS
    (code,) = await codes_sent(store, telegram)
    response = await enter(web, phone, code)
    assert response.status_code == 303, response.text
    assert (await web.get("/console/artisans")).status_code == 200
