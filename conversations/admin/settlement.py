"""Settling cancelled work: ``/writeoff <allocation> <reason>`` pays the passed pieces of a
cancelled job without a delivery (domain/services/settlement.py), recorded with the admin and the
reason, earned in the ledger as a ``write_off`` transfer, and told to the artisan."""

from __future__ import annotations

from conversations.admin.replies import ADMINS, Replies, an_id
from conversations.flow import Command, Context
from conversations.formatting import me
from conversations.i18n import N_
from conversations.messages import Reply
from domain.errors import NotFound
from domain.model import Allocation, Person
from domain.services.guards import InvalidField
from domain.services.settlement import NotCancelled, NothingToWriteOff, write_off
from domain.text import quoted


async def _writeoff(ctx: Context, argument: str) -> Replies:
    allocation_id = an_id(argument)
    parts = argument.split(maxsplit=1)
    if allocation_id is None or len(parts) < 2 or not parts[1].strip():
        return [Reply(ctx.t("admin.writeoff_usage"))]
    try:
        entry = await write_off(
            ctx.session,
            allocation_id=allocation_id,
            admin_id=me(ctx),
            reason=parts[1],
            now=ctx.now,
        )
    except NotFound:
        return [Reply(ctx.t("admin.writeoff_not_found", id=allocation_id))]
    except NotCancelled:
        return [Reply(ctx.t("admin.writeoff_not_cancelled", id=allocation_id))]
    except NothingToWriteOff:
        return [Reply(ctx.t("admin.writeoff_nothing", id=allocation_id))]
    except InvalidField:
        return [Reply(ctx.t("admin.writeoff_usage"))]
    # The job number everyone knows and whose lot, beside the lot number the command needed.
    allocation = await ctx.session.get(Allocation, allocation_id)
    artisan = None if allocation is None else await ctx.session.get(Person, allocation.artisan_id)
    return [
        Reply(
            ctx.t(
                "admin.written_off",
                id=allocation_id,
                job=allocation.job_id if allocation is not None else "-",
                artisan=quoted(None if artisan is None else artisan.name),
                pieces=entry.pieces,
                amount=ctx.money(entry.amount_cents),
                write_off=entry.id,
            )
        )
    ]


COMMANDS: dict[str, Command] = {
    "writeoff": Command(ADMINS, _writeoff, N_("admin.help_writeoff")),
}
