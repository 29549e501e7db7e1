"""``/channel``: where business messages go for someone reachable on several channels.

- ``/channel`` (and the menu's "Where we message you") says where offers, reminders and payments
  go now, with a button per channel the person has (on SMS, the numbered line or
  ``/channel sms`` typed);
- ``/channel sms`` (or ``whatsapp``, ``telegram``; a ``channel:sms`` button) chooses;
- a field agent or an admin sets it for an artisan, for instance while verifying one who
  registered by SMS but also uses WhatsApp: ``/verify 12 sms`` (conversations/verification.py),
  or later ``/channel 12 sms``.

A command and a menu action (one answer each), so no flow and no diagram. The rule itself is
``domain.services.channel_choice``; conversations/outbox.py follows the choice.
"""

from __future__ import annotations

from conversations.flow import Command, Context
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import NotFound
from domain.limits import MAX_ID
from domain.model import Channel, Role
from domain.numbers import or_none, whole_number
from domain.services.channel_choice import (
    CHOOSABLE,
    NotOnChannel,
    choose_channel,
    reachable_channels,
)

EVERYONE = frozenset({Role.ARTISAN, Role.FIELD_AGENT, Role.ADMIN})
STAFF = frozenset({Role.FIELD_AGENT, Role.ADMIN})
# Names of services, the same in every language.
NAMES = {Channel.WHATSAPP: "WhatsApp", Channel.SMS: "SMS", Channel.TELEGRAM: "Telegram"}
_BY_WORD = {
    "whatsapp": Channel.WHATSAPP,
    "wa": Channel.WHATSAPP,
    "sms": Channel.SMS,
    "ujumbe": Channel.SMS,
    "telegram": Channel.TELEGRAM,
}


def channel_named(word: str) -> Channel | None:
    """``sms``, ``whatsapp``, ``telegram`` (and ``ujumbe``, ``wa``) as typed; None otherwise."""
    return _BY_WORD.get(word.strip().casefold())


_channel = channel_named


async def where_we_message_you(ctx: Context) -> list[Reply]:
    """The menu's "Where we message you": the current choice and a button per channel."""
    assert ctx.person is not None
    assert ctx.person.id is not None
    channels = await reachable_channels(ctx.session, ctx.person.id)
    current = ctx.person.preferred_channel
    where = NAMES[current] if current in NAMES else ctx.t("channel.last_written")
    if len(channels) < 2:
        return [Reply(ctx.t("channel.only_one", current=where))]
    options = ", ".join(f"/channel {channel.value}" for channel in channels)
    return [
        Reply(
            ctx.t("channel.current", current=where, options=options),
            choices=tuple(Choice(f"channel:{c.value}", NAMES[c]) for c in channels),
        )
    ]


async def _set(ctx: Context, person_id: int, channel: Channel, *, own: bool) -> list[Reply]:
    try:
        person = await choose_channel(ctx.session, person_id, channel)
    except NotFound:
        return [Reply(ctx.t("channel.no_person", id=person_id))]
    except NotOnChannel:
        if own:  # about themselves, not "that person": how to open the channel first
            mine = N_("channel.not_on_own_telegram") if channel is Channel.TELEGRAM else None
            return [Reply(ctx.t(mine or N_("channel.not_on_own"), channel=NAMES[channel]))]
        return [Reply(ctx.t("channel.not_on", channel=NAMES[channel]))]
    if own:
        return [Reply(ctx.t("channel.chosen", channel=NAMES[channel]))]
    return [
        Reply(ctx.t("channel.chosen_for", id=person_id, name=person.name, channel=NAMES[channel]))
    ]


async def _command(ctx: Context, argument: str) -> list[Reply]:
    assert ctx.person is not None
    assert ctx.person.id is not None
    words = argument.split()
    if not words:
        return await where_we_message_you(ctx)
    if len(words) == 1 and (channel := _channel(words[0])) is not None:
        return await _set(ctx, ctx.person.id, channel, own=True)
    if len(words) == 2 and ctx.person.role in STAFF:
        target = or_none(whole_number, words[0].removeprefix("#"), most=MAX_ID, strict=True)
        channel = _channel(words[1])
        if target is not None and channel is not None:
            return await _set(ctx, target, channel, own=target == ctx.person.id)
    usage = N_("channel.usage_staff") if ctx.person.role in STAFF else N_("channel.usage")
    return [Reply(ctx.t(usage, options=", ".join(c.value for c in CHOOSABLE)))]


COMMANDS: dict[str, Command] = {
    "channel": Command(EVERYONE, _command, N_("channel.help"), button=True),
}
