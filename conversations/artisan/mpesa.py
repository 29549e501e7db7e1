"""The artisan's M-Pesa number: the menu's "My M-Pesa number" and ``/mpesa <new number>``.

A menu action and a command (one answer each), so no flow and no diagram. A new number is not
used until their field agent (or an admin) confirms it (``domain.payouts.payees``); until then
their payouts are held, and both this view and the reply to the change say so. The numbers are
shown masked, as in the audit trail, except the one they just typed.
"""

from __future__ import annotations

import logging

from conversations.flow import Context
from conversations.formatting import me
from conversations.messages import Reply
from domain.errors import NotFound
from domain.model import ArtisanProfile
from domain.payouts import (
    HoldReason,
    SameNumber,
    payout_holds,
    pending_number_change,
    request_number_change,
)
from domain.phone import InvalidPhoneNumber, mask
from domain.text import quoted

log = logging.getLogger(__name__)


async def mpesa_number(ctx: Context) -> list[Reply]:
    """Where the artisan's payouts go, what waits for confirmation, and how to change it."""
    artisan = me(ctx)
    profile = await ctx.session.get(ArtisanProfile, artisan)
    if profile is None:
        raise NotFound("artisan", artisan)
    change = await pending_number_change(ctx.session, artisan)
    if change is not None:
        text = ctx.t(
            "artisan.mpesa_status_pending",
            old=mask(profile.mpesa_number),
            new=change.new_masked,
            id=change.id,
        )
    else:
        text = ctx.t("artisan.mpesa_status", number=mask(profile.mpesa_number))
    held = (await payout_holds(ctx.session, [artisan])).get(artisan)
    if held is HoldReason.PAYEE_NAME_MISMATCH:
        text += "\n\n" + ctx.t("artisan.mpesa_held_name")
    return [Reply(text + "\n\n" + ctx.t("artisan.mpesa_how"))]


async def change_mpesa_number(ctx: Context, argument: str) -> list[Reply]:
    """``/mpesa 0712 345 678``: ask for payouts to go to a new number, once confirmed."""
    if not argument.strip():
        return [Reply(ctx.t("artisan.mpesa_usage"))]
    try:
        change = await request_number_change(
            ctx.session, artisan_id=me(ctx), raw_number=argument, now=ctx.now
        )
    except InvalidPhoneNumber:
        return [Reply(ctx.t("artisan.mpesa_invalid", number=quoted(argument.strip()[:32])))]
    except SameNumber:
        return [Reply(ctx.t("artisan.mpesa_same"))]
    log.info("artisan %s asked to change their M-Pesa number (change %s)", me(ctx), change.id)
    return [Reply(ctx.t("artisan.mpesa_requested", number=change.new_number, id=change.id))]
