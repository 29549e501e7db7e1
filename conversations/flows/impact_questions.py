"""The two optional impact questions, shared by registration and the artisan's "My optional
answers": their workshop's income per month before joining (a number of shillings, or skip),
then whether it is led by a woman (yes, no, or prefer not to say).

At registration they are offered beside the confirmation ("register me and answer the two
optional questions", with what the answers are for): choosing it is the consent, and
registering never depends on it. The answers go in the flow's data under ``KEYS``; the caller
keeps them (``domain.services.impact_answers``). Only staff reports over groups of five people
or more use them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from conversations.flow import Answer, Context
from conversations.messages import Choice, Reply
from domain.limits import MAX_MONEY_CENTS
from domain.model import ImpactAnswers, WomenLed

CONSENT_KEY = "impact_consent"
PRIOR_KEY = "impact_prior_income_cents"
WOMEN_LED_KEY = "impact_women_led"
KEYS = (CONSENT_KEY, PRIOR_KEY, WOMEN_LED_KEY)

YES, SKIP = "impact:yes", "impact:skip"  # YES: consent, at registration
_WOMEN_LED = {f"impact:wl:{choice.value}": choice for choice in WomenLed}
_SKIP_WORDS = frozenset({"skip", "ruka", "no", "hapana", "-"})
_YES_WORDS = frozenset({"yes", "y", "ndiyo", "ndio", "sawa", "ok"})


async def ask_prior_income(ctx: Context) -> Reply:
    return Reply(ctx.t("impact.ask_prior_income"), choices=(Choice(SKIP, ctx.t("impact.skip")),))


def read_prior_income(answer: Answer) -> tuple[bool, int | None]:
    """(understood, cents per month): (True, None) when skipped, (False, None) for anything
    that is not an amount of shillings."""
    if (answer.choice is not None and answer.choice.payload == SKIP) or (
        answer.choice is None and answer.text.casefold().strip(" .!") in _SKIP_WORDS
    ):
        return True, None
    text = answer.text.casefold().replace("kes", "").replace("ksh", "").replace(",", "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        return False, None
    if not value.is_finite() or value < 0 or value * 100 > MAX_MONEY_CENTS:
        return False, None
    return True, int(value * 100)


async def ask_women_led(ctx: Context) -> Reply:
    return Reply(
        ctx.t("impact.ask_women_led"),
        choices=(
            Choice(f"impact:wl:{WomenLed.YES.value}", ctx.t("impact.women_led_yes")),
            Choice(f"impact:wl:{WomenLed.NO.value}", ctx.t("impact.women_led_no")),
            Choice(
                f"impact:wl:{WomenLed.PREFER_NOT_TO_SAY.value}",
                ctx.t("impact.women_led_prefer_not"),
            ),
        ),
    )


def read_women_led(answer: Answer) -> WomenLed | None:
    """The answer, or None when it is not one of the three."""
    if answer.choice is not None:
        return _WOMEN_LED.get(answer.choice.payload)
    said = answer.text.casefold().strip(" .!")
    if said in _YES_WORDS:
        return WomenLed.YES
    if said in {"no", "n", "hapana", "la"}:
        return WomenLed.NO
    return None


def told(ctx: Context, answers: ImpactAnswers | None) -> str:
    """What the artisan told, in their language (for their eyes only)."""
    if answers is None:
        return ctx.t("impact.answers_none")
    income = (
        ctx.t("impact.not_told")
        if answers.prior_income_cents is None
        else ctx.money(answers.prior_income_cents)
    )
    women_led = {
        None: ctx.t("impact.not_told"),
        WomenLed.YES: ctx.t("impact.women_led_yes"),
        WomenLed.NO: ctx.t("impact.women_led_no"),
        WomenLed.PREFER_NOT_TO_SAY: ctx.t("impact.women_led_prefer_not"),
    }[answers.women_led]
    return ctx.t("impact.answers", income=income, women_led=women_led)
