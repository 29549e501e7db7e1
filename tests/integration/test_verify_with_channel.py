"""A field agent verifying an artisan chooses at once where their business messages go
(issue 18: "a field agent can set it at registration"): ``/verify 12 sms``."""

from __future__ import annotations

from conversations.i18n import t
from domain.model import ArtisanProfile, ArtisanStatus, Channel, Person
from domain.services.people import link_identity
from tests.integration.factory_fixtures import Floor, ident, pending_artisan


async def _pending_with_sms(floor: Floor, name: str) -> int:
    async with floor.store.transaction() as session:
        artisan = ident(await pending_artisan(session, now=floor.clock.now(), name=name))
        await link_identity(
            session, person_id=artisan, channel=Channel.SMS, address=f"+2547229{artisan:05d}"
        )
    return artisan


async def test_verify_with_a_channel_verifies_and_chooses_it(floor: Floor) -> None:
    artisan = await _pending_with_sms(floor, "Wambui")

    said = await floor.agent.send(f"/verify {artisan} sms")

    assert [reply.text for reply in said] == [
        t("en", "agent.verified", id=artisan, name="“Wambui”"),
        t("en", "channel.chosen_for", id=artisan, name="Wambui", channel="SMS"),
    ]
    async with floor.store.read() as session:
        person = await session.get(Person, artisan)
        assert person is not None
        assert person.preferred_channel is Channel.SMS


async def test_a_channel_they_do_not_have_is_said_and_the_verification_stands(
    floor: Floor,
) -> None:
    artisan = await _pending_with_sms(floor, "Akinyi")

    said = await floor.agent.send(f"/verify {artisan} telegram")

    assert said[0].text == t("en", "agent.verified", id=artisan, name="“Akinyi”")
    assert said[-1].text == t("en", "channel.not_on", channel="Telegram")
    async with floor.store.read() as session:
        person = await session.get(Person, artisan)
        profile = await session.get(ArtisanProfile, artisan)
        assert person is not None
        assert profile is not None
        assert person.preferred_channel is None
        assert profile.status is ArtisanStatus.ACTIVE
    assert await floor.agent.say(f"/verify {artisan} fax") == t("en", "agent.verify_usage")
