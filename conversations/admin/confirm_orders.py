"""Confirming several draft orders at once: the "Confirm all N" button under an /import_orders
reply, or ``/confirm 12 13 14`` (ranges too: ``/confirm 12-20 25``).

Each order is confirmed on its own (a savepoint each), so one that cannot be (already confirmed,
a product without a bill of materials) is named and the others still go ahead. The button
carries exactly the ids imported, written as ranges where they run on (``confirm:12-20:25``),
short enough for every channel's button data (Telegram's 64 bytes); a longer list gets no button
and the reply says to confirm them one by one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from conversations.admin.replies import ORDER_STATUS, Replies, chunks, row_id
from conversations.errors import error_text
from conversations.flow import Context
from conversations.messages import Choice
from domain.errors import DomainError, IllegalTransition, NotFound
from domain.model import OrderStatus
from domain.services.orders import confirm_order

MAX_AT_ONCE = 200  # orders one /confirm may name: far more than any CSV import holds
MAX_PAYLOAD = 64  # bytes of button data every channel carries (Telegram's limit)


def several_ids(argument: str) -> list[int] | None:
    """The order ids ``12 13 14`` or ``12-20 25`` name, in order, each once; None when any word
    is not an id or a range, or there are more than ``MAX_AT_ONCE``."""
    ids: list[int] = []
    for token in argument.replace(",", " ").split():
        first, dash, last = token.partition("-")
        low, high = row_id(first), row_id(last) if dash else row_id(first)
        if low is None or high is None or high < low or high - low >= MAX_AT_ONCE:
            return None
        ids.extend(n for n in range(low, high + 1) if n not in ids)
        if len(ids) > MAX_AT_ONCE:
            return None
    return ids or None


def _ranges(ids: Sequence[int]) -> list[str]:
    """``[12, 13, 14, 20]`` -> ``["12-14", "20"]``."""
    runs: list[list[int]] = []
    for n in sorted(set(ids)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return [str(a) if a == b else f"{a}-{b}" for a, b in runs]


def confirm_all_button(ctx: Context, order_ids: Sequence[int]) -> Choice | None:
    """ "Confirm all N" for exactly these orders ("Confirm order #12" for one); None when they
    would not fit a button."""
    payload = "confirm:" + ":".join(_ranges(order_ids))
    if not order_ids or len(payload.encode()) > MAX_PAYLOAD:
        return None
    if len(order_ids) == 1:
        return Choice(payload, ctx.t("neworder.confirm_button", id=order_ids[0]))
    return Choice(payload, ctx.t("admin.confirm_all_button", count=len(order_ids)))


def confirm_hint(ctx: Context, order_ids: Sequence[int]) -> str:
    """What to do with imported drafts: tap the button, or the /confirm that names them all."""
    if len(order_ids) == 1:
        return ctx.t("admin.imported_hint_one", id=order_ids[0])
    if confirm_all_button(ctx, order_ids) is not None:
        return ctx.t("admin.imported_hint", count=len(order_ids))
    return ctx.t("admin.imported_hint_typed", ids=" ".join(_ranges(order_ids)))


def with_confirm_all(ctx: Context, replies: Replies, order_ids: Sequence[int]) -> Replies:
    """``replies`` with the "Confirm all N" button on the last one (if the ids fit one)."""
    button = confirm_all_button(ctx, order_ids)
    if button is None or not replies:
        return replies
    *head, last = replies
    return [*head, dataclasses.replace(last, choices=(*last.choices, button))]


async def confirm_several(ctx: Context, order_ids: Sequence[int]) -> Replies:
    """Confirm each draft; one line per order, under a header with how many went ahead."""
    lines: list[str] = []
    confirmed = jobs = 0
    for order_id in order_ids:
        try:
            async with ctx.session.begin_nested():
                made = await confirm_order(ctx.session, order_id, now=ctx.now)
        except NotFound:
            lines.append(ctx.t("admin.order_not_found", id=order_id))
            continue
        except IllegalTransition as exc:
            status = ctx.t(ORDER_STATUS[OrderStatus(exc.current)]).casefold()
            lines.append(ctx.t("admin.confirm_not_draft", id=order_id, status=status))
            continue
        except DomainError as exc:  # a product without a bill of materials
            lines.append(ctx.t("admin.confirm_refused", id=order_id, reason=error_text(ctx, exc)))
            continue
        confirmed += 1
        jobs += len(made)
        lines.append(
            ctx.t("admin.confirmed_one_of_several", id=order_id, jobs=len(made), count=len(made))
        )
    header = ctx.t("admin.confirmed_several", confirmed=confirmed, count=len(order_ids), jobs=jobs)
    return chunks(header, lines)
