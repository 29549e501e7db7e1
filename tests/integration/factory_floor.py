"""Old names of ``factory_fixtures``, kept while tests/e2e/test_over_offer_notices.py and
tests/e2e/test_make_payouts.py still import them from here. New tests use ``factory_fixtures``:
``hire_staff(session, now=...)``, ``Staff.agent`` / ``.admin``, and ``confirmed_order``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import Job, Order
from domain.services.orders import confirm_order
from tests.integration import factory_fixtures
from tests.integration.factory_fixtures import HORN, draft_order, ident, stock_catalogue

__all__ = ["HORN", "Staff", "confirmed_jobs", "hire_staff", "ident", "stock_catalogue"]


@dataclass(frozen=True)
class Staff(factory_fixtures.Staff):
    @property
    def admin_id(self) -> int:
        return self.admin

    @property
    def agent_id(self) -> int:
        return self.agent


async def hire_staff(session: AsyncSession, now: datetime) -> Staff:
    staff = await factory_fixtures.hire_staff(session, now=now)
    return Staff(staff.admin, staff.agent, staff.far_agent)


async def confirmed_jobs(
    session: AsyncSession,
    *,
    now: datetime,
    due_date: date | None = None,
    lines: Sequence[tuple[str, int]] = (("NECKLACE-HORN", 10),),
) -> tuple[Order, list[Job]]:
    order = await draft_order(session, now=now, due_date=due_date, lines=dict(lines))
    return order, await confirm_order(session, ident(order), now=now)
