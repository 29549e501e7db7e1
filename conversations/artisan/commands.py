"""Commands for artisans: the buttons on business messages, and the codes typed without them.

Buttons carry what they act on, so an artisan with several open offers never answers the wrong
one: ``offer:<id>:accept``, ``offer:<id>:part``, ``offer:<id>:decline`` on a job offer, and
``morephotos:<submission id>`` on a request for better photos. On channels without buttons the
same things are typed: ``ACCEPT 12``, ``PART 12 30``, ``DECLINE 12`` (Kiswahili ``KUBALI 12`` or
``NAKUBALI 12``, ``SEHEMU 12 30``, ``KATAA 12`` or ``NAKATAA 12``) and ``PHOTOS 45`` /
``PICHA 45``; the slash forms (``/accept 12``) work too. ``ACCEPT`` / ``KUBALI`` alone accepts
the offer on screen in an offer question, else the artisan's only open offer, and with several
lists them to pick from. Every one is checked against the
sender: the role here (``slash.Commands.run``), and the ownership of the offer or submission in
the flows and the domain, with a logged refusal.
"""

from __future__ import annotations

from conversations.artisan.flows import offers, submit_work, talk_to_person
from conversations.artisan.mpesa import change_mpesa_number
from conversations.artisan.queries import open_offers
from conversations.flow import Ask, Command, Context, Finish, Start, as_command_replies
from conversations.formatting import me
from conversations.i18n import N_
from conversations.messages import Reply
from domain.limits import MAX_ID, MAX_PIECES
from domain.model import Role
from domain.numbers import or_none, whole_number

_ARTISANS = frozenset({Role.ARTISAN})
# Answering an offer by its code completes whichever offer question was open.
_OFFER_FLOWS = frozenset({offers.NAME, offers.PART, offers.DECLINE})


def _id_and_rest(argument: str) -> tuple[int, str] | None:
    head, _, rest = argument.strip().partition(" ")
    offer_id = or_none(whole_number, head.removeprefix("#"), most=MAX_ID, strict=True)
    return None if offer_id is None else (offer_id, rest.strip())


async def _offer_button(ctx: Context, argument: str) -> list[Reply] | Start:
    parsed = _id_and_rest(argument)
    if parsed is None:
        return [Reply(ctx.t("artisan.offer_usage"))]
    offer_id, action = parsed
    if action == "accept":
        return await offers.accept(ctx, offer_id, None)
    if action == "part":
        return await offers.start_part(ctx, offer_id)
    if action == "decline":
        return await offers.start_decline(ctx, offer_id)
    return [Reply(ctx.t("artisan.offer_usage"))]


async def _accept(ctx: Context, argument: str) -> list[Reply] | Start:
    if not argument.strip():
        return await _accept_the_one(ctx)
    parsed = _id_and_rest(argument)
    if parsed is None or parsed[1]:
        return [Reply(ctx.t("artisan.offer_usage"))]
    return await offers.accept(ctx, parsed[0], None)


async def _accept_the_one(ctx: Context) -> list[Reply] | Start:
    """ "accept" / "kubali" alone: the offer on screen in an offer question, else the artisan's
    only open offer; with several, the list of them to pick from (none: said so)."""
    shown = ctx.data.get("offer")
    if isinstance(shown, int):
        return await offers.accept(ctx, shown, None)
    waiting = await open_offers(ctx.session, me(ctx), ctx.now)
    if not waiting:
        return [Reply(ctx.t("artisan.no_offers"))]
    if len(waiting) == 1:
        offer, _ = waiting[0]
        assert offer.id is not None
        return await offers.accept(ctx, offer.id, None)
    return Start(offers.NAME, say=(Reply(ctx.t("shipping.accept_which")),))


async def _part(ctx: Context, argument: str) -> list[Reply] | Start:
    parsed = _id_and_rest(argument)
    if parsed is None:
        return [Reply(ctx.t("artisan.offer_usage"))]
    offer_id, rest = parsed
    if not rest:
        return await offers.start_part(ctx, offer_id)
    count = or_none(whole_number, rest, most=MAX_PIECES)
    if count is None:
        return [Reply(ctx.t("artisan.offer_usage"))]
    return await offers.accept(ctx, offer_id, count)


async def _decline(ctx: Context, argument: str) -> list[Reply] | Start:
    parsed = _id_and_rest(argument)
    if parsed is None:
        return [Reply(ctx.t("artisan.offer_usage"))]
    offer_id, rest = parsed
    typed = offers.reason_from_text(ctx, rest) if rest else None
    if typed is None:
        return await offers.start_decline(ctx, offer_id)
    return await offers.decline(ctx, offer_id, *typed)


async def _more_photos(ctx: Context, argument: str) -> list[Reply] | Start:
    parsed = _id_and_rest(argument)
    if parsed is None or parsed[1]:
        return [Reply(ctx.t("artisan.photos_usage"))]
    return await submit_work.start_better_photos(ctx, parsed[0])


async def _ask_a_person(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/ask <question>`` sends it to a person at once; ``/ask`` alone asks what to send."""
    if not argument.strip():
        return Start(talk_to_person.NAME)
    outcome = await talk_to_person.send_question(ctx, argument)
    assert isinstance(outcome, Ask | Finish)
    return as_command_replies(outcome)


COMMANDS: dict[str, Command] = {
    "offer": Command(_ARTISANS, _offer_button, N_("artisan.help_offer"), button=True),
    "accept": Command(
        _ARTISANS,
        _accept,
        N_("artisan.help_accept"),
        words=("accept", "kubali", "nakubali", "ninakubali"),
        bare=True,  # alone: the one open offer, or which one (``_accept_the_one``)
        closes=_OFFER_FLOWS,
    ),
    "part": Command(_ARTISANS, _part, N_("artisan.help_part"), words=("part", "sehemu")),
    "decline": Command(
        _ARTISANS,
        _decline,
        N_("artisan.help_decline"),
        words=("decline", "kataa", "nakataa", "ninakataa", "reject"),
        closes=_OFFER_FLOWS,
    ),
    "mpesa": Command(_ARTISANS, change_mpesa_number, N_("artisan.help_mpesa")),
    "ask": Command(_ARTISANS, _ask_a_person, N_("questions.help_ask")),
    "morephotos": Command(
        _ARTISANS,
        _more_photos,
        N_("artisan.help_photos"),
        button=True,
        words=("photos", "picha"),
    ),
}
