"""Admin lists page (issue 16, item 9), through the engine: one shared pager (conversations/
admin/pager.py) behind /artisans, /orders, /jobs and /deadletters. A long list says "page 1 of
2", and its next page comes by number (/artisans 2, /artisans Kibera 2) or by the More button;
a page past the end says how many there are. In English and Kiswahili."""

from __future__ import annotations

import pytest

from conversations.admin.pager import Page, split_page
from conversations.engine import Engine
from conversations.i18n import t
from conversations.registry import REGISTRY
from domain.model import Channel, Language, Role
from domain.services import orders
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff
from tests.integration.factory_fixtures import (
    active_artisan,
    draft_order,
    ident,
    stock_catalogue,
)

ADMIN = "tg:admin-amina"


def test_a_page_number_is_the_last_word_and_a_buttons_underscores_are_spaces() -> None:
    assert split_page("") == ("", Page(1))
    assert split_page("2") == ("", Page(2))
    assert split_page("horn carving 3") == ("horn carving", Page(3))
    assert split_page("horn_carving:3".replace(":", " ")) == ("horn carving", Page(3))
    assert split_page("Kibera page 2") == ("Kibera", Page(2))
    assert split_page("late ukurasa 0") == ("late", Page(1))
    assert split_page("confirmed") == ("confirmed", Page(1))


@pytest.mark.parametrize("language", ["en", "sw"])
async def test_artisans_page_by_number_and_by_the_more_button(
    store: Store, clock: FakeClock, language: str
) -> None:
    admin = await add_staff(
        store, clock, name="Amina", address=ADMIN, role=Role.ADMIN, language=Language(language)
    )
    async with store.transaction() as session:
        for n in range(20):
            await active_artisan(
                session,
                verified_by=ident(admin),
                now=clock.now(),
                name=f"Fundi {n:02d}",
                area="Kibera" if n % 2 else "Mathare",
            )
    chat = Chat(Engine(store, registry=REGISTRY), clock, address=ADMIN, channel=Channel.TELEGRAM)

    first = await chat.send("/artisans")
    [more] = [choice for reply in first for choice in reply.choices]
    second = await chat.say(payload=more.payload)
    typed = await chat.say("/artisans 2")
    kibera = await chat.say("/artisans Kibera 2")
    past = await chat.say("/artisans 3")
    by_skill = await chat.send("/artisans horn carving")  # every one of them carves horn
    [skill_more] = [choice for reply in by_skill for choice in reply.choices]
    skill_second = await chat.say(payload=skill_more.payload)

    text = "\n".join(reply.text for reply in first)
    assert t(language, "admin.page_of", page=1, pages=2, first=1, last=15, total=20) in text
    assert t(language, "admin.page_next", command="/artisans 2") in text
    assert "Fundi 14" in text
    assert "Fundi 15" not in text
    assert (more.payload, more.label) == (
        "artisans:2",
        t(language, "admin.page_more", page=2, pages=2),
    )
    assert t(language, "admin.page_of", page=2, pages=2, first=16, last=20, total=20) in second
    assert "Fundi 15" in second
    assert "Fundi 19" in second
    assert second == typed
    assert kibera == t(language, "admin.page_past_end", page=2, pages=1, command="/artisans Kibera")
    assert past == t(language, "admin.page_past_end", page=3, pages=2, command="/artisans")
    assert skill_more.payload == "artisans:horn_carving:2"
    assert t(language, "admin.page_of", page=2, pages=2, first=16, last=20, total=20) in (
        skill_second
    )
    assert t(language, "admin.artisans_title", count=20) in skill_second


@pytest.mark.parametrize(("language", "more"), [("en", "more"), ("sw", "zaidi")])
async def test_more_typed_alone_or_after_the_command_goes_on_from_the_last_page(
    store: Store, clock: FakeClock, language: str, more: str
) -> None:
    admin = await add_staff(
        store, clock, name="Amina", address=ADMIN, role=Role.ADMIN, language=Language(language)
    )
    async with store.transaction() as session:
        for n in range(20):
            await active_artisan(
                session, verified_by=ident(admin), now=clock.now(), name=f"Fundi {n:02d}"
            )
    chat = Chat(Engine(store, registry=REGISTRY), clock, address=ADMIN, channel=Channel.TELEGRAM)

    nothing = await chat.say(more)  # no list shown yet
    await chat.send("/artisans")
    await chat.say("/assembly")  # something else in between: "more" still means the list
    second = await chat.say(more)
    [ended] = await chat.send(more)
    await chat.send("/artisans")
    again = await chat.say(f"/artisans {more}")

    assert nothing == t(language, "polish.more_nothing")
    assert t(language, "admin.page_of", page=2, pages=2, first=16, last=20, total=20) in second
    assert "Fundi 19" in second
    assert second == await chat.say("/artisans 2")
    assert ended.text == t(language, "polish.more_last_page", command="/artisans")
    assert [c.payload for c in ended.choices] == ["artisans:1"]
    assert again == second


@pytest.mark.parametrize("language", ["en", "sw"])
async def test_orders_pages_count_orders_not_the_status_headings_between_them(
    store: Store, clock: FakeClock, language: str
) -> None:
    """/orders puts a status heading before each group: "page 1 of 2 (1–15 of 16)", not
    "(1–19 of 16)" from counting the headings as orders."""
    await add_staff(
        store, clock, name="Amina", address=ADMIN, role=Role.ADMIN, language=Language(language)
    )
    async with store.transaction() as session:
        await stock_catalogue(session)
        for n in range(16):
            order = await draft_order(session, now=clock.now())
            if n % 3 == 0:
                await orders.confirm_order(session, ident(order), now=clock.now())
    chat = Chat(Engine(store, registry=REGISTRY), clock, address=ADMIN, channel=Channel.TELEGRAM)

    first = await chat.say("/orders")
    second = await chat.say("/orders 2")

    assert t(language, "admin.page_of", page=1, pages=2, first=1, last=15, total=16) in first
    assert t(language, "admin.page_of", page=2, pages=2, first=16, last=16, total=16) in second


@pytest.mark.parametrize("language", ["en", "sw"])
async def test_a_page_cut_into_messages_says_which_list_each_goes_on_and_the_echo_quotes_it(
    store: Store, clock: FakeClock, language: str
) -> None:
    admin = await add_staff(
        store, clock, name="Amina", address=ADMIN, role=Role.ADMIN, language=Language(language)
    )
    async with store.transaction() as session:
        for n in range(20):
            await active_artisan(
                session,
                verified_by=ident(admin),
                now=clock.now(),
                name=f"Fundi {n:02d} " + "Wanjiku " * 6,  # long lines: a page is two messages
                skills=dict.fromkeys(("horn carving", "bone carving", "brass smithing"), 10),
            )
    chat = Chat(Engine(store, registry=REGISTRY), clock, address=ADMIN, channel=Channel.TELEGRAM)

    first = await chat.send("/artisans")
    [more] = first[-1].choices
    picked = await chat.send("1")  # the number of the More button

    title = t(language, "admin.artisans_title", count=20).splitlines()[0]
    continued = f"{title} {t(language, 'plain.list_continued')}"
    assert len(first) > 1
    assert all(reply.text.startswith(continued + "\n") for reply in first[1:])
    assert picked[0].text == t(
        language, "engine.business_choice", label=more.label, message=continued
    )
