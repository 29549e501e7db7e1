"""Admins' commands about the factory itself: ``/stats`` (how the last weeks went),
``/deadletters`` (messages that could not be sent) and ``/retry <id>``.
"""

from __future__ import annotations

import logging

from conversations.admin import queries as reports
from conversations.admin.pager import continuing, paged, split_page
from conversations.admin.replies import (
    ADMINS,
    Replies,
    an_id,
    percent,
    share_line,
)
from conversations.channel_choice import NAMES as CHANNEL_NAMES
from conversations.flow import Command, Context
from conversations.formatting import me, written_date
from conversations.i18n import N_
from conversations.messages import Reply
from domain.errors import IllegalTransition, NotFound
from domain.services import dead_letters
from domain.text import quoted

# Why a listed message is held rather than failed (its ``error_code``), in words.
_HELD_WHY = {
    dead_letters.HELD: N_("plain.held_no_template"),
    dead_letters.NO_SENDER: N_("plain.held_no_channel"),
}

log = logging.getLogger(__name__)


async def factory_stats(ctx: Context, _argument: str = "") -> Replies:
    stats = await reports.factory_stats(ctx.session, now=ctx.now, policy=ctx.policy)
    text = ctx.t(
        "admin.stats",
        since=written_date(ctx.language, stats.since),
        on_time=percent(stats.on_time.value),
        on_time_count=stats.on_time.part,
        due=stats.on_time.whole,
        qc=percent(stats.qc_pass.value),
        passed=stats.qc_pass.part,
        reviewed=stats.qc_pass.whole,
        fill=percent(stats.fill.value),
        allocated=stats.fill.part,
        ordered=stats.fill.whole,
        orders=stats.orders,
    )
    return [Reply(text + "\n" + share_line(ctx, stats.share))]


async def _dead_letters(ctx: Context, argument: str) -> Replies:
    _, page = split_page(argument)
    rows, total = await dead_letters.dead_letters(ctx.session, limit=page.size, offset=page.offset)
    if not total:
        return [Reply(ctx.t("admin.deadletters_none"))]
    lines = []
    for message, person in rows:
        preview = " ".join(Reply.from_json(message.body).text.split())
        said = {
            "id": message.id,
            "who": quoted(person.name) if person is not None else message.address,
            "channel": CHANNEL_NAMES.get(message.channel, str(message.channel)),
            "preview": preview[:60] + ("…" if len(preview) > 60 else ""),
        }
        if message.error_code in dead_letters.HELD_CODES:  # waiting, not failed
            why = ctx.t(_HELD_WHY.get(message.error_code, N_("plain.held_no_channel")), **said)
            lines.append(ctx.t("plain.held_line", why=why, **said))
        else:
            lines.append(
                ctx.t(
                    "admin.deadletter_line",
                    attempts=message.attempts,
                    error=message.error_code or "–",
                    **said,
                )
            )
    header = ctx.t("admin.deadletters_title", count=total)
    held = await dead_letters.held_count(ctx.session)
    if total - held:
        header += "\n" + ctx.t("plain.deadletters_failed", count=total - held)
    if held:
        header += "\n" + ctx.t("admin.deadletters_held", count=held)
    return paged(
        ctx,
        command="deadletters",
        filter_text="",
        page=page,
        total=total,
        header=header,
        lines=lines,
        footer=[ctx.t("admin.deadletters_hint")],
    )


async def _retry(ctx: Context, argument: str) -> Replies:
    message_id = an_id(argument)
    if message_id is None:
        return [Reply(ctx.t("admin.retry_usage"))]
    try:
        await dead_letters.retry(ctx.session, message_id, now=ctx.now)
    except NotFound:
        return [Reply(ctx.t("admin.retry_not_found", id=message_id))]
    except IllegalTransition as exc:
        return [Reply(ctx.t("admin.retry_not_dead", id=message_id, status=exc.current))]
    log.info("person %s queued outbox message %s again", me(ctx), message_id)
    return [Reply(ctx.t("admin.retried", id=message_id))]


COMMANDS: dict[str, Command] = {
    "stats": Command(ADMINS, factory_stats, N_("admin.help_stats")),
    "deadletters": Command(
        ADMINS, continuing("deadletters", _dead_letters), N_("admin.help_deadletters"), button=True
    ),
    "retry": Command(ADMINS, _retry, N_("admin.help_retry")),
}
