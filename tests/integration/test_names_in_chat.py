"""Issue 16, items 5 and 6, through the engine: people read names in their language, dates
written out, singular and plural agreeing; typed areas are matched to the known ones.

The names are catalogue data, set here as an admin sets them: a names.csv imported.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.demo import DEMO_CATALOGUE, demo_names
from conversations.engine import Engine
from conversations.formatting import written_date
from conversations.i18n import t
from conversations.registry import REGISTRY
from domain.model import Channel, Job, Language, Person, Role
from domain.services.catalogue_io import apply_catalogue
from domain.services.names import apply_names, names_to_csv, parse_names_csv
from domain.store import Store
from matching.explain import Explanation, explain
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff, person_at, seed_catalogue
from tests.integration.factory_fixtures import Floor, open_floor

NAMES_CSV = """kind,code,name_en,name_sw
skill,horn carving,horn carving,uchongaji wa pembe
skill,brass smithing,brass smithing,ufundi wa shaba
skill,beadwork,beadwork,kazi ya shanga
component,HORN-PENDANT,Carved horn pendant,Kidani cha pembe kilichochongwa
component,BRASS-HOOK,Brass hook,Ndoano ya shaba
material,cattle horn,cattle horn,pembe za ng'ombe
area,Kibera,,
area,Githurai,,
area,Mathare,,
area,Ngong Road,Ngong Road,Barabara ya Ngong
"""
# What nobody may read in Kiswahili: codes, and the English names of what has a Kiswahili one.
CODES = re.compile(r"HORN-PENDANT|BRASS-HOOK|horn carving|brass smithing|cattle horn|Brass hook")
ENGLISH_WORDS = re.compile(r"\b(offer|offers|pieces|due|job|jobs|the|and|of|is)\b")


async def _name_everything(store: Store) -> None:
    async with store.transaction() as session:
        await apply_names(session, parse_names_csv(NAMES_CSV))


@pytest.fixture
async def floor(store: Store, clock: FakeClock) -> Floor:
    floor = await open_floor(store, clock)
    await _name_everything(store)
    return floor


def _kiswahili(text: str) -> None:
    assert not CODES.search(text), text
    assert not ENGLISH_WORDS.search(text), text
    assert "_" not in text, text


async def test_a_kiswahili_artisan_reads_names_written_dates_and_agreeing_plurals(
    floor: Floor,
) -> None:
    otieno = floor.factory.otieno
    first = await floor.offer("HORN-PENDANT", otieno, 1)
    [notice] = await floor.told(floor.otieno)
    assert "1 × Kidani cha pembe kilichochongwa" in notice.text
    assert "pembe za ng'ombe: 0.05 kg" in notice.text
    async with floor.store.transaction() as session:
        job = await session.get(Job, floor.order.jobs["HORN-PENDANT"])
        assert job is not None
    assert written_date(Language.SW, job.due_date) in notice.text  # "Jumamosi 14 Machi"
    assert not re.search(r"\d\d/\d\d", notice.text)
    _kiswahili(notice.text)

    await floor.otieno.send("habari")
    [one] = await floor.otieno.send("Ofa za kazi")
    assert one.text.startswith("Una ofa 1 iliyo wazi.")
    _kiswahili(one.text + " ".join(c.label for c in one.choices))

    await floor.offer("BRASS-HOOK", otieno, 4)
    await floor.otieno.send("menyu")
    [two] = await floor.otieno.send("Ofa za kazi")
    assert two.text.startswith("Una ofa 2 zilizo wazi.")
    labels = " ".join(c.label for c in two.choices)
    assert "Ndoano ya shaba" in labels
    assert "Kidani cha pembe" in labels
    _kiswahili(two.text + labels)

    accepted = await floor.otieno.say(f"KUBALI {first}")
    assert "Kidani cha pembe kilichochongwa" in accepted
    _kiswahili(accepted)

    await floor.otieno.send("habari")
    jobs = await floor.otieno.say("Kazi zangu")
    assert "Kidani cha pembe kilichochongwa: kipande 1, mwisho" in jobs, jobs
    _kiswahili(jobs)


async def test_the_same_offer_reads_in_english_with_english_names(floor: Floor) -> None:
    await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 2)
    [notice] = await floor.told(floor.wanjiru)
    assert "2 × Carved horn pendant" in notice.text
    assert "cattle horn 0.1 kg" in notice.text
    await floor.wanjiru.send("hi")
    [listing] = await floor.wanjiru.send("Job offers")
    assert listing.text == t("en", "artisan.offers_title", count=1)
    assert listing.text.startswith("You have 1 open offer.")


class _Explainer:
    """The matchmaker's two ways of explaining, over the real ``matching.explain``."""

    async def __call__(self, session: AsyncSession, now: datetime) -> Any:
        raise AssertionError("no matching round in this test")

    async def explain(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> str:
        return (
            await self.explanation(session, artisan_id=artisan_id, job_id=job_id, now=now)
        ).summary

    async def explanation(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> Explanation:
        return await explain(session, artisan_id=artisan_id, job_id=job_id, now=now)


async def test_a_kiswahili_admin_reads_why_artisans_and_jobs_in_kiswahili(
    floor: Floor, store: Store, clock: FakeClock
) -> None:
    engine = Engine(store, registry=REGISTRY, matcher=_Explainer())
    admin = Chat(engine, clock, address="+254700000099")
    await add_staff(
        store, clock, name="Zawadi", address="+254700000099", role=Role.ADMIN,
        channel=Channel.WHATSAPP, language=Language.SW,
    )  # fmt: skip
    await floor.offer("HORN-PENDANT", floor.factory.otieno, 3)
    job = floor.order.jobs["HORN-PENDANT"]

    why = await admin.say(f"/why {floor.factory.otieno} {job}")
    assert why.startswith(f"Fundi #{floor.factory.otieno} na kazi #{job}: ")
    assert "vipande 3 vya kazi" in why
    assert "bado iko wazi" in why
    assert "makadirio" in why.casefold()
    assert not re.search(r"\b(offered|round|eligible|pieces|Expected|prior|own)\b", why), why
    _kiswahili(why)

    assert await admin.say("/artisans kiberra") == t(
        "sw", "words.filter_did_you_mean", typed="“kiberra”", area="Kibera"
    )
    assert "Wanjiru" in await admin.say("/artisans KIBERA")
    jobs = await admin.say("/jobs")
    assert "Kidani cha pembe kilichochongwa" in jobs
    _kiswahili(jobs)
    listing = await admin.say("/artisans uchongaji wa pembe")
    assert "uchongaji wa pembe" in listing
    _kiswahili(listing)
    wanjiru = await admin.say(f"/artisan {floor.factory.wanjiru}")
    assert "uchongaji wa pembe" in wanjiru
    assert "ufundi wa shaba" in wanjiru


# --- registration: names, and areas matched to the known ones --------------------------------


async def _registration_engine(store: Store) -> Engine:
    await seed_catalogue(store)  # skills: beading, brass casting, horn carving
    async with store.transaction() as session:
        await apply_names(
            session,
            parse_names_csv(
                "kind,code,name_en,name_sw\n"
                "skill,beading,beadwork,kazi ya shanga\n"
                "skill,horn carving,horn carving,uchongaji wa pembe\n"
                "skill,brass casting,brass casting,uyeyushaji wa shaba\n"
                "area,Mathare,,\narea,Kibera,,\narea,Ngong Road,Ngong Road,Barabara ya Ngong\n"
            ),
        )
    return Engine(store, registry=REGISTRY)


@pytest.fixture
async def engine(store: Store) -> Engine:
    return await _registration_engine(store)


async def _summary(chat: Chat, mpesa: str = "0712345678") -> str:
    """The M-Pesa number, then past any optional questions that follow it, to the summary."""
    replies = await chat.send(mpesa)
    while skip := [c for r in replies for c in r.choices if c.payload.endswith(":skip")]:
        replies = await chat.send(payload=skip[0].payload)
    return "\n".join(r.text for r in replies)


async def _up_to_area(chat: Chat, language: str, skills: str) -> str:
    await chat.say("Habari")
    await chat.say("2" if language == "sw" else "1")
    await chat.say("Achieng Atieno")
    await chat.say("Mathare Beads Group")
    return await chat.say(skills)


async def test_a_kiswahili_artisan_registers_by_kiswahili_names_and_a_typed_area(
    engine: Engine, clock: FakeClock, store: Store
) -> None:
    chat = Chat(engine, clock)
    await chat.say("Habari")
    await chat.say("2")
    await chat.say("Achieng Atieno")
    skills = await chat.send("Mathare Beads Group")
    labels = [c.label for c in skills[0].choices]
    assert labels == ["kazi ya shanga", "uyeyushaji wa shaba", "uchongaji wa pembe"]

    area = await chat.send("kazi ya shanga")
    assert [c.label for c in area[0].choices] == ["Kibera", "Mathare", "Barabara ya Ngong"]
    capacity = await chat.say("  MATHARE ")  # case and spaces do not make a second area
    assert capacity == t("sw", "registration.ask_capacity_one", skill="beading").replace(
        "beading", "kazi ya shanga"
    )
    await chat.say("30")
    summary = await _summary(chat)
    assert "kazi ya shanga: 30" in summary
    assert "Mathare" in summary
    _kiswahili(summary)
    await chat.say("ndiyo")
    person = await person_at(store, chat)
    assert person is not None
    assert person.area == "Mathare"


@pytest.mark.parametrize("language", ["en", "sw"])
async def test_a_misspelt_area_is_suggested_and_confirmed_never_a_second_area(
    engine: Engine, clock: FakeClock, store: Store, language: str
) -> None:
    chat = Chat(engine, clock)
    await _up_to_area(chat, language, "1")
    suggestion = await chat.send("Matare")
    assert suggestion[0].text == t(language, "registration.area_did_you_mean", area="Mathare")
    assert [c.label for c in suggestion[0].choices] == [
        t(language, "registration.area_yes"),
        t(language, "registration.area_no"),
    ]
    no = await chat.send("2")  # no: asked again, with the list
    assert no[0].text == t(language, "registration.ask_area")
    unknown = await chat.say("Atlantis")
    assert unknown.startswith(t(language, "registration.area_unknown", area="“Atlantis”"))
    assert (await chat.send("Kiberra"))[0].text == t(
        language, "registration.area_did_you_mean", area="Kibera"
    )
    capacity = await chat.say("1")  # yes: the next question, about the chosen skill
    beadwork = {"en": "beadwork", "sw": "kazi ya shanga"}[language]
    assert capacity == t(language, "registration.ask_capacity_one", skill="@").replace(
        "@", beadwork
    )
    await chat.say("30")
    await _summary(chat)
    await chat.say("1")
    person = await person_at(store, chat)
    assert person is not None
    assert person.area == "Kibera"


async def test_an_area_typed_in_kiswahili_is_the_known_area(
    any_store: Store, clock: FakeClock
) -> None:
    store = any_store  # names, known areas and the engine's one read of them, on both backends
    chat = Chat(await _registration_engine(store), clock)
    await _up_to_area(chat, "sw", "1")
    await chat.say("barabara ya ngong")
    await chat.say("30")
    await _summary(chat)
    await chat.say("ndiyo")
    person = await person_at(store, chat)
    assert isinstance(person, Person)
    assert person.area == "Ngong Road"


async def test_names_export_lists_every_name_and_imports_again_unchanged(
    floor: Floor, store: Store
) -> None:
    async with store.transaction() as session:
        exported = await names_to_csv(session)
    assert "skill,horn carving,horn carving,uchongaji wa pembe" in exported
    assert "area,Ngong Road,Ngong Road,Barabara ya Ngong" in exported
    assert "component,BRASS-BANGLE,Brass bangle," in exported  # not named in Kiswahili yet
    async with store.transaction() as session:
        await apply_names(session, parse_names_csv(exported))
        assert await names_to_csv(session) == exported


async def test_the_demos_names_are_the_example_names_csv(store: Store) -> None:
    async with store.transaction() as session:
        await apply_catalogue(session, DEMO_CATALOGUE)
        await apply_names(session, demo_names())
    async with store.transaction() as session:
        exported = await names_to_csv(session)
    assert exported == (Path(__file__).parents[2] / "examples" / "names.csv").read_text()
    assert "skill,brass_casting,brass casting,uyeyushaji wa shaba" in exported
