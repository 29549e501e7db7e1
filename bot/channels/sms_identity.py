"""One person, several channels: the same phone number on WhatsApp and by SMS is one person.

Called by the SMS and WhatsApp gateways before a message is handled, so a number that already
writes to us on one of them is recognised on the other rather than welcomed as a stranger.
"""

from __future__ import annotations

import logging

from domain.model import Channel
from domain.services.channel_choice import owner_of_number
from domain.services.people import IdentityTaken, link_identity
from domain.store import Store

log = logging.getLogger(__name__)


async def link_same_number(store: Store, channel: Channel, address: str) -> bool:
    """Link ``address`` on ``channel`` to the person who reaches us from the same number on the
    other phone channel (``domain.services.channel_choice.owner_of_number``). Looked up in a
    snapshot first: nearly always there is nothing to do. True when linked now."""
    async with store.read() as session:
        owner = await owner_of_number(session, channel, address)
    if owner is None:
        return False
    try:
        async with store.transaction() as session:
            await link_identity(session, person_id=owner, channel=channel, address=address)
    except IdentityTaken:
        return False  # linked by a message that raced this one: nothing left to do
    log.info("linked a second channel to person %s", owner, extra={"channel": channel.value})
    return True
