"""The conversation engine: one incoming message in, the replies out, all in one transaction.

For each message, in its address's turn (``turn``: the one per-person lock of this process, which
every channel goes through, so one person's messages are handled strictly in order; across
processes the state's version check below keeps them safe):

1. the ``InboundMessage`` dedupe record is looked up; a message seen before changes nothing;
2. the sender is resolved by chat identity and the conversation state loaded (an expired
   half-finished flow is dropped with a polite note);
3. global words (menu, help, language, back, cancel, STOP, START) run first, then a button of
   any menu (``menu:<key>``, however old), then slash commands, then photos no question asked for
   (an artisan's start "submit finished work"), then the current flow's step; input a step cannot
   use gets a short hint and changes nothing. A bare number picks from the newest list shown, even
   once the reply that showed it finished; words that answer nothing are quoted back with what to
   send ("Sorry, I didn't understand “…”"), never met with a silent menu;
4. domain events are turned into business messages, the state is saved with a version check (a
   second process that advanced the same conversation makes us roll back and start over), the
   replies are queued in the outbox, and it all commits together.

The flows, commands and notices come from the ``Registry`` the composition root hands in
(conversations/registry.py's ``REGISTRY``); the engine itself knows no role.
"""

from __future__ import annotations

import dataclasses
import logging
import unicodedata
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.commands import Global, GlobalCommand, is_greeting, parse_global, parse_slash
from conversations.flow import DONE, MAX_OPTION, Answer, Ask, Context, Expect, Goto, Start
from conversations.flows.menu import NAME as MENU
from conversations.flows.menu import item_for, run_item
from conversations.flows.registration import NAME as REGISTRATION
from conversations.i18n import N_, Catalogue, default_catalogue
from conversations.locks import KeyedLocks
from conversations.messages import Choice, Incoming, MediaItem, Reply
from conversations.notices import RevenueBand
from conversations.numbered import held_choices, on_latest_message
from conversations.outbox import enqueue, enqueue_replies
from conversations.parts import Registry
from conversations.ports import (
    DEFAULT_ADMIN_POLICY,
    AdminPolicy,
    Attachments,
    DocumentReader,
    MatchRunner,
)
from conversations.state import Conversation, StateConflict, load_conversation, save_conversation
from domain import events
from domain.model import (
    ArtisanProfile,
    ArtisanStatus,
    Channel,
    InboundMessage,
    InboundStatus,
    Language,
    OutboxKind,
    Person,
    Role,
)
from domain.numbers import or_none, whole_number
from domain.services.names import load_names
from domain.services.people import person_by_identity, set_language, set_opted_out
from domain.store import Store, rolled_back_to_run_again
from domain.text import clean_text, quoted

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = timedelta(hours=12)
MAX_TEXT_LENGTH = 500  # longer than any answer we ask for; a pasted essay gets a hint instead
MAX_ATTEMPTS = 5
MENU_BUTTON = "menu:"  # an item of a menu: works from any menu the person still has on screen
MIN_PREFIX = 3  # letters a typed word needs before it can stand for a longer choice


class ConversationBusy(RuntimeError):
    """The same conversation kept changing under us; the message was not handled."""


def _lost_to_another_transaction(exc: Exception) -> bool:
    return isinstance(exc, StateConflict | IntegrityError) or rolled_back_to_run_again(exc)


class Engine:
    def __init__(
        self,
        store: Store,
        *,
        registry: Registry | None = None,
        catalogue: Catalogue | None = None,
        idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        documents: DocumentReader | None = None,
        matcher: MatchRunner | None = None,
        admin_policy: AdminPolicy = DEFAULT_ADMIN_POLICY,
        attachments: Attachments | None = None,
    ) -> None:
        self._store = store
        self._registry = registry or Registry()
        self._catalogue = catalogue or default_catalogue()
        self._idle_timeout = idle_timeout
        self._flows = self._registry.flows
        self._commands = self._registry.commands
        self._max_attempts = max_attempts
        self._documents = documents
        self._matcher = matcher
        self._admin_policy = admin_policy
        self._attachments = attachments
        self._locks: KeyedLocks[tuple[Channel, str]] = KeyedLocks()

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue

    @property
    def locks_held(self) -> int:
        return len(self._locks)

    def turn(self, channel: Channel, address: str) -> AbstractAsyncContextManager[None]:
        """This address's turn: ``handle`` takes it for each message. A caller that must do more
        in the same turn (the inbound path fetches attachments first) holds it itself and passes
        ``in_turn=True`` to ``handle``."""
        return self._locks.hold((channel, address))

    def is_valid_state(self, flow: str, step: str) -> bool:
        if flow == "idle":
            return step == "idle"
        return flow in self._flows and step in self._flows[flow].steps

    # --- entry points ----------------------------------------------------------------------

    async def accept(self, incoming: Incoming, *, now: datetime) -> bool:
        """Persist a message before acknowledging its webhook; False if we have seen it before.

        ``handle`` later processes it (and ``unprocessed`` finds it again after a crash).
        """
        try:
            async with self._store.transaction() as session:
                if await self._inbound(session, incoming) is not None:
                    return False
                session.add(self._new_inbound(incoming, now))
            return True
        except IntegrityError:  # a concurrent delivery of the same message won the insert
            return False

    async def unprocessed(self) -> list[Incoming]:
        """Messages accepted but never handled (the process died in between), oldest first."""
        async with self._store.transaction() as session:
            rows = await session.exec(
                select(InboundMessage)
                .where(InboundMessage.status == InboundStatus.RECEIVED)
                .order_by(col(InboundMessage.id))
            )
            return [Incoming.from_json(row.payload) for row in rows]

    async def handle(
        self, incoming: Incoming, *, now: datetime | None = None, in_turn: bool = False
    ) -> list[Reply]:
        """Handle one message exactly once; the replies are also in the outbox when this returns.

        ``now`` defaults to the message's ``received_at``; one of them must be given. With
        ``in_turn`` the caller already holds the address's ``turn``.
        """
        return await self._handle(incoming, now, only_new=False, in_turn=in_turn) or []

    async def accept_and_handle(self, incoming: Incoming, *, now: datetime) -> list[Reply] | None:
        """``accept`` and ``handle`` in one transaction; None if the message was seen before.

        For a message with nothing to fetch first: it is recorded, handled and its replies queued
        in one commit, so a crash before it loses nothing the provider was told we have (no 200
        was sent; the provider delivers it again). A message found already accepted (even if not
        yet handled, by this process or another) counts as seen: whoever accepted it handles it.
        """
        return await self._handle(incoming, now, only_new=True)

    async def _handle(
        self, incoming: Incoming, now: datetime | None, *, only_new: bool, in_turn: bool = False
    ) -> list[Reply] | None:
        when = now or incoming.received_at
        if when is None:
            raise ValueError("pass now= or set Incoming.received_at: the engine has no clock")
        turn: AbstractAsyncContextManager[None] = (
            nullcontext() if in_turn else self.turn(incoming.channel, incoming.address)
        )
        async with turn:
            last_conflict: Exception | None = None
            for _ in range(self._max_attempts):
                try:
                    async with self._store.transaction() as session:
                        return await self._process(session, incoming, when, only_new=only_new)
                except Exception as exc:
                    if _lost_to_another_transaction(exc):
                        # Another process touched this conversation (or the same message), or
                        # PostgreSQL broke a deadlock by rolling this transaction back: retry on
                        # fresh state; the dedupe check at the top makes a retry safe.
                        log.info("conflict on %s, retrying: %s", incoming.channel, exc)
                        last_conflict = exc
                        continue
                    if isinstance(exc, OperationalError | SQLAlchemyTimeoutError):
                        # The database was out of reach or busy past every timeout: not the
                        # message's fault, so not answered with an apology; it was not handled,
                        # and the caller keeps it to try again.
                        raise
                    log.exception(
                        "message %s on %s failed", incoming.provider_message_id, incoming.channel
                    )
                    return await self._record_failure(incoming, when, only_new=only_new)
            raise ConversationBusy(
                f"conversation on {incoming.channel} kept changing; gave up after "
                f"{self._max_attempts} attempts"
            ) from last_conflict

    # --- one message, inside one transaction --------------------------------------------------

    async def _inbound(self, session: AsyncSession, incoming: Incoming) -> InboundMessage | None:
        statement = (
            select(InboundMessage)
            .where(
                InboundMessage.channel == incoming.channel,
                InboundMessage.provider_message_id == incoming.provider_message_id,
            )
            .with_for_update()
        )
        return (await session.exec(statement)).first()

    @staticmethod
    def _new_inbound(incoming: Incoming, now: datetime) -> InboundMessage:
        return InboundMessage(**Engine._new_inbound_values(incoming, now))

    @staticmethod
    def _new_inbound_values(incoming: Incoming, now: datetime) -> dict[str, Any]:
        return {
            "channel": incoming.channel,
            "provider_message_id": incoming.provider_message_id,
            "address": incoming.address,
            "payload": incoming.to_json(),
            "received_at": incoming.received_at or now,
        }

    async def _process(
        self, session: AsyncSession, incoming: Incoming, now: datetime, *, only_new: bool
    ) -> list[Reply] | None:
        """The replies; None when the message was handled before (or, ``only_new``, accepted)."""
        # Core statements for the dedupe row and the replies: they are on every message's path,
        # and the ORM's object bookkeeping cost more than the statements themselves.
        connection = await session.connection()
        seen = (await connection.execute(_SEEN, _inbound_key(incoming))).first()
        if seen is not None and (only_new or seen.status is not InboundStatus.RECEIVED):
            return None

        person = await person_by_identity(session, incoming.channel, incoming.address)
        conversation = await load_conversation(session, incoming.channel, incoming.address)
        language = _language(person, conversation)
        replies: list[Reply] = []
        if not self.is_valid_state(conversation.flow, conversation.step):
            log.warning("dropping unknown state %s/%s", conversation.flow, conversation.step)
            conversation.reset()
        if conversation.expired(now):
            conversation.reset()
            replies.append(Reply(self._catalogue.t(language, "engine.started_over")))

        ctx = Context(
            session=session,
            now=now,
            channel=incoming.channel,
            address=incoming.address,
            person=person,
            language=language,
            data=conversation.answers(),
            # Skills, components, materials and areas by their names in this transaction.
            catalogue=self._catalogue.with_names(await load_names(session)),
            media=incoming.media,
            documents=self._documents,
            matcher=self._matcher,
            policy=self._admin_policy,
            attachments=self._attachments,
        )
        # Typed words are cleaned once, here at the edge, before any step or command reads them
        # (domain/text.py says what goes); the inbound record keeps what the channel delivered.
        said = dataclasses.replace(incoming, text=clean_text(incoming.text, multiline=True))
        menu_shown = conversation.choices if conversation.flow == MENU else ()
        earlier = conversation.business_choices
        if earlier is not None and _is_menu(earlier.choices):
            menu_shown = menu_shown or earlier.choices  # a number picked from a menu shown before
        replies.extend(await self._respond(ctx, conversation, said))
        self._remember_list(ctx, conversation, replies, menu_shown)

        person = ctx.person  # a registration may have just created them
        conversation.person_id = None if person is None else person.id
        flow = None if conversation.idle else self._flows[conversation.flow]
        conversation.expires_at = (
            now + self._idle_timeout if flow is not None and flow.times_out else None
        )
        await save_conversation(session, conversation, now=now)
        await session.flush()  # whatever the flow added goes in before our Core statements
        handled = {
            "status": InboundStatus.PROCESSED,
            "processed_at": now,
            "person_id": conversation.person_id,
        }
        if seen is None:
            # Recorded only now, already handled: one statement instead of an insert and an
            # update. The same message handled at the same moment elsewhere makes this insert
            # fail on the unique provider id, and ``handle`` retries into the dedupe above.
            inserted = await connection.execute(
                _INBOUND.insert()
                .values(**self._new_inbound_values(incoming, now), **handled)
                .returning(_INBOUND.c.id)
            )
            inbound_id = inserted.scalar_one()
        else:
            inbound_id = seen.id
            await connection.execute(
                _INBOUND.update().where(_INBOUND.c.id == inbound_id).values(**handled)
            )
        await enqueue_replies(
            session,
            channel=incoming.channel,
            address=incoming.address,
            replies=replies,
            now=now,
            person_id=conversation.person_id,
            in_reply_to=inbound_id,
        )
        # After the state is saved and the replies queued: a business message to this same
        # person goes after the replies, and remembers its choices on the state just saved.
        await self._registry.notify(
            session,
            events.drain(session),
            catalogue=ctx.catalogue,
            now=now,
            band=RevenueBand(self._admin_policy.share_low, self._admin_policy.share_high),
        )
        await session.flush()
        return replies

    async def _respond(
        self, ctx: Context, conversation: Conversation, incoming: Incoming
    ) -> list[Reply]:
        business = (
            None if self._wants_count(conversation) else _business_choice(conversation, incoming)
        )  # a number typed to "how many?" is its count, whatever list came since
        # The web chat shows messages held on WhatsApp: the newest one there takes a "1".
        held = await self._held_choice(ctx, conversation, incoming)
        earlier = conversation.business_choices
        if held is not None:
            business = held
        elif business is not None and earlier and await self._stale_number(ctx, earlier.choices):
            # Other messages came since that list: "2" is ambiguous, so nothing is picked.
            conversation.forget_business()
            business = None
            if conversation.idle:
                said = Reply(ctx.t("polish.number_stale", text=quoted(incoming.text.strip())))
                return [said, *await self._home(ctx, conversation)]
        if business is not None:
            # "2" answering a business message (a verify request, a job offer) is its button.
            chosen, about = business
            conversation.forget_business()
            pressed = dataclasses.replace(incoming, text="", button_payload=chosen.payload)
            said = Reply(ctx.t("engine.business_choice", label=chosen.label, message=about))
            return [said, *await self._respond(ctx, conversation, pressed)]
        command = parse_global(incoming.text, incoming.button_payload)
        if command is not None:
            return await self._global(command, ctx, conversation)
        payload = incoming.button_payload
        if payload is not None and payload.startswith(MENU_BUTTON) and await self._has_menu(ctx):
            return await self._menu_button(ctx, conversation, payload.removeprefix(MENU_BUTTON))
        role = None if ctx.person is None else ctx.person.role
        slash = parse_slash(
            incoming.text, incoming.button_payload, button_commands=self._commands.buttons
        ) or self._commands.typed(incoming.text, incoming.button_payload, role)
        if slash is not None:
            result = await self._commands.run(ctx, slash)
            if isinstance(result, Start):
                return await self._start(ctx, conversation, result)
            declared = self._commands.get(slash.name)
            if declared is not None and conversation.flow in declared.closes:
                conversation.reset()
            return result
        if incoming.media and not self._wants_media(conversation):
            return await self._unasked_media(ctx, conversation, incoming)
        if conversation.idle:
            return await self._idle(ctx, conversation, incoming)
        return await self._step(ctx, conversation, incoming)

    def _remember_list(
        self,
        ctx: Context,
        conversation: Conversation,
        replies: list[Reply],
        menu_shown: tuple[Choice, ...],
    ) -> None:
        """Keep the newest numbered list the person was shown, so a bare number picks from it.

        The open question's own list is kept with the question; any other (a finished reply's,
        the at-risk list, the menu an item was just chosen from) is remembered like a business
        message's until a newer list is shown.
        """
        listed = [reply for reply in replies if reply.choices]
        if listed:
            last = listed[-1]
            if not conversation.idle and last.choices == conversation.choices:
                conversation.forget_business()  # the open question's list is the newest
            else:
                conversation.remember_business(last.choices, last.text)
        elif conversation.idle and menu_shown:
            # An item chosen from the menu answered without a list: the menu is still the
            # last list on screen, and "2" picks its second item.
            conversation.remember_business(menu_shown, self._menu_title(ctx))

    # --- what works from anywhere: older menus' buttons, photos sent unasked ------------------

    async def _has_menu(self, ctx: Context) -> bool:
        """Whether the person has a menu: registered, and not an artisan waiting for a visit."""
        if ctx.person is None:
            return False
        if ctx.person.role is Role.ARTISAN:
            profile = await ctx.session.get(ArtisanProfile, ctx.person.id)
            return profile is None or profile.status is not ArtisanStatus.PENDING
        return True

    async def _menu_button(self, ctx: Context, conversation: Conversation, key: str) -> list[Reply]:
        """A ``menu:<key>`` button from any menu, however old: that item of the person's menu,
        leaving whatever was open (as MENU would)."""
        assert ctx.person is not None  # _has_menu
        item = item_for(self._registry.menus, ctx.person.role, key)
        if item is None:  # not on their menu (any more): say so, show what is possible now
            return await self._stale_button(ctx, conversation)
        conversation.reset()
        ctx.data = conversation.data
        result = await run_item(ctx, item)
        if isinstance(result, Start):
            return await self._start(ctx, conversation, result)
        # The menu the button was on is the last list used: "2" next picks its second item
        # (unless these replies show a newer list: see ``_remember_list``).
        conversation.remember_business(self._menu_choices(ctx), self._menu_title(ctx))
        return result

    def _menu_choices(self, ctx: Context) -> tuple[Choice, ...]:
        items = () if ctx.person is None else self._registry.menus.get(ctx.person.role, ())
        return tuple(Choice(f"{MENU_BUTTON}{i.key}", ctx.t(i.label_msgid)) for i in items)

    def _menu_title(self, ctx: Context) -> str:
        return ctx.t("menu.title", name="" if ctx.person is None else ctx.person.name)

    async def _stale_button(self, ctx: Context, conversation: Conversation) -> list[Reply]:
        """A button whose question is no longer open: one line, then the open question again,
        or the menu."""
        return [Reply(ctx.t("engine.button_expired")), *await self._resume(ctx, conversation)]

    async def _held_choice(
        self, ctx: Context, conversation: Conversation, incoming: Incoming
    ) -> tuple[Choice, str] | None:
        """A bare number typed in the web chat under the person's newest message when that is
        one held on another channel (shown on the page, ``conversations.numbered``): its choice,
        as ``_business_choice`` would pick it from a message sent to this address."""
        if incoming.button_payload is not None or incoming.media or ctx.person is None:
            return None
        if self._wants_count(conversation):  # "how many?" takes a number as its count
            return None
        if not (conversation.idle or conversation.choices) or _number(incoming.text) is None:
            return None
        held = await held_choices(ctx.session, ctx.channel, ctx.address, ctx.person.id)
        if held is None:
            return None
        choices, about = held
        index = _number(incoming.text)
        assert index is not None
        return (choices[index - 1], about) if 1 <= index <= len(choices) else None

    async def _stale_number(self, ctx: Context, choices: tuple[Choice, ...]) -> bool:
        """Whether a typed bare number would pick from ``choices`` although they are not on the
        newest message the person was sent (``conversations.numbered``): anything said since
        makes the number ambiguous. Menus are never stale: their items only open things."""
        if not choices or _is_menu(choices):
            return False
        person_id = None if ctx.person is None else ctx.person.id
        seen = await on_latest_message(ctx.session, ctx.channel, ctx.address, choices, person_id)
        return not seen

    def _wants_count(self, conversation: Conversation) -> bool:
        if conversation.idle or not self.is_valid_state(conversation.flow, conversation.step):
            return False
        return self._flows[conversation.flow].step(conversation.step).expects is Expect.QUANTITY

    def _wants_media(self, conversation: Conversation) -> bool:
        if conversation.idle:
            return False
        return self._flows[conversation.flow].step(conversation.step).expects is Expect.MEDIA

    async def _unasked_media(
        self, ctx: Context, conversation: Conversation, incoming: Incoming
    ) -> list[Reply]:
        """Files no open question asked for. Photos start what the person's role does with
        them (an artisan's "submit finished work"); anything else gets a polite line."""
        person = ctx.person
        start = None if person is None else self._registry.photos.get(person.role)
        photos = all(item.is_image for item in incoming.media)
        if start is not None and photos and await self._has_menu(ctx):
            ctx.caption = incoming.text.strip()  # "6 pieces": the count, when it is clear
            result = await start(ctx)
            if isinstance(result, Start):
                return await self._start(ctx, conversation, result)
            return [*result, *await self._resume(ctx, conversation)]
        if person is not None and person.role is Role.ADMIN and _is_csv(incoming.media):
            # A file of orders sent without its caption: say which caption imports it.
            caption = Reply(ctx.t("admin.csv_without_caption"))
            return [caption, *await self._resume(ctx, conversation)]
        if not conversation.idle:
            return await self._step(ctx, conversation, incoming)  # the step's own hint
        if person is None:  # a stranger's first message, whatever it holds: the welcome
            return await self._home(ctx, conversation)
        hint = N_("engine.photo_not_needed") if photos else _media_hint(incoming.media)
        return [Reply(ctx.t(hint)), *await self._home(ctx, conversation)]

    async def _idle(
        self, ctx: Context, conversation: Conversation, incoming: Incoming
    ) -> list[Reply]:
        """Nothing in progress: a greeting (or anything from a stranger) gets home; a menu item
        typed by name runs; anything else is not understood, said so, and the menu shown."""
        if incoming.button_payload is not None:  # a button nothing above took
            return await self._stale_button(ctx, conversation)
        text = incoming.text.strip()
        if not text or is_greeting(text) or not await self._has_menu(ctx):
            return await self._home(ctx, conversation)
        named = _by_words(text, self._menu_choices(ctx))
        if named is not None:
            return await self._menu_button(
                ctx, conversation, named.payload.removeprefix(MENU_BUTTON)
            )
        said = Reply(ctx.t("engine.didnt_understand", text=quoted(text)))
        return [said, *await self._home(ctx, conversation)]

    # --- flows --------------------------------------------------------------------------------

    async def _home(self, ctx: Context, conversation: Conversation) -> list[Reply]:
        """Where someone with nothing in progress lands: registration, a wait, or the menu."""
        conversation.reset()
        if ctx.person is None:
            return [await self._enter(ctx, conversation, REGISTRATION)]
        if ctx.person.role is Role.ARTISAN:
            profile = await ctx.session.get(ArtisanProfile, ctx.person.id)
            if profile is not None and profile.status is ArtisanStatus.PENDING:
                return [Reply(ctx.t("registration.pending", name=ctx.person.name))]
        return [await self._enter(ctx, conversation, MENU)]

    async def _enter(self, ctx: Context, conversation: Conversation, name: str) -> Reply:
        flow = self._flows[name]
        conversation.enter(flow.name, flow.first)
        return await self._prompt(ctx, conversation)

    async def _prompt(self, ctx: Context, conversation: Conversation) -> Reply:
        """Ask the current step's question and remember the choices offered with it."""
        ctx.data = conversation.data
        reply = await self._flows[conversation.flow].step(conversation.step).prompt(ctx)
        conversation.offer(reply.choices)
        return reply

    async def _step(
        self, ctx: Context, conversation: Conversation, incoming: Incoming
    ) -> list[Reply]:
        flow = self._flows[conversation.flow]
        step = flow.step(conversation.step)
        ctx.choices = conversation.choices
        payload = incoming.button_payload
        if payload is not None and all(offered.payload != payload for offered in ctx.choices):
            return await self._stale_button(ctx, conversation)
        typed = incoming.text.strip()
        # Other messages came since the question's list: a typed "1" picks nothing from it.
        stale = payload is None and _number(typed) is not None
        stale = stale and step.expects is not Expect.QUANTITY  # there a number is a count
        stale = stale and await self._stale_number(ctx, ctx.choices)
        stale_said = ctx.t("polish.number_stale_question", text=quoted(typed)) if stale else ""
        if stale and step.expects is Expect.CHOICE:
            return [Reply(stale_said, choices=ctx.choices)]
        # A question that also takes typed words reads the number as words (a count), not a pick.
        screened = Answer(typed) if stale else self._screen(ctx, step.expects, incoming)
        if isinstance(screened, str):
            return [Reply(screened, choices=ctx.choices)]
        outcome = await step.answer(ctx, screened)
        if isinstance(outcome, Ask):
            return [Reply(stale_said or outcome.problem, choices=ctx.choices)]
        conversation.data = ctx.data
        if isinstance(outcome, Goto):
            flow.check(conversation.step, outcome.step)
            conversation.advance(outcome.step)
            return [*outcome.say, await self._prompt(ctx, conversation)]
        flow.check(conversation.step, DONE)
        if isinstance(outcome, Start):
            return await self._start(ctx, conversation, outcome)
        conversation.reset()
        return list(outcome.say)

    async def _start(self, ctx: Context, conversation: Conversation, start: Start) -> list[Reply]:
        """Leave whatever was in progress and begin ``start.flow`` with its seed data."""
        if start.flow not in self._flows:
            raise ValueError(f"no flow named {start.flow!r}")
        flow = self._flows[start.flow]
        if start.step is not None and start.step not in flow.steps:
            raise ValueError(f"flow {start.flow!r} has no step {start.step!r}")
        conversation.reset()
        conversation.enter(flow.name, start.step or flow.first)
        conversation.data.update(start.data)
        return [*start.say, await self._prompt(ctx, conversation)]

    def _screen(self, ctx: Context, expects: Expect, incoming: Incoming) -> Answer | str:
        """The answer a step can use, or a short hint saying what we need instead."""
        if incoming.button_payload is not None:
            for offered in ctx.choices:
                if offered.payload == incoming.button_payload:
                    return Answer(offered.label, offered)
            return ctx.t("engine.button_expired")  # (``_step`` answers stale buttons first)
        if incoming.media:
            if expects is Expect.MEDIA:
                return Answer(incoming.text.strip(), None, incoming.media)
            return ctx.t(_media_hint(incoming.media))
        text = incoming.text.strip()
        if not text:
            return ctx.t("engine.empty")
        if len(text) > MAX_TEXT_LENGTH:
            return ctx.t("engine.too_long", max=MAX_TEXT_LENGTH)
        if not any(ch.isalnum() for ch in text):
            return ctx.t("engine.not_understood")
        # A quantity question's "1" is one piece: its shortcuts are taken by words only.
        choice = (
            _by_words(text, ctx.choices)
            if expects is Expect.QUANTITY
            else _resolve(text, ctx.choices)
        )
        if expects is Expect.CHOICE and choice is None:
            return ctx.unclear(text)
        return Answer(text, choice)

    # --- global words -------------------------------------------------------------------------

    async def _global(
        self, command: GlobalCommand, ctx: Context, conversation: Conversation
    ) -> list[Reply]:
        person = ctx.person
        match command.command:
            case Global.STOP:
                if person is not None and person.id is not None:
                    await set_opted_out(ctx.session, person_id=person.id, opted_out=True)
                else:
                    conversation.reset()
                return [Reply(ctx.t("engine.stopped"))]
            case Global.START:
                replies = []
                if person is not None and person.id is not None and person.opted_out:
                    await set_opted_out(ctx.session, person_id=person.id, opted_out=False)
                    replies.append(Reply(ctx.t("engine.started")))
                return replies + await self._resume(ctx, conversation)
            case Global.HELP:
                return [Reply(self._help(ctx)), *await self._reprompt(ctx, conversation)]
            case Global.MENU:
                if person is None and not conversation.idle:
                    return [Reply(self._help(ctx)), *await self._reprompt(ctx, conversation)]
                return await self._home(ctx, conversation)
            case Global.CANCEL:
                if conversation.idle:
                    return [
                        Reply(ctx.t("engine.nothing_to_cancel")),
                        *await self._home(ctx, conversation),
                    ]
                conversation.reset()
                if person is None:
                    return [Reply(ctx.t("engine.cancelled_registration"))]
                return [Reply(ctx.t("engine.cancelled")), *await self._home(ctx, conversation)]
            case Global.BACK:
                if conversation.idle:
                    return await self._home(ctx, conversation)
                if conversation.go_back() is None:
                    return [
                        Reply(ctx.t("engine.back_at_start")),
                        *await self._reprompt(ctx, conversation),
                    ]
                return [await self._prompt(ctx, conversation)]
            case Global.LANGUAGE:
                if command.language is None:
                    return [Reply(ctx.t("engine.language_how"))]
                if person is not None and person.id is not None:
                    await set_language(ctx.session, person_id=person.id, language=command.language)
                conversation.data["lang"] = str(command.language)
                ctx.language = command.language
                return [
                    Reply(ctx.t("engine.language_set")),
                    *await self._reprompt(ctx, conversation),
                ]
        raise AssertionError(f"unhandled global command {command}")  # pragma: no cover

    async def _resume(self, ctx: Context, conversation: Conversation) -> list[Reply]:
        if conversation.idle:
            return await self._home(ctx, conversation)
        return await self._reprompt(ctx, conversation)

    async def _reprompt(self, ctx: Context, conversation: Conversation) -> list[Reply]:
        return [] if conversation.idle else [await self._prompt(ctx, conversation)]

    def _help(self, ctx: Context) -> str:
        text = ctx.t("engine.help")
        if ctx.person is None:
            return ctx.t("engine.help_unregistered") + "\n\n" + text
        commands = [ctx.t(msgid) for msgid in self._commands.usage_for(ctx.person.role)]
        if commands:
            text += "\n\n" + ctx.t("engine.help_commands") + "\n" + "\n".join(commands)
        return text

    # --- failure ------------------------------------------------------------------------------

    async def _record_failure(
        self, incoming: Incoming, now: datetime, *, only_new: bool
    ) -> list[Reply] | None:
        """Mark the message failed (so a redelivery does not fail again) and apologise."""
        async with self._store.transaction() as session:
            inbound = await self._inbound(session, incoming)
            if inbound is not None and (only_new or inbound.status is not InboundStatus.RECEIVED):
                return None
            if inbound is None:
                inbound = self._new_inbound(incoming, now)
                session.add(inbound)
            inbound.status = InboundStatus.FAILED
            inbound.processed_at = now
            await session.flush()
            person = await person_by_identity(session, incoming.channel, incoming.address)
            language = person.language if person is not None else Language.EN
            reply = Reply(self._catalogue.t(language, "engine.failed"))
            await enqueue(
                session,
                channel=incoming.channel,
                address=incoming.address,
                reply=reply,
                kind=OutboxKind.REPLY,
                now=now,
                person_id=None if person is None else person.id,
                in_reply_to=inbound.id,
            )
            return [reply]


_INBOUND: sa.Table = InboundMessage.__table__  # type: ignore[attr-defined]
_SEEN = (
    sa.select(_INBOUND.c.id, _INBOUND.c.status)
    .where(
        _INBOUND.c.channel == sa.bindparam("channel"),
        _INBOUND.c.provider_message_id == sa.bindparam("provider_id"),
    )
    .with_for_update()
)


def _inbound_key(incoming: Incoming) -> dict[str, Any]:
    return {"channel": incoming.channel, "provider_id": incoming.provider_message_id}


def _language(person: Person | None, conversation: Conversation) -> Language:
    if person is not None:
        return person.language
    try:
        return Language(conversation.data.get("lang", Language.EN))
    except ValueError:
        return Language.EN


def _media_hint(media: tuple[MediaItem, ...]) -> str:
    kinds = {item.content_type.split("/", 1)[0] for item in media}
    if "audio" in kinds:
        return N_("engine.voice_not_expected")
    if kinds == {"image"}:
        return N_("engine.photo_not_expected")
    return N_("engine.media_not_expected")


_CSV_TYPES = frozenset(
    {"text/csv", "application/csv", "text/comma-separated-values", "application/vnd.ms-excel"}
)


def _is_csv(media: tuple[MediaItem, ...]) -> bool:
    """Whether the files sent are one spreadsheet of rows (a CSV), as /import_orders takes."""
    return len(media) == 1 and (
        media[0].content_type.split(";")[0].strip() in _CSV_TYPES
        or media[0].ref.casefold().endswith(".csv")
    )


def _number(text: str) -> int | None:
    """The option number a reply is, if it is nothing but one: "2", "2." or "2)"."""
    return or_none(whole_number, text, most=MAX_OPTION)


def _business_choice(conversation: Conversation, incoming: Incoming) -> tuple[Choice, str] | None:
    """The business message's option a bare number picks, with a few words of that message.

    Only while that message's list is the newest numbered list the person was shown (any later
    list forgets it), and only when the number cannot be an answer to the flow: nothing is in
    progress, or the open question offers numbered choices itself (older than the business
    message). A question waiting for a typed number (how many pieces?) keeps its answer.
    """
    business = conversation.business_choices
    if business is None or incoming.button_payload is not None or incoming.media:
        return None
    if not (conversation.idle or conversation.choices):
        return None
    index = _number(incoming.text)
    if index is None or not 1 <= index <= len(business.choices):
        return None
    return business.choices[index - 1], business.about


def _resolve(text: str, choices: tuple[Choice, ...]) -> Choice | None:
    """The choice a typed reply means: its number ("2", "2."), or its label or a close word
    (see ``_by_words``)."""
    index = _number(text)
    if index is not None:
        return choices[index - 1] if 1 <= index <= len(choices) else None
    return _by_words(text, choices)


def _is_menu(choices: tuple[Choice, ...]) -> bool:
    return all(choice.payload.startswith(MENU_BUTTON) for choice in choices)


def _fold(text: str) -> str:
    """Words as compared with a label: no accents, no case, no punctuation, single spaces."""
    bare = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    return " ".join("".join(ch if ch.isalnum() else " " for ch in bare.casefold()).split())


def _by_words(text: str, choices: tuple[Choice, ...]) -> Choice | None:
    """The one choice whose label the words name: the label itself (any case or accents), else
    the only label they begin or whose words they all are or begin ("horn" for "horn carving",
    "carving", "my jobs"); two such labels ("kazi" in three menu items) name none. A few short
    words at most: a sentence is an answer, not a choice."""
    typed = _fold(text)
    if not typed:
        return None
    labels = [(choice, _fold(choice.label)) for choice in choices]
    for choice, label in labels:
        if label == typed:
            return choice
    if len(typed) < MIN_PREFIX or len(typed.split()) > 3:
        return None

    def names(label: str) -> bool:
        if label.startswith(typed):
            return True
        words = label.split()
        return all(
            any(w == word or (len(word) >= MIN_PREFIX and w.startswith(word)) for w in words)
            for word in typed.split()
        )

    named = [choice for choice, label in labels if names(label)]
    return named[0] if len(named) == 1 else None


__all__ = ["DEFAULT_IDLE_TIMEOUT", "MAX_TEXT_LENGTH", "ConversationBusy", "Engine"]
