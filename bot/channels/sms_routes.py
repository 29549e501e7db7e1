"""SMS wired into the process: Africa's Talking's callback routes, the per-day SMS budgets, and
the rendering of replies in the recipient's language.

Routes (mounted by bot/main.py only when SMS is configured with a callback token):

- ``POST /sms/<token>/inbound``: an incoming SMS, stored (deduplicated on Africa's Talking's
  ``id``) before the 200 and handled exactly once, like every channel (bot/channels/inbound.py);
- ``POST /sms/<token>/status``: a delivery report, moving the outbox row forward only.

Africa's Talking signs nothing, so the token in the path is the only proof a callback is theirs:
a wrong or missing one is a bare 404 (the same as a route that does not exist, so nobody can
probe for it), compared in constant time, and never logged (the access log is off and refusals
log only the reason). Bodies are read with the shared ceiling (bot/request_body.py: 413 beyond).

Budgets. SMS is paid by the message, so the outbox holds an SMS that would go past the day's
budget, per person (``SMS_DAILY_BUDGET_PER_PERSON``) or for the whole factory
(``SMS_DAILY_BUDGET``), counted in segments sent since midnight at the factory: it waits, in
order, until the next day (``error_code = "sms_budget"``), and admins are told once a day per
budget that bit.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.channels.gateways import BadWebhook, parse_form
from bot.channels.inbound import Inbound
from bot.channels.sms import (
    MalformedInbound,
    Render,
    UnknownStatus,
    apply_delivery_report,
    parse_delivery_report,
    parse_inbound,
)
from bot.channels.sms_identity import link_same_number
from bot.request_body import BodyTooLarge, limited_body
from conversations import sms as sms_text
from conversations.i18n import Catalogue
from conversations.messages import Reply
from conversations.outbox import notify_person
from domain.model import (
    Channel,
    Language,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
    SmsBudgetAlert,
)
from domain.services.people import person_by_identity
from domain.store import Store

log = logging.getLogger(__name__)

OVER_BUDGET = "sms_budget"


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of the path's token with ours (an empty one never matches)."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _not_found() -> Response:
    return Response("not found", status_code=404)


def _refused(reason: Exception, status: int) -> Response:
    log.warning("refused an Africa's Talking callback (%d): %s", status, reason)
    return Response(str(reason), status_code=status)


@dataclass
class SmsGateway:
    inbound: Inbound
    store: Store
    clock: Callable[[], datetime]

    async def message(self, body: bytes) -> bool:
        """An incoming SMS; True if new, False for a redelivery."""
        form = parse_form(body)
        try:
            incoming = parse_inbound(form, received_at=self.clock())
        except MalformedInbound as exc:
            raise BadWebhook(str(exc)) from exc
        await link_same_number(self.store, Channel.SMS, incoming.address)
        return await self.inbound.receive(incoming)

    async def status(self, body: bytes) -> None:
        form = parse_form(body)
        try:
            report = parse_delivery_report(form)
            await apply_delivery_report(self.store, report)
        except (MalformedInbound, UnknownStatus) as exc:
            raise BadWebhook(str(exc)) from exc


def sms_routes(gateway: SmsGateway, token: str) -> list[BaseRoute]:
    """The two callback routes under ``/sms/<token>/``."""

    async def inbound(request: Request) -> Response:
        if not token_matches(request.path_params["token"], token):
            return _not_found()
        try:
            await gateway.message(await limited_body(request))
        except BodyTooLarge as exc:
            return _refused(exc, 413)
        except BadWebhook as exc:
            return _refused(exc, 400)
        return Response(status_code=200)

    async def status(request: Request) -> Response:
        if not token_matches(request.path_params["token"], token):
            return _not_found()
        try:
            await gateway.status(await limited_body(request))
        except BodyTooLarge as exc:
            return _refused(exc, 413)
        except BadWebhook as exc:
            return _refused(exc, 400)
        return Response(status_code=200)

    return [
        Route("/sms/{token}/inbound", inbound, methods=["POST"]),
        Route("/sms/{token}/status", status, methods=["POST"]),
    ]


def renderer(store: Store, catalogue: Catalogue, words: sms_text.CommandWords) -> Render:
    """The SMS sender's ``render``: a reply as compact text in the recipient's language."""

    async def render(address: str, reply: Reply) -> str:
        async with store.read() as session:
            person = await person_by_identity(session, Channel.SMS, address)
            language = person.language if person is not None else Language.EN
        return sms_text.render(reply, language, catalogue, words)

    return render


# --- budgets -----------------------------------------------------------------------------------


@dataclass
class SmsBudget:
    """The outbox's gate for SMS (``Dispatcher(gates=...)``): None to send now, or the moment
    to look again when a budget is used up for the day."""

    catalogue: Catalogue
    zone: ZoneInfo
    per_person: int | None
    per_factory: int | None

    def _day(self, now: datetime) -> tuple[date, datetime, datetime]:
        today = now.astimezone(self.zone).date()
        start = datetime.combine(today, time(0), self.zone)
        return today, start, start + timedelta(days=1)

    async def __call__(
        self, session: AsyncSession, message: OutboxMessage, now: datetime
    ) -> datetime | None:
        if self.per_person is None and self.per_factory is None:
            return None
        today, start, tomorrow = self._day(now)
        # Sent today, or being sent: claimed earlier in this pass (the same transaction), so one
        # pass of many heads cannot overshoot the budget.
        sent_today = sa.and_(
            col(OutboxMessage.channel) == Channel.SMS,
            sa.or_(
                col(OutboxMessage.sent_at) >= start,
                col(OutboxMessage.status) == OutboxStatus.SENDING,
            ),
        )
        spent = sa.func.coalesce(sa.func.sum(sa.func.coalesce(OutboxMessage.segments, 1)), 0)
        if self.per_factory is not None:
            used = int((await session.exec(select(spent).where(sent_today))).one())
            if used >= self.per_factory:
                await self._tell_admins(session, today, "factory", None, used, now)
                return self._hold(message, tomorrow)
        if self.per_person is not None:
            used = int(
                (
                    await session.exec(
                        select(spent).where(sent_today, OutboxMessage.address == message.address)
                    )
                ).one()
            )
            if used >= self.per_person:
                person = (
                    None
                    if message.person_id is None
                    else await session.get(Person, message.person_id)
                )
                await self._tell_admins(session, today, "person", person, used, now)
                return self._hold(message, tomorrow)
        return None

    @staticmethod
    def _hold(message: OutboxMessage, until: datetime) -> datetime:
        if message.error_code != OVER_BUDGET:
            log.warning("SMS %s held until tomorrow: the day's SMS budget is used up", message.id)
        message.error_code = OVER_BUDGET
        return until

    async def _tell_admins(
        self,
        session: AsyncSession,
        today: date,
        kind: str,
        person: Person | None,
        used: int,
        now: datetime,
    ) -> None:
        scope = "factory" if kind == "factory" else f"person:{person.id if person else '?'}"
        if await session.get(SmsBudgetAlert, (today, scope)) is not None:
            return
        session.add(SmsBudgetAlert(day=today, scope=scope, told_at=now))
        admins = (await session.exec(select(Person).where(Person.role == Role.ADMIN))).all()
        for admin in admins:
            text = sms_text.budget_notice(
                self.catalogue,
                admin.language,
                count=used,
                name=None if kind == "factory" else (person.name if person else "?"),
                person_id=None if person is None else person.id,
            )
            await notify_person(session, admin, Reply(text), now=now)
