"""``/offers <job>``: who a job was offered to, each offer under the number its artisan sees.

An artisan reads "Offer #44 (job #7)" and types "ACCEPT 44"; their lot shows as "job #7" in My
jobs, and staff see "Job #7" in ``/jobs`` and ``/order``. This lists job #7's offers as "#44
Wanjiru: 20 pieces, open until ...", so when an artisan calls about offer 44 the admin finds it
under the same number.
"""

from __future__ import annotations

from sqlmodel import col, select

from conversations.admin.replies import ADMINS, Replies, chunks, row_id
from conversations.flow import Command, Context
from conversations.formatting import weekday_date_time
from conversations.i18n import N_
from conversations.messages import Reply
from conversations.queries import job_component
from domain.model import Job, Offer, OfferStatus, Person
from domain.text import quoted

STATUS: dict[OfferStatus, str] = {
    OfferStatus.OPEN: N_("admin.offer_open"),
    OfferStatus.ACCEPTED: N_("admin.offer_accepted"),
    OfferStatus.PARTLY_ACCEPTED: N_("admin.offer_partly_accepted"),
    OfferStatus.DECLINED: N_("admin.offer_declined"),
    OfferStatus.EXPIRED: N_("admin.offer_expired"),
    OfferStatus.WITHDRAWN: N_("admin.offer_withdrawn"),
}


async def job_offers(ctx: Context, argument: str) -> Replies:
    job_id = row_id(argument.strip())
    if job_id is None:
        return [Reply(ctx.t("admin.offers_usage"))]
    job = await ctx.session.get(Job, job_id)
    if job is None:
        return [Reply(ctx.t("admin.job_not_found", id=job_id))]
    component = await job_component(ctx.session, job_id)
    rows = await ctx.session.exec(
        select(Offer, Person)
        .join(Person, col(Person.id) == col(Offer.artisan_id))
        .where(Offer.job_id == job_id)
        .order_by(col(Offer.id))
    )
    lines = [
        ctx.t(
            "admin.offer_line",
            id=offer.id,
            name=quoted(artisan.name),
            artisan=artisan.id,
            quantity=offer.quantity,
            accepted=offer.accepted_quantity,
            status=ctx.t(STATUS[offer.status], until=weekday_date_time(ctx.t, offer.expires_at)),
        )
        for offer, artisan in rows
    ]
    name = "-" if component is None else component.name
    if not lines:
        return [Reply(ctx.t("admin.offers_none", job=job_id, component=name))]
    return chunks(ctx.t("admin.offers_title", job=job_id, component=name), lines)


COMMANDS: dict[str, Command] = {
    "offers": Command(ADMINS, job_offers, N_("admin.help_offers")),
}
