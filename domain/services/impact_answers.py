"""The two optional answers an artisan may give for the impact reports, with their consent.

Asked at registration (conversations/flows/registration.py) and changed or withdrawn later from
the artisan's menu ("My optional answers"). Only ``domain.impact`` reads them, for staff reports
over groups of five or more; no other artisan ever sees them.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import InvalidQuantity, NotFound
from domain.limits import MAX_MONEY_CENTS
from domain.model import ImpactAnswers, Person, Role, WomenLed


async def impact_answers(session: AsyncSession, person_id: int) -> ImpactAnswers | None:
    return await session.get(ImpactAnswers, person_id)


async def set_impact_answers(
    session: AsyncSession,
    *,
    person_id: int,
    prior_income_cents: int | None,
    women_led: WomenLed | None,
    now: datetime,
) -> ImpactAnswers:
    """Keep the artisan's answers (None: not told), with their consent now."""
    person = await session.get(Person, person_id)
    if person is None or person.role is not Role.ARTISAN:
        raise NotFound("artisan", person_id)
    if prior_income_cents is not None and not 0 <= prior_income_cents <= MAX_MONEY_CENTS:
        raise InvalidQuantity(f"an income of {prior_income_cents} cents is out of range")
    answers = await session.get(ImpactAnswers, person_id, with_for_update=True)
    if answers is None:
        answers = ImpactAnswers(person_id=person_id, consented_at=now, updated_at=now)
    answers.prior_income_cents = prior_income_cents
    answers.women_led = women_led
    answers.consented_at = now
    answers.updated_at = now
    session.add(answers)
    await session.flush()
    return answers


async def withdraw_impact_answers(session: AsyncSession, person_id: int) -> bool:
    """Forget the artisan's answers and consent; True if there were any."""
    answers = await session.get(ImpactAnswers, person_id, with_for_update=True)
    if answers is None:
        return False
    await session.delete(answers)
    await session.flush()
    return True
