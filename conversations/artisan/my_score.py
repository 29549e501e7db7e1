"""My score: the artisan's own reputation, in plain words and with the counts behind it.

A menu action (one answer), so no flow and no diagram. Each line is a plain ratio that adds up
("4 of your 5 jobs were delivered on time (80%)"); the smoothed rates matching uses
(``domain.reputation``, which start every newcomer at a fair typical value) come after, in one
line that says they are smoothed estimates and why they differ from the plain ones.
"""

from __future__ import annotations

from conversations.flow import Context
from conversations.i18n import N_
from conversations.messages import Reply
from domain.reputation import ArtisanHistory, artisan_history, reputation


def _percent(rate: float) -> int:
    return round(rate * 100)


def _ratio(part: int, whole: int) -> int:
    """The plain share, in whole percent: what the counts beside it say, nothing smoothed."""
    return round(100 * part / whole) if whole else 0


def newcomer_of(history: ArtisanHistory) -> bool:
    checked = history.qc_pieces_passed + history.qc_pieces_rejected
    return history.offers_made == 0 and history.allocations_due == 0 and checked == 0


async def my_score(ctx: Context) -> list[Reply]:
    assert ctx.person is not None  # only artisans get here
    assert ctx.person.id is not None
    history = await artisan_history(ctx.session, ctx.person.id, now=ctx.now)
    score = reputation(history)
    lines = [ctx.t("artisan.score_title")]
    if history.allocations_due:
        lines.append(
            ctx.t(
                "artisan.score_on_time_plain",
                on_time=history.allocations_on_time,
                due=history.allocations_due,
                rate=_ratio(history.allocations_on_time, history.allocations_due),
            )
        )
    else:
        lines.append(ctx.t("artisan.score_on_time_none", rate=_percent(score.on_time_rate)))
    checked = history.qc_pieces_passed + history.qc_pieces_rejected
    if checked:
        lines.append(
            ctx.t(
                "artisan.score_quality_plain",
                passed=history.qc_pieces_passed,
                checked=checked,
                rate=_ratio(history.qc_pieces_passed, checked),
            )
        )
    else:
        lines.append(ctx.t("artisan.score_quality_none", rate=_percent(score.qc_pass_rate)))
    if history.offers_decided:
        lines.append(
            ctx.t(
                "artisan.score_offers_plain",
                accepted=history.offers_accepted,
                answered=history.offers_answered,
                offers=history.offers_decided,
                rate=_ratio(history.offers_accepted, history.offers_decided),
            )
        )
    lines.append(ctx.t("artisan.score_volume", count=score.volume))
    if not newcomer_of(history):
        # The figures matching uses are smoothed: said as such, beside the plain ratios above.
        lines.append(
            ctx.t(
                "artisan.score_smoothed",
                on_time=_percent(score.on_time_rate),
                quality=_percent(score.qc_pass_rate),
                offers=_percent(score.response_rate),
            )
        )
    newcomer = newcomer_of(history)
    lines.append(ctx.t(N_("artisan.score_newcomer") if newcomer else N_("artisan.score_explained")))
    return [Reply("\n".join(lines))]
