"""My score: the artisan's own reputation, in plain words and with the counts behind it.

A menu action (one answer), so no flow and no diagram. The rates are ``domain.reputation``'s
smoothed ones, which start every newcomer at a fair typical value; the message says so, and shows
the real counts ("4 of your 5 jobs were delivered on time") beside each rate, so nobody has to
trust a percentage they cannot check.
"""

from __future__ import annotations

from conversations.flow import Context
from conversations.i18n import N_
from conversations.messages import Reply
from domain.reputation import artisan_history, reputation


def _percent(rate: float) -> int:
    return round(rate * 100)


async def my_score(ctx: Context) -> list[Reply]:
    assert ctx.person is not None  # only artisans get here
    assert ctx.person.id is not None
    history = await artisan_history(ctx.session, ctx.person.id, now=ctx.now)
    score = reputation(history)
    lines = [ctx.t("artisan.score_title")]
    if history.allocations_due:
        lines.append(
            ctx.t(
                "artisan.score_on_time",
                on_time=history.allocations_on_time,
                due=history.allocations_due,
                rate=_percent(score.on_time_rate),
            )
        )
    else:
        lines.append(ctx.t("artisan.score_on_time_none", rate=_percent(score.on_time_rate)))
    checked = history.qc_pieces_passed + history.qc_pieces_rejected
    if checked:
        lines.append(
            ctx.t(
                "artisan.score_quality",
                passed=history.qc_pieces_passed,
                checked=checked,
                rate=_percent(score.qc_pass_rate),
            )
        )
    else:
        lines.append(ctx.t("artisan.score_quality_none", rate=_percent(score.qc_pass_rate)))
    if history.offers_decided:
        lines.append(
            ctx.t(
                "artisan.score_offers",
                accepted=history.offers_accepted,
                answered=history.offers_answered,
                offers=history.offers_decided,
                rate=_percent(score.response_rate),
            )
        )
    lines.append(ctx.t("artisan.score_volume", count=score.volume))
    newcomer = history.offers_made == 0 and history.allocations_due == 0 and checked == 0
    lines.append(ctx.t(N_("artisan.score_newcomer") if newcomer else N_("artisan.score_explained")))
    return [Reply("\n".join(lines))]
