"""``karakana people add``: an artisan, a field agent or an admin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli.common import fail, say, with_factory
from bot.main import Factory
from domain.errors import DomainError
from domain.limits import MAX_WEEKLY_CAPACITY
from domain.model import Channel, Language, Person, Role
from domain.numbers import NotAWholeNumber, whole_number
from domain.phone import InvalidPhoneNumber, normalise_kenyan_mobile
from domain.services.channel_choice import choose_channel
from domain.services.people import add_person, link_identity, register_artisan

app = typer.Typer(help="Artisans, field agents and admins.")


def _identity(whatsapp: str | None, telegram: str | None) -> tuple[Channel, str]:
    if (whatsapp is None) == (telegram is None):
        raise DomainError("give exactly one chat identity: --whatsapp +2547... or --telegram 12345")
    if whatsapp is not None:
        return Channel.WHATSAPP, _phone("--whatsapp", whatsapp)
    assert telegram is not None
    user_id = telegram.strip()
    if not user_id.isdigit():
        raise DomainError(f"{telegram!r} is not a Telegram user id: it is a number, e.g. 123456789")
    return Channel.TELEGRAM, user_id


def _phone(option: str, raw: str) -> str:
    try:
        return normalise_kenyan_mobile(raw)
    except InvalidPhoneNumber as exc:
        raise InvalidPhoneNumber(
            f"{option}: {exc}; type it as 07XX XXX XXX or +2547XX XXX XXX"
        ) from exc


def _skills(pairs: Sequence[str]) -> dict[str, int]:
    skills: dict[str, int] = {}
    for pair in pairs:
        skill, sep, capacity = pair.partition("=")
        if not sep or not skill.strip():
            raise DomainError(
                f"--skill {pair!r} should be skill=weekly capacity, e.g. --skill horn_carving=30"
            )
        try:
            skills[skill.strip()] = whole_number(capacity, most=MAX_WEEKLY_CAPACITY, strict=True)
        except NotAWholeNumber as refused:
            raise DomainError(
                f"--skill {pair!r}: the weekly capacity {refused}; e.g. --skill horn_carving=30"
            ) from None
    return skills


@app.command("add")
def people_add(
    role: Annotated[Role, typer.Option("--role", help="artisan, field_agent or admin.")],
    name: Annotated[str, typer.Option("--name", help="Full name, as people know them.")],
    whatsapp: Annotated[
        str | None, typer.Option("--whatsapp", help="WhatsApp number, +2547...")
    ] = None,
    telegram: Annotated[
        str | None, typer.Option("--telegram", help="Telegram user id (a number).")
    ] = None,
    area: Annotated[
        str | None,
        typer.Option("--area", help="Where they work; for a field agent, the area they cover."),
    ] = None,
    language: Annotated[Language, typer.Option("--language", help="en or sw.")] = Language.EN,
    workshop: Annotated[
        str | None, typer.Option("--workshop", help="Artisans: their workshop or group.")
    ] = None,
    mpesa: Annotated[
        str | None, typer.Option("--mpesa", help="Artisans: M-Pesa number, 07XX...")
    ] = None,
    skill: Annotated[
        list[str] | None,
        typer.Option(
            "--skill", help="Artisans: skill=weekly capacity, e.g. horn_carving=30; repeat it."
        ),
    ] = None,
    at_workshop: Annotated[
        bool,
        typer.Option(
            "--at-workshop",
            help="Field agents: works at the central workshop, so may record assemblies.",
        ),
    ] = False,
    phone: Annotated[
        str | None,
        typer.Option(
            "--phone",
            help="With --telegram: their phone number, +2547..., which the staff console's "
            "login asks for; the code still goes to their Telegram chat.",
        ),
    ] = None,
) -> None:
    """Add an artisan, a field agent or an admin, reachable on WhatsApp or Telegram."""
    if phone is not None and telegram is None:
        fail("--phone is for people on --telegram: a WhatsApp number is their phone already")

    async def work(factory: Factory) -> Person:
        channel, address = _identity(whatsapp, telegram)
        async with factory.store.transaction() as session:
            person = await _add(factory, session, channel, address)
            if phone is not None and person.id is not None:
                # Telegram tells us no phone number: keep theirs as an SMS identity (the same
                # number is the same person, domain/services/channel_choice.py), and keep their
                # messages on the chat they chose.
                await link_identity(
                    session,
                    person_id=person.id,
                    channel=Channel.SMS,
                    address=_phone("--phone", phone),
                )
                await choose_channel(session, person.id, channel)
            return person

    async def _add(
        factory: Factory, session: AsyncSession, channel: Channel, address: str
    ) -> Person:
        if role is Role.ARTISAN:
            missing = [
                option
                for option, value in (
                    ("--workshop", workshop),
                    ("--mpesa", mpesa),
                    ("--area", area),
                    ("--skill", skill or None),
                )
                if value is None
            ]
            if missing:
                raise DomainError(f"an artisan also needs {', '.join(missing)}")
            assert workshop is not None
            assert mpesa is not None
            assert area is not None
            return await register_artisan(
                session,
                name=name,
                workshop=workshop,
                area=area,
                skills=_skills(skill or []),
                mpesa_number=_phone("--mpesa", mpesa),
                language=language,
                channel=channel,
                address=address,
                now=factory.now(),
            )
        if workshop is not None or mpesa is not None or skill:
            raise DomainError("--workshop, --mpesa and --skill are for artisans only")
        if at_workshop and role is not Role.FIELD_AGENT:
            raise DomainError("--at-workshop is for field agents only (admins may always assemble)")
        return await add_person(
            session,
            role=role,
            name=name,
            channel=channel,
            address=address,
            language=language,
            area=area,
            areas=[area] if role is Role.FIELD_AGENT and area else [],
            at_workshop=at_workshop,
            now=factory.now(),
        )

    person = with_factory(work)
    what = str(person.role).replace("_", " ")
    say(f"Added {what} {person.name} (person {person.id}).")
    if person.role is Role.ARTISAN:
        say("They stay pending until a field agent visits and verifies them.", "yellow")
