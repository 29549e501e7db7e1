"""Artisan registration end to end through the engine, on real SQLite with a fake clock."""

from __future__ import annotations

import json
import unicodedata

import pytest
from sqlmodel import select

from conversations.engine import Engine
from conversations.flows.registration import Reg
from conversations.i18n import t
from conversations.registry import REGISTRY
from domain.model import (
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    Language,
    OutboxKind,
    Person,
    Role,
)
from domain.services.names import apply_names, parse_names_csv
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import (
    PHOTO,
    REGISTRATION_ANSWERS,
    SKILLS,
    STICKER,
    VOICE,
    Chat,
    add_staff,
    outbox,
    person_at,
    register,
    seed_catalogue,
    state_of,
)


@pytest.fixture
async def engine(store: Store) -> Engine:
    await seed_catalogue(store)
    return Engine(store, registry=REGISTRY)


@pytest.fixture
def chat(engine: Engine, clock: FakeClock) -> Chat:
    return Chat(engine, clock)


async def _at_step(chat: Chat, step: Reg) -> None:
    """Answer the registration questions up to ``step`` with good answers."""
    answers = {
        Reg.LANGUAGE: "hi",
        Reg.NAME: "1",
        Reg.WORKSHOP: "Wanjiru Kamau",
        Reg.SKILLS: "Kazi Beads Group",
        Reg.AREA: "1,2",
        Reg.CAPACITY: "Kibera",
        Reg.MPESA: "40",
        Reg.CONFIRM: "0712 345 678",
    }
    for current in (step for step in Reg if step is not Reg.AREA_CONFIRM):  # only on a typo
        await chat.say(answers[current])
        if current is step:
            return


async def test_a_stranger_is_welcomed_in_both_languages_and_offered_registration(
    chat: Chat,
) -> None:
    [reply] = await chat.send("Hello")
    assert t("en", "registration.welcome") in reply.text
    assert t("sw", "registration.welcome") in reply.text
    assert [c.label for c in reply.choices] == ["English", "Kiswahili"]


async def test_registration_asks_each_question_in_turn_and_ends_pending(
    chat: Chat, store: Store
) -> None:
    await chat.send("Hello")
    assert await chat.say("1") == t("en", "registration.ask_name")
    assert await chat.say("  Wanjiru   Kamau ") == t(
        "en", "registration.ask_workshop", name="Wanjiru Kamau"
    )
    skills = await chat.send("Kazi Beads Group")
    assert skills[0].text == t("en", "registration.ask_skills")
    assert [c.label for c in skills[0].choices] == list(SKILLS)
    assert await chat.say("1, 2") == t("en", "registration.ask_area_free")
    capacity = await chat.say("Kibera")
    assert "1. beading\n2. brass casting" in capacity
    mpesa = await chat.send("40, 25")
    assert mpesa[0].text == t("en", "registration.ask_mpesa")
    assert [c.label for c in mpesa[0].choices] == ["Use 0712 345 678"]
    summary = await chat.send("0722 000 111")
    assert "Name: Wanjiru Kamau" in summary[0].text
    assert "Skills: beading: 40 a week, brass casting: 25 a week" in summary[0].text
    assert "M-Pesa: 0722 000 111" in summary[0].text
    assert "Language: English" in summary[0].text

    done = await chat.say("Yes, register me")
    assert done == t("en", "registration.received", name="Wanjiru Kamau")

    async with store.transaction() as session:
        person = (await session.exec(select(Person).where(Person.role == Role.ARTISAN))).one()
        profile = await session.get(ArtisanProfile, person.id)
        skill_rows = list(await session.exec(select(ArtisanSkill)))
        identity = (await session.exec(select(ChannelIdentity))).one()
    assert (person.name, person.area, person.language) == ("Wanjiru Kamau", "Kibera", Language.EN)
    assert profile is not None
    assert profile.status is ArtisanStatus.PENDING
    assert profile.workshop == "Kazi Beads Group"
    assert profile.mpesa_number == "+254722000111"
    assert {(s.skill, s.weekly_capacity) for s in skill_rows} == {
        ("beading", 40),
        ("brass casting", 25),
    }
    assert (identity.channel, identity.address) == (Channel.WHATSAPP, chat.address)
    state = await state_of(store, chat)
    assert state is not None
    assert (state.flow, state.step, state.person_id) == ("idle", "idle", person.id)
    assert await chat.say("what now?") == t("en", "registration.pending", name="Wanjiru Kamau")


async def test_registration_in_kiswahili_asks_everything_in_kiswahili(
    chat: Chat, store: Store
) -> None:
    await chat.send("Habari")
    assert await chat.say("Kiswahili") == t("sw", "registration.ask_name")
    assert await chat.say("Achieng") == t("sw", "registration.ask_workshop", name="Achieng")
    assert (await chat.send("Pembe Group"))[0].text == t("sw", "registration.ask_skills")
    assert await chat.say("horn carving") == t("sw", "registration.ask_area_free")
    assert await chat.say("Kariobangi") == t(
        "sw", "registration.ask_capacity_one", skill="horn carving"
    )
    assert (await chat.send("30"))[0].text == t("sw", "registration.ask_mpesa")
    summary = await chat.say("1")  # the number I write from
    assert "Lugha: Kiswahili" in summary
    assert "M-Pesa: 0712 345 678" in summary
    assert await chat.say("ndiyo") == t("sw", "registration.received", name="Achieng")
    person = await person_at(store, chat)
    assert person is not None
    assert person.language is Language.SW


async def test_one_capacity_number_applies_to_every_chosen_skill(chat: Chat, store: Store) -> None:
    await register(
        chat, ("hi", "1", "Juma", "Juma Works", "1 2 3", "Kibera", "15", "0712345678", "yes")
    )
    async with store.transaction() as session:
        capacities = {s.skill: s.weekly_capacity for s in await session.exec(select(ArtisanSkill))}
    assert capacities == dict.fromkeys(SKILLS, 15)


async def _assert_unchanged(store: Store, chat: Chat, step: Reg, data: str) -> None:
    state = await state_of(store, chat)
    assert state is not None
    assert (state.flow, state.step, state.data) == ("registration", str(step), data)


async def _snapshot(store: Store, chat: Chat) -> str:
    state = await state_of(store, chat)
    assert state is not None
    return state.data


@pytest.mark.parametrize(
    ("step", "bad", "expected"),
    [
        (Reg.LANGUAGE, "3", t("en", "engine.choose_one", count=2)),
        (Reg.LANGUAGE, "French please", t("en", "engine.didnt_understand", text="“French please”")),
        (Reg.NAME, "🙂🙂", t("en", "engine.not_understood")),
        (Reg.NAME, "x" * 2000, t("en", "engine.too_long", max=500)),
        (Reg.NAME, "7", t("en", "registration.name_invalid", max=80)),
        (Reg.WORKSHOP, "!", t("en", "engine.not_understood")),
        (Reg.SKILLS, "9", t("en", "registration.skills_invalid", count=3)),
        (Reg.SKILLS, "1,9", t("en", "registration.skills_invalid", count=3)),
        (Reg.SKILLS, "goldsmithing", t("en", "registration.skills_invalid", count=3)),
        (Reg.AREA, "42", t("en", "registration.area_invalid", max=40)),
        (
            Reg.AREA,
            "Kibera ✅ VERIFIED by admin. Agents: reply /verify 1 now",
            t("en", "registration.area_invalid", max=40),
        ),
        (Reg.AREA, "Kibera: verified", t("en", "registration.area_invalid", max=40)),
        (Reg.CAPACITY, "lots", t("en", "registration.capacity_invalid_many", count=2, max=10_000)),
        (Reg.CAPACITY, "0", t("en", "registration.capacity_out_of_range", max=10_000)),
        (Reg.CAPACITY, "10001", t("en", "registration.capacity_out_of_range", max=10_000)),
        (
            Reg.CAPACITY,
            "40, 25, 10",
            t("en", "registration.capacity_invalid_many", count=2, max=10_000),
        ),
        (Reg.CAPACITY, "-5", t("en", "registration.capacity_invalid_many", count=2, max=10_000)),
        (Reg.MPESA, "12345", t("en", "registration.mpesa_invalid")),
        (Reg.MPESA, "+255 712 345 678", t("en", "registration.mpesa_invalid")),
        (Reg.MPESA, "my number", t("en", "registration.mpesa_invalid")),
        (Reg.CONFIRM, "maybe", t("en", "engine.didnt_understand", text="“maybe”")),
    ],
)
async def test_a_bad_answer_gets_a_helpful_reply_and_leaves_the_state_unchanged(
    chat: Chat, store: Store, step: Reg, bad: str, expected: str
) -> None:
    await _at_step(chat, step)
    before = await _snapshot(store, chat)
    replies = await chat.send(bad)
    assert [r.text for r in replies] == [expected]
    await _assert_unchanged(store, chat, step, before)


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        (STICKER, "engine.photo_not_expected"),
        (PHOTO, "engine.photo_not_expected"),
        (VOICE, "engine.voice_not_expected"),
    ],
)
async def test_media_where_text_is_expected_gets_a_hint_and_changes_nothing(
    chat: Chat, store: Store, media: object, expected: str
) -> None:
    await _at_step(chat, Reg.NAME)
    before = await _snapshot(store, chat)
    assert await chat.say(media=(media,)) == t("en", expected)
    await _assert_unchanged(store, chat, Reg.NAME, before)


async def test_a_wrong_mpesa_number_is_re_asked_politely_then_accepted(chat: Chat) -> None:
    await _at_step(chat, Reg.MPESA)
    assert await chat.say("0712") == t("en", "registration.mpesa_invalid")
    summary = await chat.say("+254 733 123 456")
    assert "M-Pesa: 0733 123 456" in summary


async def test_a_bad_answer_keeps_the_choices_on_offer(chat: Chat) -> None:
    await _at_step(chat, Reg.SKILLS)
    [reply] = await chat.send("9")
    assert [c.label for c in reply.choices] == list(SKILLS)


async def test_a_stale_button_is_refused_and_changes_nothing(chat: Chat, store: Store) -> None:
    await _at_step(chat, Reg.NAME)
    before = await _snapshot(store, chat)
    assert await chat.say(payload="reg:confirm") == "\n---\n".join(
        (t("en", "engine.button_expired"), t("en", "registration.ask_name"))
    )
    await _assert_unchanged(store, chat, Reg.NAME, before)


async def test_back_returns_to_the_previous_question_and_keeps_earlier_answers(
    chat: Chat, store: Store
) -> None:
    await _at_step(chat, Reg.SKILLS)  # name and workshop answered
    assert await chat.say("back") == t("en", "registration.ask_workshop", name="Wanjiru Kamau")
    assert (await chat.send("Kazi Two"))[0].text == t("en", "registration.ask_skills")
    state = await state_of(store, chat)
    assert state is not None
    assert json.loads(state.data)["workshop"] == "Kazi Two"


async def test_back_at_the_first_question_says_so(chat: Chat) -> None:
    await chat.send("hi")
    text = await chat.say("rudi")
    assert text.startswith(t("en", "engine.back_at_start"))


async def test_start_again_at_the_summary_goes_back_to_the_name(chat: Chat) -> None:
    await _at_step(chat, Reg.CONFIRM)
    assert await chat.say("Start again") == t("en", "registration.ask_name")


async def test_cancel_forgets_the_answers_and_the_next_message_starts_over(
    chat: Chat, store: Store
) -> None:
    await _at_step(chat, Reg.AREA)
    assert await chat.say("cancel") == t("en", "engine.cancelled_registration")
    state = await state_of(store, chat)
    assert state is not None
    assert (state.flow, state.step) == ("idle", "idle")
    assert "name" not in json.loads(state.data)
    assert t("en", "registration.welcome") in await chat.say("hello again")


async def test_help_mid_registration_explains_and_repeats_the_question(
    chat: Chat, store: Store
) -> None:
    await _at_step(chat, Reg.WORKSHOP)
    replies = await chat.send("help")
    assert t("en", "engine.help_unregistered") in replies[0].text
    assert replies[1].text == t("en", "registration.ask_workshop", name="Wanjiru Kamau")
    state = await state_of(store, chat)
    assert state is not None
    assert state.step == Reg.WORKSHOP


async def test_changing_language_mid_registration_repeats_the_question_in_it(
    chat: Chat, store: Store
) -> None:
    await _at_step(chat, Reg.WORKSHOP)
    replies = await chat.send("lugha sw")
    assert [r.text for r in replies] == [
        t("sw", "engine.language_set"),
        t("sw", "registration.ask_workshop", name="Wanjiru Kamau"),
    ]
    await register(chat, ("Kazi", "1", "Kibera", "20", "0712345678", "ndiyo"))
    person = await person_at(store, chat)
    assert person is not None
    assert person.language is Language.SW


async def test_the_agents_covering_the_area_are_asked_to_verify(
    chat: Chat, store: Store, clock: FakeClock
) -> None:
    kibera = await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera",))
    sw_agent = await add_staff(
        store, clock, name="Amina", address="tg-2", areas=("kibera",), language=Language.SW
    )
    elsewhere = await add_staff(store, clock, name="Kamau", address="tg-3", areas=("Gikomba",))
    await register(chat)
    artisan = await person_at(store, chat)
    assert artisan is not None

    business = await outbox(store, kind=OutboxKind.BUSINESS)
    assert {m.person_id for m in business} == {kibera.id, sw_agent.id}
    assert elsewhere.id not in {m.person_id for m in business}
    bodies = {m.person_id: json.loads(m.body) for m in business}
    assert f"/verify {artisan.id}" in bodies[kibera.id]["text"]
    assert bodies[kibera.id]["text"].startswith("New artisan to verify")
    assert bodies[sw_agent.id]["text"].startswith("Fundi mpya wa kuthibitisha")
    assert bodies[kibera.id]["choices"] == [{"payload": f"verify:{artisan.id}", "label": "Verify"}]


async def test_the_area_list_offers_covered_areas_and_keeps_their_spelling(
    chat: Chat, store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera", "Mathare"))
    await _at_step(chat, Reg.AREA)
    state = await state_of(store, chat)
    assert state is not None
    assert [label for _, label in json.loads(state.data)["_choices"]] == ["Kibera", "Mathare"]
    await register(chat, ("kibera", "40", "0712345678", "yes"))
    person = await person_at(store, chat)
    assert person is not None
    assert person.area == "Kibera"


async def test_every_agent_is_asked_when_nobody_covers_the_area(
    chat: Chat, store: Store, clock: FakeClock
) -> None:
    first = await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Gikomba",))
    second = await add_staff(store, clock, name="Amina", address="tg-2")
    async with store.transaction() as session:  # a known area nobody covers yet
        await apply_names(session, parse_names_csv("kind,code,name_en,name_sw\narea,Kibera,,"))
    await register(chat)  # area Kibera
    business = await outbox(store, kind=OutboxKind.BUSINESS)
    assert {m.person_id for m in business} == {first.id, second.id}


async def test_admins_are_asked_when_there_are_no_field_agents(
    chat: Chat, store: Store, clock: FakeClock
) -> None:
    admin = await add_staff(store, clock, name="Njeri", address="tg-9", role=Role.ADMIN)
    await register(chat)
    business = await outbox(store, kind=OutboxKind.BUSINESS)
    assert [m.person_id for m in business] == [admin.id]


async def test_an_agent_verifies_and_the_artisan_is_told_in_their_language_then_gets_the_menu(
    engine: Engine, chat: Chat, store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera",))
    agent = Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM)
    await register(
        chat, ("Habari", "2", "Wanjiru", "Kazi", "1", "Kibera", "40", "0712345678", "ndiyo")
    )
    artisan = await person_at(store, chat)
    assert artisan is not None

    assert await agent.say(f"/verify {artisan.id}") == t(
        "en", "agent.verified", id=artisan.id, name="“Wanjiru”"
    )
    async with store.transaction() as session:
        profile = await session.get(ArtisanProfile, artisan.id)
    assert profile is not None
    assert profile.status is ArtisanStatus.ACTIVE
    told = await outbox(store, address=chat.address, kind=OutboxKind.BUSINESS)
    assert [json.loads(m.body)["text"] for m in told] == [
        t("sw", "registration.verified", name="Wanjiru")
    ]

    menu = await chat.send("habari")
    assert menu[0].text == t("sw", "menu.title", name="Wanjiru")
    assert [c.label for c in menu[0].choices][:2] == ["Ofa za kazi", "Kazi zangu"]
    assert await chat.say("5") == t(  # "Mapato yangu": a newcomer's earnings, all zero
        "sw",
        "artisan.earnings",
        earned="KES 0",
        paid="KES 0",
        in_payout="KES 0",
        available="KES 0",
        next="Ijumaa 6 Machi",
    ) + "\n\n" + t("sw", "artisan.earnings_none_yet")


async def test_the_verify_button_works_like_the_command(
    engine: Engine, chat: Chat, store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera",))
    agent = Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM)
    await register(chat)
    artisan = await person_at(store, chat)
    assert artisan is not None
    assert await agent.say(payload=f"verify:{artisan.id}") == t(
        "en", "agent.verified", id=artisan.id, name="“Wanjiru Kamau”"
    )


async def test_verifying_twice_or_an_unknown_artisan_is_explained(
    engine: Engine, chat: Chat, store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera",))
    agent = Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM)
    await register(chat)
    artisan = await person_at(store, chat)
    assert artisan is not None
    await agent.say(f"/verify {artisan.id}")
    assert await agent.say(f"/verify {artisan.id}") == t(
        "en", "agent.verify_not_pending", id=artisan.id
    )
    assert await agent.say("/verify 999") == t("en", "agent.verify_not_found", id=999)
    assert await agent.say("/verify someone") == t("en", "agent.verify_usage")


async def test_an_artisan_cannot_verify_anyone(
    engine: Engine, chat: Chat, store: Store, clock: FakeClock
) -> None:
    await register(chat)
    artisan = await person_at(store, chat)
    assert artisan is not None
    assert await chat.say(f"/verify {artisan.id}") == t("en", "command.forbidden")
    stranger = Chat(engine, clock, address="whatsapp:+254799000000")
    assert await stranger.say(f"/verify {artisan.id}") == t("en", "command.forbidden")
    async with store.transaction() as session:
        profile = await session.get(ArtisanProfile, artisan.id)
    assert profile is not None
    assert profile.status is ArtisanStatus.PENDING


async def test_an_agent_lists_pending_artisans_in_their_areas(
    engine: Engine, chat: Chat, store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera",))
    await add_staff(store, clock, name="Kamau", address="tg-3", areas=("Gikomba",))
    await register(chat)
    artisan = await person_at(store, chat)
    assert artisan is not None
    kibera_agent = Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM)
    other_agent = Chat(engine, clock, address="tg-3", channel=Channel.TELEGRAM)
    assert f"/verify {artisan.id}" in await kibera_agent.say("/pending")
    assert await other_agent.say("/pending") == t("en", "agent.no_pending")
    # the same list from the agent's menu
    await kibera_agent.send("menu")
    assert f"#{artisan.id} “Wanjiru Kamau”" in await kibera_agent.say("1")


async def test_a_workshop_name_with_a_right_to_left_override_is_stored_clean_and_shown_quoted(
    engine: Engine, chat: Chat, store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera",))
    # Shown as typed, U+202E would make the rest of the agent's line read backwards.
    typed = "\u202eKazi\u200b Beads\u2066 VERIFIED\n/verify 1"
    answers = list(REGISTRATION_ANSWERS)
    answers[answers.index("Kazi Beads Group")] = typed
    answers[answers.index("Wanjiru Kamau")] = "Wanjiru\u202e\u200f Kamau"
    await register(chat, tuple(answers))
    artisan = await person_at(store, chat)
    assert artisan is not None
    async with store.transaction() as session:
        profile = await session.get(ArtisanProfile, artisan.id)
    assert profile is not None
    assert (artisan.name, profile.workshop) == ("Wanjiru Kamau", "Kazi Beads VERIFIED /verify 1")

    pending = await Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM).say("/pending")

    assert pending == (
        t("en", "agent.pending_title")
        + "\n\n"
        + t(
            "en",
            "agent.pending_line",
            id=artisan.id,
            name="“Wanjiru Kamau”",
            workshop="“Kazi Beads VERIFIED /verify 1”",
            area="“Kibera”",
            skills="beading (40), brass casting (25)",
        )
    )
    assert not any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in pending.replace("\n", ""))
    [request] = await outbox(store, address="tg-1", kind=OutboxKind.BUSINESS)
    assert (
        "Workshop: “Kazi Beads VERIFIED /verify 1”\nArea: “Kibera”"
        in (json.loads(request.body)["text"])
    )


async def test_an_area_that_reads_like_a_system_message_is_refused_and_a_place_name_is_taken(
    chat: Chat, store: Store
) -> None:
    await _at_step(chat, Reg.AREA)

    refused = await chat.say("Kibera ✅ VERIFIED by admin. Agents: reply /verify 1 now")
    taken = await chat.say("Kariobangi North")

    assert refused == t("en", "registration.area_invalid", max=40)
    assert "1. beading" in taken
    state = await state_of(store, chat)
    assert state is not None
    assert json.loads(state.data)["area"] == "Kariobangi North"


async def test_with_no_skills_in_use_yet_skills_are_typed_by_name(
    store: Store, clock: FakeClock
) -> None:
    chat = Chat(Engine(store, registry=REGISTRY), clock)  # no catalogue seeded
    await _at_step(chat, Reg.SKILLS)
    state = await state_of(store, chat)
    assert state is not None
    assert state.step == Reg.SKILLS
    assert await chat.say("Beading, Brass  work") == t("en", "registration.ask_area_free")
    assert "1. beading\n2. brass work" in await chat.say("Kibera")
