"""The two optional impact questions: offered at registration's confirmation, skipped or answered
(en, sw), then changed or withdrawn from the artisan's menu ("My optional answers")."""

from __future__ import annotations

import pytest

from conversations.engine import Engine
from conversations.i18n import t
from conversations.registry import REGISTRY
from domain.model import ImpactAnswers, WomenLed
from domain.services.people import verify_artisan
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import (
    REGISTRATION_ANSWERS,
    Chat,
    add_staff,
    person_at,
    register,
    seed_catalogue,
)


@pytest.fixture
async def engine(store: Store) -> Engine:
    await seed_catalogue(store)
    return Engine(store, registry=REGISTRY)


async def answers_of(store: Store, chat: Chat) -> ImpactAnswers | None:
    person = await person_at(store, chat)
    assert person is not None
    async with store.transaction() as session:
        return await session.get(ImpactAnswers, person.id)


async def test_registering_without_the_optional_questions_keeps_nothing(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    chat = Chat(engine, clock)
    await register(chat, REGISTRATION_ANSWERS[:-2])
    [summary] = await chat.send(REGISTRATION_ANSWERS[-2])
    assert t("en", "impact.offer") in summary.text
    assert summary.choices[2].label == t("en", "impact.register_and_answer")
    assert await chat.say("1") == t("en", "registration.received", name="Wanjiru Kamau")
    assert await answers_of(store, chat) is None


async def test_answering_them_at_registration_in_english(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    chat = Chat(engine, clock)
    await register(chat, REGISTRATION_ANSWERS[:-1])
    assert await chat.say(payload="impact:yes") == t("en", "impact.ask_prior_income")
    assert await chat.say("about three thousand") == t("en", "impact.prior_income_invalid")
    assert await chat.say("KES 3,000") == t("en", "impact.ask_women_led")
    assert await chat.say("1") == t("en", "registration.received", name="Wanjiru Kamau")
    answers = await answers_of(store, chat)
    assert answers is not None
    assert (answers.prior_income_cents, answers.women_led) == (300_000, WomenLed.YES)


async def test_answering_in_kiswahili_skipping_the_income(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    chat = Chat(engine, clock)
    await register(chat, ("Habari", "2", "Wanjiru", "Kazi", "1", "Kibera", "40", "0712345678"))
    assert await chat.say("3") == t("sw", "impact.ask_prior_income")
    assert await chat.say("Ruka") == t("sw", "impact.ask_women_led")
    assert await chat.say("3") == t("sw", "registration.received", name="Wanjiru")
    answers = await answers_of(store, chat)
    assert answers is not None
    assert (answers.prior_income_cents, answers.women_led) == (
        None,
        WomenLed.PREFER_NOT_TO_SAY,
    )


async def test_changed_and_withdrawn_later_from_the_artisans_menu(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    agent = await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera",))
    chat = Chat(engine, clock)
    await register(chat)  # skipped at registration
    person = await person_at(store, chat)
    assert person is not None
    assert person.id is not None
    assert agent.id is not None
    async with store.transaction() as session:
        await verify_artisan(session, artisan_id=person.id, agent_id=agent.id, now=clock.now())

    review = await chat.say("My optional answers")
    assert t("en", "impact.answers_none") in review
    assert await chat.say(payload="answers:change") == t("en", "impact.ask_prior_income")
    assert await chat.say("4500") == t("en", "impact.ask_women_led")
    saved = await chat.say("No")
    assert t("en", "impact.answers_saved") in saved
    assert "Income per month before joining: KES 4,500" in saved
    answers = await answers_of(store, chat)
    assert answers is not None
    assert (answers.prior_income_cents, answers.women_led) == (450_000, WomenLed.NO)

    review = await chat.say("My optional answers")
    assert "Workshop led by a woman: No" in review
    assert await chat.say(payload="answers:remove") == t("en", "impact.answers_removed")
    assert await answers_of(store, chat) is None
