"""Admins' commands about the factory itself: ``/stats`` (how the last weeks went),
``/deadletters`` (messages that could not be sent) and ``/retry <id>``.
"""

from __future__ import annotations

import logging

from conversations.admin import queries as reports
from conversations.admin.replies import (
    ADMINS,
    MAX_LISTED,
    Replies,
    an_id,
    chunks,
    percent,
    share_line,
)
from conversations.flow import Command, Context
from conversations.formatting import me, numeric_date
from conversations.i18n import N_
from conversations.messages import Reply
from domain.errors import IllegalTransition, NotFound
from domain.services import dead_letters
from domain.text import quoted

log = logging.getLogger(__name__)


async def factory_stats(ctx: Context, _argument: str = "") -> Replies:
    stats = await reports.factory_stats(ctx.session, now=ctx.now, policy=ctx.policy)
    text = ctx.t(
        "admin.stats",
        since=numeric_date(stats.since),
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


async def _dead_letters(ctx: Context, _argument: str) -> Replies:
    rows, total = await dead_letters.dead_letters(ctx.session, limit=MAX_LISTED)
    if not rows:
        return [Reply(ctx.t("admin.deadletters_none"))]
    lines = []
    for message, person in rows:
        preview = " ".join(Reply.from_json(message.body).text.split())
        lines.append(
            ctx.t(
                "admin.deadletter_line",
                id=message.id,
                who=quoted(person.name) if person is not None else message.address,
                channel=str(message.channel),
                attempts=message.attempts,
                error=message.error_code or "–",
                preview=preview[:60] + ("…" if len(preview) > 60 else ""),
            )
        )
    if total > len(rows):
        lines.append(ctx.t("admin.more", count=total - len(rows)))
    held = await dead_letters.held_count(ctx.session)
    if held:
        lines.insert(0, ctx.t("admin.deadletters_held", count=held))
    lines.append(ctx.t("admin.deadletters_hint"))
    return chunks(ctx.t("admin.deadletters_title", count=total), lines)


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
    "deadletters": Command(ADMINS, _dead_letters, N_("admin.help_deadletters")),
    "retry": Command(ADMINS, _retry, N_("admin.help_retry")),
}
