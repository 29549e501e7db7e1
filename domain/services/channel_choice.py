"""Where a person's business messages go when they can be reached on several channels.

A person may have a WhatsApp, a Telegram and an SMS identity. Business messages (offers,
reminders, payment receipts) go to their *preferred channel* when they chose one (``/channel``, or
a field agent at registration), else where they last wrote (conversations/outbox.py).
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError, NotFound
from domain.model import Channel, ChannelIdentity, Person

# The channels a person can choose for business messages (the console and web chat are local).
CHOOSABLE = (Channel.WHATSAPP, Channel.SMS, Channel.TELEGRAM)


class NotOnChannel(DomainError):
    """The person has no identity on the channel they chose: nothing could be sent there."""

    def __init__(self, person_id: int, channel: Channel) -> None:
        super().__init__(f"person {person_id} cannot be reached on {channel}")
        self.person_id = person_id
        self.channel = channel


async def reachable_channels(session: AsyncSession, person_id: int) -> list[Channel]:
    """The choosable channels the person has an identity on, in ``CHOOSABLE`` order."""
    rows = await session.exec(
        select(ChannelIdentity.channel)
        .where(ChannelIdentity.person_id == person_id)
        .order_by(col(ChannelIdentity.id))
    )
    theirs = {Channel(channel) for channel in rows}
    return [channel for channel in CHOOSABLE if channel in theirs]


async def choose_channel(session: AsyncSession, person_id: int, channel: Channel) -> Person:
    """Send ``person_id``'s business messages on ``channel`` from now on."""
    person = await session.get(Person, person_id, with_for_update=True)
    if person is None:
        raise NotFound("person", person_id)
    if channel not in await reachable_channels(session, person_id):
        raise NotOnChannel(person_id, channel)
    person.preferred_channel = channel
    session.add(person)
    await session.flush()
    return person


# The channels whose address is the person's phone number (E.164): the same number on another
# of them is the same person.
PHONE_CHANNELS = (Channel.WHATSAPP, Channel.SMS)


async def owner_of_number(session: AsyncSession, channel: Channel, address: str) -> int | None:
    """Who should get ``address`` on ``channel`` linked to them: the person who already reaches
    us from the same phone number on the other phone channel, when ``address`` is not yet
    anyone's on ``channel``. None when there is nothing to link."""
    if channel not in PHONE_CHANNELS or not address.startswith("+"):
        return None
    rows = await session.exec(
        select(ChannelIdentity.channel, ChannelIdentity.person_id).where(
            col(ChannelIdentity.channel).in_(PHONE_CHANNELS),
            ChannelIdentity.address == address,
        )
    )
    found = {Channel(on): person_id for on, person_id in rows.all()}
    if channel in found:
        return None
    others = [person_id for on, person_id in found.items() if on is not channel]
    return others[0] if others else None
