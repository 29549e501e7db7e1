"""How the admins' commands answer: their role, the words for each status, numbers and long
lists cut to fit a WhatsApp message, and the revenue-share line.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from conversations.flow import Context
from conversations.i18n import N_
from conversations.messages import Reply
from domain.limits import MAX_ID
from domain.model import ArtisanStatus, CustomerKind, JobStatus, OrderStatus, Role
from domain.numbers import or_none, whole_number
from domain.revenue_share import BandCheck

ADMINS = frozenset({Role.ADMIN})
MAX_LISTED = 15
MAX_REPLY = 1_500  # characters per message when a list is long (WhatsApp allows 1,600)

Replies = list[Reply]

ORDER_STATUS: dict[OrderStatus, str] = {
    OrderStatus.DRAFT: N_("admin.status_draft"),
    OrderStatus.CONFIRMED: N_("admin.status_confirmed"),
    OrderStatus.IN_PRODUCTION: N_("admin.status_in_production"),
    OrderStatus.READY: N_("admin.status_ready"),
    OrderStatus.SHIPPED: N_("admin.status_shipped"),
    OrderStatus.CANCELLED: N_("admin.status_cancelled"),
}
JOB_STATUS: dict[JobStatus, str] = {
    JobStatus.OPEN: N_("admin.job_open"),
    JobStatus.IN_PRODUCTION: N_("admin.job_in_production"),
    JobStatus.COMPLETED: N_("admin.job_completed"),
    JobStatus.CANCELLED: N_("admin.job_cancelled"),
}
ARTISAN_STATUS: dict[ArtisanStatus, str] = {
    ArtisanStatus.PENDING: N_("admin.artisan_pending"),
    ArtisanStatus.ACTIVE: N_("admin.artisan_active"),
    ArtisanStatus.PAUSED: N_("admin.artisan_paused"),
}
CUSTOMER_KIND: dict[CustomerKind, str] = {
    CustomerKind.RETAILER: N_("admin.kind_retailer"),
    CustomerKind.WEB_SHOP: N_("admin.kind_web_shop"),
}


def percent(value: Decimal | None) -> str:
    return "–" if value is None else f"{(value * 100).quantize(Decimal('1'))}%"


def an_id(argument: str) -> int | None:
    token = argument.strip().split(maxsplit=1)[0] if argument.strip() else ""
    return row_id(token)


def row_id(token: str) -> int | None:
    """``12`` or ``#12``: a row id as people type it (``domain.numbers``, digits only)."""
    return or_none(whole_number, token.removeprefix("#"), most=MAX_ID, strict=True)


def chunks(header: str, lines: Iterable[str]) -> Replies:
    """``header`` and ``lines`` as few messages as fit WhatsApp's length."""
    replies: list[str] = [header]
    for line in lines:
        if len(replies[-1]) + 1 + len(line) > MAX_REPLY:
            replies.append(line)
        else:
            replies[-1] += "\n" + line
    return [Reply(text) for text in replies]


def share_line(ctx: Context, check: BandCheck | None) -> str:
    if check is None:
        return ctx.t("admin.share_none")
    params = {
        "share": percent(check.share),
        "low": percent(check.low),
        "high": percent(check.high),
    }
    if check.share < check.low:
        return ctx.t("admin.share_below", **params)
    if check.share > check.high:
        return ctx.t("admin.share_above", **params)
    return ctx.t("admin.share_within", **params)
