"""The registration story through the running server, both channels at once: an artisan registers
on WhatsApp, the field agent covering her area is asked on Telegram and verifies her with a
button, and she is told on WhatsApp.

(The later chapters — offers, photos, QC, delivery, payout — join this story as they land.)
"""

from __future__ import annotations

from sqlmodel import select

from conversations.i18n import t
from domain.model import ArtisanProfile, ArtisanStatus, Channel, ChannelIdentity, Person
from tests.e2e.harness import Running, eventually
from tests.integration.conversation_driver import REGISTRATION_ANSWERS, seed_catalogue

WANJIRU = "+254712345678"
AGENT_CHAT = 7_100_001


async def _say(karakana: Running, text: str) -> str:
    """Wanjiru writes on WhatsApp and waits for everything she is answered."""
    before = len(karakana.texts_to(WANJIRU))
    await karakana.whatsapp(WANJIRU, text)
    texts = await eventually(lambda: karakana.texts_to(WANJIRU)[before:])
    return "\n".join(texts)


async def test_an_artisan_registers_on_whatsapp_and_an_agent_verifies_her_on_telegram(
    karakana: Running,
) -> None:
    await seed_catalogue(karakana.store)
    await karakana.add_staff("Juma", channel=Channel.TELEGRAM, address=str(AGENT_CHAT))

    # Wanjiru registers on WhatsApp, answering each question as it comes.
    for answer in REGISTRATION_ANSWERS:
        last = await _say(karakana, answer)
    assert last == t("en", "registration.received", name="Wanjiru Kamau")
    async with karakana.store.transaction() as session:
        identity = (
            await session.exec(select(ChannelIdentity).where(ChannelIdentity.address == WANJIRU))
        ).one()
        artisan = await session.get(Person, identity.person_id)
        assert artisan is not None
        assert artisan.id is not None
        artisan_id = artisan.id

    # Juma, the field agent for Kibera, is asked on Telegram with a button.
    [request] = await eventually(lambda: karakana.telegram.sent("sendMessage"))
    assert str(request["chat_id"]) == str(AGENT_CHAT)
    assert "Wanjiru Kamau" in request["text"]
    [[button]] = request["reply_markup"]["inline_keyboard"]
    assert button["text"] == t("en", "agent.verify_button")

    # He presses it.
    await karakana.telegram_update(
        karakana.telegram.callback_update(AGENT_CHAT, button["callback_data"])
    )

    confirmation = await eventually(lambda: karakana.telegram_texts(AGENT_CHAT)[1:])
    assert confirmation == [t("en", "agent.verified", id=artisan_id, name="“Wanjiru Kamau”")]
    told = await eventually(
        lambda: [
            text
            for text in karakana.texts_to(WANJIRU)
            if t("en", "registration.verified", name="Wanjiru Kamau") in text
        ]
    )
    assert len(told) == 1
    async with karakana.store.transaction() as session:
        profile = await session.get(ArtisanProfile, artisan_id)
        assert profile is not None
        assert profile.status is ArtisanStatus.ACTIVE
