"""The local web chat's HTTP API over real HTTP on loopback, on the real engine and SQLite."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from starlette.applications import Starlette

from bot.channels.media import LocalMediaStore
from bot.channels.webchat import NEW_ADDRESS, webchat_routes
from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import Incoming, Reply
from conversations.outbox import notify_person
from conversations.registry import REGISTRY
from domain.model import (
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    InboundMessage,
    InboundStatus,
    Language,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
)
from domain.services.people import register_artisan
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.server import serving
from tests.integration.conversation_driver import REGISTRATION_ANSWERS, add_staff, seed_catalogue

ADMIN_PHONE = "+254700000001"
AGENT_TELEGRAM = "712345678"  # a Telegram chat id that also reads as a Kenyan mobile
ARTISAN_PHONE = "+254712345678"  # ...this one, somebody else's
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + b"\x00" * 64


def png(width: int = 4, height: int = 3) -> bytes:
    """A real, tiny, orange PNG image."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + b"\xe0\x80\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def seed_people(store: Store, clock: FakeClock) -> dict[str, Person]:
    """An admin on WhatsApp, a field agent on Telegram, and a pending artisan on WhatsApp."""
    await seed_catalogue(store)
    admin = await add_staff(
        store, clock, name="Amina Odhiambo", address=ADMIN_PHONE, role=Role.ADMIN,
        channel=Channel.WHATSAPP,
    )  # fmt: skip
    agent = await add_staff(
        store, clock, name="Brian Kiprono", address=AGENT_TELEGRAM, areas=("Kibera",)
    )
    async with store.transaction() as session:
        artisan = await register_artisan(
            session,
            name="Wanjiru Kamau",
            workshop="Kazi Beads Group",
            area="Kibera",
            skills={"beading": 40},
            mpesa_number="0712 345 678",
            language=Language.EN,
            channel=Channel.WHATSAPP,
            address=ARTISAN_PHONE,
            now=clock.now(),
        )
    return {"admin": admin, "agent": agent, "artisan": artisan}


AppFactory = Callable[..., Starlette]


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def make_app(store: Store, clock: FakeClock, media_dir: Path) -> AppFactory:
    def make(**options: Any) -> Starlette:
        routes = webchat_routes(
            store,
            Engine(store, registry=REGISTRY),
            LocalMediaStore(media_dir),
            clock=clock.now,
            **options,
        )
        return Starlette(routes=routes)

    return make


@pytest.fixture
async def web(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(make_app()) as base, httpx.AsyncClient(base_url=base) as client:
        yield client


async def say(
    web: httpx.AsyncClient, address: str, text: str, **extra: str
) -> list[dict[str, Any]]:
    """Send one message and return the replies delivered since the last ones read."""
    sent = await web.post("/webchat/send", json={"address": address, "text": text, **extra})
    assert sent.status_code == 200, sent.text
    return await read(web, address)


_cursors: dict[str, int] = {}


async def read(web: httpx.AsyncClient, address: str) -> list[dict[str, Any]]:
    params = {"address": address, "after": str(_cursors.get(address, 0))}
    answer = await web.get("/webchat/messages", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    _cursors[address] = body["cursor"]
    return list(body["messages"])


@pytest.fixture(autouse=True)
def _fresh_cursors() -> None:
    _cursors.clear()


def kept_files(media_dir: Path) -> dict[str, bytes]:
    """What the media store holds, by file name (a quick local read, fine inside a test)."""
    if not media_dir.exists():
        return {}
    return {path.name: path.read_bytes() for path in media_dir.iterdir()}


async def rows(store: Store, table: type[Any]) -> list[Any]:
    async with store.transaction() as session:
        return list(await session.exec(select(table)))


# --- who one can chat as --------------------------------------------------------------------


async def test_the_people_list_shows_everyone_with_role_area_and_an_address_to_chat_as(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    await seed_people(store, clock)
    answer = await web.get("/webchat/people")
    assert answer.status_code == 200
    body = answer.json()
    listed = {p["name"]: p for p in body["people"]}
    assert [p["role"] for p in body["people"]] == ["admin", "field_agent", "artisan"]
    assert listed["Amina Odhiambo"]["address"] == ADMIN_PHONE
    assert listed["Brian Kiprono"]["address"] == AGENT_TELEGRAM
    assert listed["Wanjiru Kamau"] | {"id": None} == {
        "id": None,
        "name": "Wanjiru Kamau",
        "role": "artisan",
        "area": "Kibera",
        "status": "pending",
        "address": ARTISAN_PHONE,
    }
    assert NEW_ADDRESS.fullmatch(body["new_person"]["address"])
    again = (await web.get("/webchat/people")).json()
    assert again["new_person"]["address"] != body["new_person"]["address"]


async def test_the_page_and_its_script_are_served_with_no_asset_from_the_network(
    web: httpx.AsyncClient,
) -> None:
    page = await web.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<label for="who">Chat as</label>' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text
    assert "https://" not in page.text
    script = await web.get("/webchat/static/webchat.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert (await web.get("/webchat/static/..%2Fwebchat.py")).status_code == 404


# --- chatting as someone ----------------------------------------------------------------------


async def test_chatting_as_someone_links_a_web_identity_to_them_and_shows_their_menu(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    people = await seed_people(store, clock)
    [menu] = await say(web, ADMIN_PHONE, "menu")
    assert menu["text"] == t("en", "menu.title", name="Amina Odhiambo")
    assert menu["choices"][0] == {"payload": "menu:pending", "label": t("en", "menu.item.pending")}
    async with store.transaction() as session:
        web_identity = (
            await session.exec(
                select(ChannelIdentity).where(ChannelIdentity.channel == Channel.WEB)
            )
        ).one()
    assert (web_identity.person_id, web_identity.address) == (people["admin"].id, ADMIN_PHONE)
    outbox = await rows(store, OutboxMessage)
    assert [(m.channel, m.status) for m in outbox] == [(Channel.WEB, OutboxStatus.SENT)]


async def test_a_telegram_id_that_looks_like_a_phone_number_chats_as_its_own_owner(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    people = await seed_people(store, clock)
    await say(web, AGENT_TELEGRAM, "menu")
    answer = await web.get("/webchat/messages", params={"address": AGENT_TELEGRAM})
    assert answer.json()["person"]["id"] == people["agent"].id


async def test_pressing_a_choice_button_sends_its_payload_to_the_engine(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    people = await seed_people(store, clock)
    await say(web, ADMIN_PHONE, "menu")
    [pending] = await say(web, ADMIN_PHONE, t("en", "menu.item.pending"), payload="menu:pending")
    assert pending["text"].startswith(t("en", "agent.pending_title"))
    assert (
        f"#{people['artisan'].id} “Wanjiru Kamau” – workshop “Kazi Beads Group”, area “Kibera”"
        in pending["text"]
    )
    [inbound] = [m for m in await rows(store, InboundMessage) if "pending" in m.payload]
    assert Incoming.from_json(inbound.payload).button_payload == "menu:pending"


async def test_a_poll_whose_answer_was_lost_is_answered_again_from_its_cursor(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    await seed_people(store, clock)
    await web.post("/webchat/send", json={"address": ADMIN_PHONE, "text": "menu"})
    first = (await web.get("/webchat/messages", params={"address": ADMIN_PHONE})).json()
    lost_again = (await web.get("/webchat/messages", params={"address": ADMIN_PHONE})).json()
    assert lost_again["messages"] == first["messages"] != []
    after = await web.get(
        "/webchat/messages", params={"address": ADMIN_PHONE, "after": first["cursor"]}
    )
    assert after.json() | {"person": None} == {
        "address": ADMIN_PHONE,
        "person": None,
        "messages": [],
        "held": [],
        "cursor": first["cursor"],
    }


async def test_a_business_message_for_the_person_arrives_on_the_web_chat_they_last_used(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    people = await seed_people(store, clock)
    await say(web, ARTISAN_PHONE, "hello")  # pending: told to wait for the visit
    await say(web, AGENT_TELEGRAM, f"/verify {people['artisan'].id}")
    [verified] = await read(web, ARTISAN_PHONE)
    assert verified["kind"] == "business"
    assert "Wanjiru" in verified["text"]


async def test_choosing_someone_shows_their_whole_conversation_their_own_words_included(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    people = await seed_people(store, clock)
    await say(web, ADMIN_PHONE, "menu")
    clock.advance(minutes=1)
    await say(web, ADMIN_PHONE, t("en", "menu.item.pending"), payload="menu:pending")
    answer = await web.get("/webchat/messages", params={"address": ADMIN_PHONE, "history": "1"})
    body = answer.json()
    said = [(m["from"], m["text"].splitlines()[0]) for m in body["history"]]
    assert said == [
        ("person", "menu"),
        ("karakana", t("en", "menu.title", name=people["admin"].name)),
        ("person", t("en", "menu.item.pending")),
        ("karakana", t("en", "agent.pending_title")),
    ]
    assert [m["channel"] for m in body["history"]] == ["web"] * 4
    assert not any(m["held"] for m in body["history"])
    assert body["cursor"] == max(m["sequence"] for m in body["history"] if m["sequence"])
    assert len({m["key"] for m in body["history"]}) == 4


async def test_what_waits_for_whatsapp_is_shown_held_and_left_in_the_outbox(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    people = await seed_people(store, clock)
    async with store.transaction() as session:
        artisan = await session.get(Person, people["artisan"].id)
        assert artisan is not None
        queued = await notify_person(
            session, artisan, Reply("You are *verified*."), now=clock.now()
        )
        assert queued is not None
    clock.advance(minutes=1)
    [reply] = await say(web, ARTISAN_PHONE, "hello")
    assert reply["held"] is False
    answer = await web.get("/webchat/messages", params={"address": ARTISAN_PHONE, "history": "1"})
    body = answer.json()
    [held] = body["held"]
    assert held | {"at": None} == {
        "key": f"out-{queued.id}",
        "from": "karakana",
        "channel": "whatsapp",
        "held": True,
        "sequence": 1,
        "kind": "business",
        "at": None,
        "text": "You are *verified*.",
        "choices": [],
        "media": [],
    }
    assert [(m["from"], m["channel"], m["held"]) for m in body["history"]] == [
        ("karakana", "whatsapp", True),  # queued before the artisan said anything here
        ("person", "web", False),
        ("karakana", "web", False),
    ]
    [row] = [m for m in await rows(store, OutboxMessage) if m.channel is Channel.WHATSAPP]
    assert row.status is OutboxStatus.QUEUED  # the web chat shows it; it does not send it


# --- a new person ------------------------------------------------------------------------------


async def test_a_new_person_registers_through_the_web_chat(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    await seed_catalogue(store)
    address = (await web.get("/webchat/people")).json()["new_person"]["address"]
    [welcome] = await say(web, address, REGISTRATION_ANSWERS[0])
    english = next(c for c in welcome["choices"] if c["label"] == "English")
    await say(web, address, english["label"], payload=english["payload"])
    last: list[dict[str, Any]] = []
    for answer in REGISTRATION_ANSWERS[2:]:
        last = await say(web, address, answer)
    assert last[-1]["text"] == t("en", "registration.received", name="Wanjiru Kamau")

    status = (await web.get("/webchat/messages", params={"address": address})).json()
    assert status["person"]["name"] == "Wanjiru Kamau"
    assert status["person"]["status"] == ArtisanStatus.PENDING
    listed = (await web.get("/webchat/people")).json()["people"]
    assert {"name": "Wanjiru Kamau", "address": address}.items() <= listed[0].items()
    async with store.transaction() as session:
        identity = (await session.exec(select(ChannelIdentity))).one()
    assert (identity.channel, identity.address) == (Channel.WEB, address)


# --- photos -------------------------------------------------------------------------------------


async def test_a_photo_is_kept_in_the_media_store_and_reaches_the_engine_as_media(
    web: httpx.AsyncClient, store: Store, clock: FakeClock, media_dir: Path
) -> None:
    await seed_catalogue(store)
    address = (await web.get("/webchat/people")).json()["new_person"]["address"]
    await say(web, address, "hello")
    await say(web, address, "1")  # English; now asked for a name
    photo = png()
    sent = await web.post(
        "/webchat/send",
        params={"address": address},
        content=photo,
        headers={"content-type": "image/png"},
    )
    assert sent.status_code == 200, sent.text
    [item] = sent.json()["media"]
    assert kept_files(media_dir) == {item["ref"]: photo}
    [hint] = await read(web, address)
    assert hint["text"] == t("en", "engine.photo_not_expected")
    inbound = [Incoming.from_json(m.payload) for m in await rows(store, InboundMessage)]
    assert [(m.media[0].ref, m.media[0].content_type) for m in inbound if m.media] == [
        (item["ref"], "image/png")
    ]
    shown = await web.get(item["url"])
    assert (shown.status_code, shown.headers["content-type"], shown.content) == (
        200,
        "image/png",
        photo,
    )


@pytest.mark.parametrize(
    ("content", "declared"),
    [(PDF, "application/pdf"), (PDF, "image/png"), (b"GIF89a" + b"\x00" * 32, None)],
    ids=["a PDF", "a PDF labelled as a PNG", "an untyped GIF"],
)
async def test_a_file_that_is_not_a_photo_is_answered_politely_in_the_chat_and_not_kept(
    web: httpx.AsyncClient,
    store: Store,
    clock: FakeClock,
    media_dir: Path,
    content: bytes,
    declared: str | None,
) -> None:
    await seed_people(store, clock)
    headers = {"content-type": declared or "application/octet-stream"}
    sent = await web.post(
        "/webchat/send", params={"address": ADMIN_PHONE}, content=content, headers=headers
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["media"] == []
    [refusal] = await read(web, ADMIN_PHONE)
    assert refusal["text"] == t("en", "channels.media_not_image")
    assert kept_files(media_dir) == {}
    [inbound] = await rows(store, InboundMessage)
    assert inbound.status == InboundStatus.PROCESSED
    assert Incoming.from_json(inbound.payload).media == ()


async def test_an_empty_upload_is_refused_and_changes_nothing(
    web: httpx.AsyncClient, store: Store, clock: FakeClock, media_dir: Path
) -> None:
    await seed_people(store, clock)
    refused = await web.post(
        "/webchat/send",
        params={"address": ADMIN_PHONE},
        content=b"",
        headers={"content-type": "image/png"},
    )
    assert refused.status_code == 400
    assert "the upload was empty" in refused.json()["error"]
    assert kept_files(media_dir) == {}
    await assert_nothing_changed(store)


async def test_a_photo_over_the_size_limit_is_refused_before_it_is_kept(
    make_app: AppFactory, store: Store, clock: FakeClock, media_dir: Path
) -> None:
    await seed_people(store, clock)
    async with (
        serving(make_app(max_image_bytes=1024)) as base,
        httpx.AsyncClient(base_url=base) as web,
    ):
        big = png(width=400, height=400)
        assert len(big) > 1024
        refused = await web.post(
            "/webchat/send",
            params={"address": ADMIN_PHONE},
            content=big,
            headers={"content-type": "image/png"},
        )
    assert refused.status_code == 413
    assert refused.json()["error"] == "that file is over the 1 KB limit; send a smaller one"
    assert kept_files(media_dir) == {}
    await assert_nothing_changed(store)


# --- bad input ---------------------------------------------------------------------------------


async def assert_nothing_changed(store: Store) -> None:
    assert await rows(store, InboundMessage) == []
    assert await rows(store, OutboxMessage) == []
    async with store.transaction() as session:
        web = await session.exec(
            select(ChannelIdentity).where(col(ChannelIdentity.channel) == Channel.WEB)
        )
        assert list(web) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"address": "+254799999999", "text": "menu"}, "nobody in the database chats as"),
        ({"address": "web-not-issued", "text": "menu"}, "nobody in the database chats as"),
        ({"text": "menu"}, "say who is chatting"),
        ({"address": ADMIN_PHONE, "text": ""}, "the message is empty"),
        ({"address": ADMIN_PHONE, "text": "   \n "}, "the message is empty"),
        ({"address": ADMIN_PHONE, "text": 42}, "text must be a string"),
        ({"address": ADMIN_PHONE, "text": "x" * 2001}, "at most 2000 characters"),
        ({"address": ADMIN_PHONE, "payload": "DROP TABLE"}, "choice payload"),
        ({"address": ["+254700000001"], "text": "menu"}, "say who is chatting"),
        (["menu"], "send a JSON object"),
    ],
    ids=[
        "an unknown phone number",
        "a new-person address the page did not issue",
        "no address",
        "empty text",
        "blank text",
        "text that is not a string",
        "an essay",
        "a malformed button payload",
        "an address that is not a string",
        "JSON that is not an object",
    ],
)
async def test_bad_input_is_refused_with_a_clear_error_and_changes_nothing(
    web: httpx.AsyncClient, store: Store, clock: FakeClock, body: Any, problem: str
) -> None:
    await seed_people(store, clock)
    refused = await web.post("/webchat/send", json=body)
    assert refused.status_code == 400
    assert problem in refused.json()["error"]
    await assert_nothing_changed(store)


async def test_a_body_that_is_not_json_is_refused(
    web: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    await seed_people(store, clock)
    refused = await web.post(
        "/webchat/send", content=b"{address: nope", headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("the body is not valid JSON")
    await assert_nothing_changed(store)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"address": "+254799999999"}, "nobody in the database chats as"),
        ({}, "say who is chatting"),
        ({"address": ADMIN_PHONE, "after": "-1"}, "after must be a whole number"),
        ({"address": ADMIN_PHONE, "after": "soon"}, "after must be a whole number"),
        ({"address": ADMIN_PHONE, "history": "yes"}, "history must be 0 or 1"),
    ],
    ids=[
        "an unknown address",
        "no address",
        "a negative cursor",
        "a cursor that is a word",
        "history that is a word",
    ],
)
async def test_asking_for_messages_badly_is_refused(
    web: httpx.AsyncClient, store: Store, clock: FakeClock, params: dict[str, str], problem: str
) -> None:
    await seed_people(store, clock)
    refused = await web.get("/webchat/messages", params=params)
    assert refused.status_code == 400
    assert problem in refused.json()["error"]
    assert await rows(store, OutboxMessage) == []
