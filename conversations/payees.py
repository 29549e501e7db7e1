"""Whom money goes to, as staff see it: confirming artisans' new M-Pesa numbers, and payee names.

- ``MpesaNumberChangeRequested``: the field agents covering the artisan's area (as for a new
  artisan: ``verification.verifiers_for``) hear of the change, masked, with a button that
  confirms it;
- ``/confirm_mpesa <request>`` (or the button), by a field agent or an admin who is not the
  artisan, makes the new number the payout number (``domain.payouts.confirm_number_change``);
- ``MpesaNumberChangeConfirmed``: the artisan hears who confirmed it;
- ``PayeeNameMismatch``: the admins hear that a payout reached an M-Pesa account in another name
  and that the artisan's payouts are held; ``/payee_ok <artisan>`` releases them. The artisan
  hears it too, in their language, with what happens next (their next payments wait for the
  office's check; ``/mpesa`` if the number is no longer theirs).

Shared by agents and admins, so it sits beside verification rather than in either role.
"""

from __future__ import annotations

import logging

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.flow import Command, Context
from conversations.formatting import me, money
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, tell
from conversations.verification import VERIFIERS, verifiers_for
from domain import events
from domain.errors import Forbidden, NotFound, PayoutError
from domain.limits import MAX_ID
from domain.model import MpesaNumberChange, PayeeCheck, Payout, Person, Role
from domain.numbers import or_none, whole_number
from domain.payouts import clear_payee_holds, confirm_number_change
from domain.text import quoted

log = logging.getLogger(__name__)

_ADMINS = frozenset({Role.ADMIN})


def _an_id(argument: str) -> int | None:
    return or_none(whole_number, argument.strip().removeprefix("#"), most=MAX_ID, strict=True)


async def _confirm_mpesa(ctx: Context, argument: str) -> list[Reply]:
    change_id = _an_id(argument)
    if change_id is None:
        return [Reply(ctx.t("agent.confirm_mpesa_usage"))]
    try:
        change = await confirm_number_change(
            ctx.session, change_id=change_id, confirmer_id=me(ctx), now=ctx.now
        )
    except NotFound:
        return [Reply(ctx.t("agent.confirm_mpesa_not_found", id=change_id))]
    except Forbidden as exc:
        log.warning("M-Pesa change %s: confirmation by %s refused: %s", change_id, me(ctx), exc)
        return [Reply(ctx.t("agent.confirm_mpesa_not_yours"))]
    except PayoutError:
        return [Reply(ctx.t("agent.confirm_mpesa_not_pending", id=change_id))]
    artisan = await ctx.session.get(Person, change.artisan_id)
    assert artisan is not None
    log.info("person %s confirmed M-Pesa number change %s", me(ctx), change_id)
    return [
        Reply(
            ctx.t(
                "agent.mpesa_confirmed",
                id=change_id,
                name=quoted(artisan.name),
                new=change.new_masked,
            )
        )
    ]


async def _payee_ok(ctx: Context, argument: str) -> list[Reply]:
    artisan_id = _an_id(argument)
    if artisan_id is None:
        return [Reply(ctx.t("admin.payee_ok_usage"))]
    artisan = await ctx.session.get(Person, artisan_id)
    if artisan is None or artisan.role is not Role.ARTISAN:
        return [Reply(ctx.t("admin.payee_ok_not_found", id=artisan_id))]
    cleared = await clear_payee_holds(
        ctx.session, artisan_id=artisan_id, admin_id=me(ctx), now=ctx.now
    )
    if not cleared:
        return [Reply(ctx.t("admin.payee_ok_nothing", id=artisan_id, name=quoted(artisan.name)))]
    log.info("admin %s cleared the payee name check of artisan %s", me(ctx), artisan_id)
    return [Reply(ctx.t("admin.payee_ok_done", id=artisan_id, name=quoted(artisan.name)))]


COMMANDS: dict[str, Command] = {
    "confirm_mpesa": Command(
        VERIFIERS, _confirm_mpesa, N_("agent.help_confirm_mpesa"), button=True
    ),
    "payee_ok": Command(_ADMINS, _payee_ok, N_("admin.help_payee_ok")),
}


# --- the notices ------------------------------------------------------------------------------


async def _change_requested(
    session: AsyncSession, event: events.MpesaNumberChangeRequested, ctx: NoticeContext
) -> int:
    artisan = await session.get(Person, event.artisan_id)
    change = await session.get(MpesaNumberChange, event.change_id)
    if artisan is None or change is None:
        return 0
    sent = 0
    confirmers = [p for p in await verifiers_for(session, artisan.area) if p.id != artisan.id]
    if not confirmers:
        log.warning("M-Pesa change %s asked for but nobody can confirm it", change.id)
    for agent in confirmers:
        reply = Reply(
            ctx.catalogue.t(
                agent.language,
                "agent.mpesa_change_request",
                id=change.id,
                artisan=artisan.id,
                name=quoted(artisan.name),
                area=quoted(artisan.area),
                old=change.old_masked,
                new=change.new_masked,
            ),
            choices=(
                Choice(
                    f"confirm_mpesa:{change.id}",
                    ctx.catalogue.t(agent.language, "agent.mpesa_confirm_button"),
                ),
            ),
        )
        sent += await tell(session, agent, reply, ctx.now)
    return sent


async def _change_confirmed(
    session: AsyncSession, event: events.MpesaNumberChangeConfirmed, ctx: NoticeContext
) -> int:
    artisan = await session.get(Person, event.artisan_id)
    confirmer = await session.get(Person, event.confirmed_by)
    change = await session.get(MpesaNumberChange, event.change_id)
    if artisan is None or confirmer is None or change is None:
        return 0
    reply = Reply(
        ctx.catalogue.t(
            artisan.language,
            "artisan.mpesa_confirmed",
            name=confirmer.name,
            new=change.new_masked,
        )
    )
    return await tell(session, artisan, reply, ctx.now)


async def _payee_mismatch(
    session: AsyncSession, event: events.PayeeNameMismatch, ctx: NoticeContext
) -> int:
    check = await session.get(PayeeCheck, event.check_id)
    payout = await session.get(Payout, event.payout_id)
    if check is None or payout is None:
        return 0
    admins = list(await session.exec(select(Person).where(Person.role == Role.ADMIN)))
    sent = 0
    for admin in admins:
        reply = Reply(
            ctx.catalogue.t(
                admin.language,
                "payouts.payee_mismatch",
                payout=payout.id,
                artisan=event.artisan_id,
                name=quoted(check.registered_name),
                receiver=quoted(check.receiver_name),
            )
        )
        sent += await tell(session, admin, reply, ctx.now)
    artisan = await session.get(Person, event.artisan_id)
    if artisan is not None:
        # The artisan hears it too, in their language: what happened and what happens next.
        told = Reply(
            ctx.catalogue.t(
                artisan.language,
                "artisan.payee_mismatch",
                amount=money(payout.amount_cents, ctx.catalogue.currency),
                receiver=quoted(check.receiver_name),
                name=quoted(check.registered_name),
            )
        )
        sent += await tell(session, artisan, told, ctx.now)
    return sent


NOTICES: NoticeTable = {
    events.MpesaNumberChangeRequested: _change_requested,
    events.MpesaNumberChangeConfirmed: _change_confirmed,
    events.PayeeNameMismatch: _payee_mismatch,
}
