"""The USSD menu: one step of an Africa's Talking USSD session in, the screen to show out.

How a USSD step maps onto the conversation engine
--------------------------------------------------

A chat message is stored, answered later and its replies sent through the outbox; a USSD step
must be answered in the HTTP response itself, within the gateway's few seconds, on a screen of
160 characters, with numbered options only. So USSD does not run ``conversations.engine`` (whose
replies are written for chat and queued to the outbox); it has its own *screen layer*
(``screens.py``) over the same code the engine's flows call, and keeps the engine's rule of one
step, one transaction:

1. the step is taken in its session's turn (one per ``sessionId`` in this process);
2. in one transaction: the session row (``UssdSession``) is read; a request whose ``text`` is the
   one already answered is a replay and gets the stored response again, changing nothing; the
   caller is found by their SMS identity (``Channel.SMS`` and the E.164 number, the identity the
   SMS channel uses); the screen's answer runs (domain services, the offers flow's checks, the
   registration flow's steps); the domain events become notices (the registry's one table, as the
   engine does, queued to the outbox for whoever they concern); the session row is saved with a
   version check (a concurrent copy of the same step makes this one roll back and answer as the
   replay it is); and everything commits together;
3. the screen is returned to the gateway (bot/channels/ussd.py), which answers ``CON``/``END``.

Since the gateway sends the whole path (``1*2*30``) every time, the row keeps the last path: a
new step must extend it by exactly one answer. Anything else (a path from another branch, a
session id reused by another phone) ends the session with a polite line and changes nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.flow import Context
from conversations.i18n import Catalogue
from conversations.locks import KeyedLocks
from conversations.notices import RevenueBand
from conversations.parts import Registry
from conversations.state import StateConflict
from conversations.ussd.screens import (
    MAX_SCREEN,
    SCREENS,
    End,
    Move,
    S,
    Screen,
    Show,
    Stay,
    fit,
)
from domain import events
from domain.model import ArtisanProfile, ArtisanStatus, Channel, Language, Person, Role
from domain.model.ussd import MAX_USSD_TEXT, UssdSession
from domain.services.people import person_by_identity
from domain.store import Store, rolled_back_to_run_again

log = logging.getLogger(__name__)

SEPARATOR = "*"
MAX_ANSWER = 100  # one keypad answer; a name or an area is far shorter
MAX_ATTEMPTS = 5
KEEP = timedelta(days=1)  # how long a finished session's row is kept

__all__ = ["MAX_SCREEN", "Screen", "UssdMenu", "UssdRefused"]


class UssdRefused(ValueError):
    """The request cannot be a step of a USSD session (too long a path): answered 400."""


_NAMES = frozenset(str(screen) for screen in S)
_TABLE: sa.Table = UssdSession.__table__  # type: ignore[attr-defined]
_ROW = sa.select(_TABLE).where(_TABLE.c.session_id == sa.bindparam("session_id")).with_for_update()
_PROFILE: sa.Table = ArtisanProfile.__table__  # type: ignore[attr-defined]
_STATUS = sa.select(_PROFILE.c.status).where(_PROFILE.c.person_id == sa.bindparam("person_id"))


class UssdMenu:
    """USSD sessions over the store; ``step`` answers one request of a session."""

    def __init__(
        self,
        store: Store,
        *,
        registry: Registry,
        catalogue: Catalogue,
        band: RevenueBand | None = None,
    ) -> None:
        self._store = store
        self._registry = registry
        self._catalogue = catalogue
        self._band = band
        self._locks: KeyedLocks[str] = KeyedLocks()

    async def step(self, *, session_id: str, phone: str, text: str, now: datetime) -> Screen:
        """The screen for this request; the same screen again for a replayed one."""
        if len(text) > MAX_USSD_TEXT:
            raise UssdRefused(f"the path of answers is over {MAX_USSD_TEXT} characters")
        async with self._locks.hold(session_id):
            for _ in range(MAX_ATTEMPTS):
                try:
                    async with self._store.transaction() as session:
                        return await self._step(session, session_id, phone, text, now)
                except Exception as exc:
                    if isinstance(exc, StateConflict | IntegrityError) or (
                        rolled_back_to_run_again(exc)
                    ):
                        log.info("USSD session step conflicted, running it again: %r", exc)
                        continue
                    if isinstance(exc, OperationalError | SQLAlchemyTimeoutError):
                        raise  # the database is out of reach: not the step's fault (a 500)
                    # A bug: nothing was saved (the transaction rolled back), so the same step
                    # sent again runs again; the caller is told in both languages, and it ends.
                    log.exception("a USSD step failed")
                    failed = " / ".join(self._catalogue.t(lang, "ussd.failed") for lang in Language)
                    return Screen(fit(failed), False)
        raise StateConflict(f"USSD session kept changing; gave up after {MAX_ATTEMPTS} attempts")

    async def _step(
        self, session: AsyncSession, session_id: str, phone: str, text: str, now: datetime
    ) -> Screen:
        # Core statements for the row: on every step, and the ORM's bookkeeping costs more.
        connection = await session.connection()
        row = (await connection.execute(_ROW, {"session_id": session_id})).first()
        person = await person_by_identity(session, Channel.SMS, phone)
        if row is not None:
            if row.phone != phone:
                log.warning("a USSD session id came back from another phone; refused")
                return Screen(self._catalogue.t(_language(person, {}), "ussd.out_of_step"), False)
            if text == row.text:
                return _stored(row.response)
            answer = _next_answer(row.text, text)
            if answer is None or not row.response.startswith("CON ") or row.screen not in _NAMES:
                return Screen(
                    self._catalogue.t(_language(person, json.loads(row.data)), "ussd.out_of_step"),
                    False,
                )
            data: dict[str, Any] = json.loads(row.data)
            screen = S(row.screen)
        else:
            answer, data, screen = None, {}, S.HOME
        ctx = Context(
            session=session,
            now=now,
            channel=Channel.SMS,
            address=phone,
            person=person,
            language=_language(person, data),
            data=data,
            catalogue=self._catalogue,
        )
        if answer is None:
            shown, screen = await self._open(ctx)
        else:
            shown, screen = await self._answer(ctx, screen, answer)
        await self._notify(session, now)
        response = ("CON " if shown.more else "END ") + shown.text
        await self._save(session, row, session_id, phone, text, screen, ctx.data, response, now)
        return shown

    async def _open(self, ctx: Context) -> tuple[Screen, S]:
        """The first screen of a session: registration, a wait, a refusal, or the menu."""
        person = ctx.person
        if person is None:
            return await SCREENS[S.REGISTER].prompt(ctx), S.REGISTER
        ended = await self._not_for_menu(ctx, person)
        if ended is not None:
            return Screen(ended, False), S.HOME
        return await SCREENS[S.HOME].prompt(ctx), S.HOME

    async def _not_for_menu(self, ctx: Context, person: Person) -> str | None:
        if person.role is not Role.ARTISAN:
            return ctx.t("ussd.artisans_only")
        connection = await ctx.session.connection()
        status = (await connection.execute(_STATUS, {"person_id": person.id})).scalar()
        if status is ArtisanStatus.PENDING:
            return ctx.t("ussd.pending")
        if status is not None and status is not ArtisanStatus.ACTIVE:
            return ctx.t("ussd.paused")
        return None

    async def _answer(self, ctx: Context, screen: S, answer: str) -> tuple[Screen, S]:
        if screen is not S.REGISTER and ctx.person is None:
            return Screen(ctx.t("ussd.out_of_step"), False), screen
        if screen is not S.REGISTER:
            assert ctx.person is not None
            ended = await self._not_for_menu(ctx, ctx.person)
            if ended is not None:  # paused or changed role since the session began
                return Screen(ended, False), screen
        if not answer.strip() or len(answer) > MAX_ANSWER:
            move: Move = Stay(ctx.t("ussd.empty"))
        else:
            move = await SCREENS[screen].answer(ctx, answer)
        if isinstance(move, End):
            return Screen(fit(move.text), False), screen
        if isinstance(move, Stay):
            shown = await SCREENS[screen].prompt(ctx)
            return shown.with_line(move.problem), screen
        assert isinstance(move, Show)
        shown = await SCREENS[move.screen].prompt(ctx)
        if move.note:
            shown = shown.with_line(move.note)
        return shown, move.screen

    async def _notify(self, session: AsyncSession, now: datetime) -> None:
        """Business messages for what this step did (an offer accepted tells the admins when a
        job is filled; a registration tells the area's field agents), in this transaction."""
        await session.flush()
        recorded = events.drain(session)
        if recorded:
            await self._registry.notify(
                session, recorded, catalogue=self._catalogue, now=now, band=self._band
            )

    @staticmethod
    async def _save(
        session: AsyncSession,
        row: sa.Row[Any] | None,
        session_id: str,
        phone: str,
        text: str,
        screen: S,
        data: dict[str, Any],
        response: str,
        now: datetime,
    ) -> None:
        values = {
            "text": text,
            "screen": str(screen),
            "data": json.dumps(data, sort_keys=True),
            "response": response,
            "updated_at": now,
        }
        connection = await session.connection()
        if row is None:
            # Gateways end a session within minutes: rows a day old are never asked for again,
            # so each new session clears them (a few rows, by an index), and the table stays small.
            await connection.execute(_TABLE.delete().where(_TABLE.c.updated_at < now - KEEP))
            # A concurrent first request of the same session fails this insert on the key and
            # runs again, as the replay it is.
            await connection.execute(
                _TABLE.insert().values(
                    session_id=session_id, phone=phone, version=0, created_at=now, **values
                )
            )
            return
        updated = await connection.execute(
            _TABLE.update()
            .where(_TABLE.c.session_id == session_id, _TABLE.c.version == row.version)
            .values(version=row.version + 1, **values)
        )
        if updated.rowcount != 1:
            raise StateConflict(f"USSD session changed since version {row.version}")


def _stored(response: str) -> Screen:
    return Screen(response[4:], response.startswith("CON "))


def _next_answer(before: str, now: str) -> str | None:
    """The one answer ``now`` adds to the path ``before``; None when it does not extend it."""
    if not before:
        return now if now and SEPARATOR not in now else None
    prefix = before + SEPARATOR
    if not now.startswith(prefix):
        return None
    answer = now[len(prefix) :]
    return None if SEPARATOR in answer else answer


def _language(person: Person | None, data: dict[str, Any]) -> Language:
    if person is not None:
        return person.language
    try:
        return Language(data.get("lang", Language.EN))
    except ValueError:
        return Language.EN
