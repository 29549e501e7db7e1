"""The outbox dispatcher: sends what the engine and the scheduler queued, to WhatsApp and Telegram.

Order. Messages to one address go strictly in ``sequence`` order: only the oldest message still
queued or sending for an address (its *head*) is ever picked, so message n+1 is never handed to a
provider before message n was accepted. A head waiting out a backoff holds back the rest of its
address; a message that failed for good or became a dead letter no longer does.

Retries. Rate limits (Twilio 63018, HTTP 429, Telegram's RetryAfter) and transient trouble are
retried with exponential backoff and full jitter, never sooner than the provider asked; after
``max_attempts`` tries the message becomes a dead letter, which ``dead_letters`` lists for admins
and ``retry`` queues again. Other refusals fail at once with the provider's code recorded:
21610 (the person replied STOP) also marks the person opted out; window and template errors
(63016, 63041, 21656) stay on the message for admins to see.

The WhatsApp 24-hour customer window. A person's window opens with each message they send us (the
latest ``InboundMessage.received_at`` for their address). Outside it a free-form message would be
refused, so the dispatcher sends the configured content template (the message text as ``{{1}}``)
instead; with no template configured the message is *held* (``error_code = "no_template"``) and
released the moment the person writes again.

A channel with no sender. A message queued for WhatsApp or Telegram while that channel is not
configured (the local demo: offers to WhatsApp-only artisans) is held too (``error_code =
"no_channel"``, marked at start-up and on each pass), so ``/healthz`` and ``/deadletters`` count
it; it goes out as soon as a process with the channel configured picks it up.

Per-channel rate limit: a token bucket per channel (Twilio's WhatsApp default is about 10/s).
At most ``max_in_flight`` sends per channel wait on a provider at once (default 8): a pass may
hold 50 heads, and python-telegram-bot's httpx pool spends about 2.5 times the CPU per request
with 50 in flight as with 8 for the same throughput (docs/benchmarks.md, inbound chat).

Crash safety, and the one duplicate case. A message is marked SENDING in a committed transaction
before the provider is called, and SENT with the provider's id in another after. A crash between
the two leaves it SENDING; ``recover()`` (run at start-up) queues such messages again. (Those
transactions are shared: one pass claims all its heads in one, and sends that finish together
are marked SENT in one, see bot/group_commit.py; each message's own order of events is the
same.) Neither Twilio's Messages API nor Telegram's Bot API accepts an idempotency key, so if the
provider had accepted the message before the crash the person receives it twice: delivery is
at-least-once, and this window is the only way a duplicate arises. Nothing is ever lost: a
message leaves the outbox only by being accepted, failing for a recorded reason, or being dead.

Console and web chat messages are not sent from here: those channels read their own outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.send_errors import SendError, SendFailure
from bot.channels.whatsapp import Template
from bot.group_commit import GroupCommit
from bot.rate_limit import TokenBucket
from conversations.messages import Reply
from conversations.outbox import enqueue
from domain.errors import IllegalTransition, NotFound
from domain.model import (
    OUTBOX_TRANSITIONS,
    Channel,
    ChannelIdentity,
    InboundMessage,
    Language,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from domain.phone import mask
from domain.services import dead_letters as shared_dead_letters
from domain.services.dead_letters import HELD, NO_SENDER
from domain.store import Store

log = logging.getLogger(__name__)

CUSTOMER_WINDOW = timedelta(hours=24)
HOLD_RECHECK = timedelta(minutes=15)
OPTED_OUT = "opted_out"
_ACTIVE = (OutboxStatus.QUEUED, OutboxStatus.SENDING)
# The chat channels sent from here (the console and the web chat read their own outbox): what is
# queued for one of them while it has no sender is held.
CHAT_CHANNELS = (Channel.WHATSAPP, Channel.TELEGRAM, Channel.SMS)
_TEMPLATE_TEXT_LIMIT = 1000  # WhatsApp's limit for one template variable is 1024 characters


class Sender(Protocol):
    async def send(self, address: str, reply: Reply) -> str: ...


class TemplateSender(Sender, Protocol):
    async def send_template(self, address: str, template: Template) -> str: ...


Gate = Callable[[AsyncSession, OutboxMessage, datetime], Awaitable[datetime | None]]
"""A channel's last word before a message is claimed (the SMS budgets): None to send it now,
or when to look again; it holds the message in order, setting its own ``error_code``."""

Templates = Mapping[str, str | Mapping[str, str]]
"""WHATSAPP_TEMPLATE_SIDS: topic -> content SID, or topic -> language -> content SID."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of base * 2^(n-1)."""

    base: float = 2.0
    cap: float = 900.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * float(2 ** max(attempt - 1, 0)))
        return ceiling * (0.5 + rng.random() / 2)


@dataclass(frozen=True, slots=True)
class _Claim:
    id: int
    channel: Channel
    address: str
    reply: Reply
    template: Template | None


class Dispatcher:
    def __init__(
        self,
        store: Store,
        senders: Mapping[Channel, Sender],
        *,
        clock: Callable[[], datetime],
        templates: Templates | None = None,
        rates: Mapping[Channel, float] | None = None,
        gates: Mapping[Channel, Gate] | None = None,
        max_attempts: int = 8,
        backoff: Backoff | None = None,
        poll_interval: float = 0.5,
        batch_size: int = 50,
        max_in_flight: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        if Channel.CONSOLE in senders or Channel.WEB in senders:
            raise ValueError("console and web chat read their own outbox; do not dispatch them")
        self._store = store
        self._senders = dict(senders)
        self._clock = clock
        self._templates = dict(templates or {})
        self._gates = dict(gates or {})
        self._buckets = {
            channel: TokenBucket((rates or {}).get(channel, 10.0)) for channel in self._senders
        }
        self._max_attempts = max_attempts
        self._backoff = backoff or Backoff()
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._in_flight = {channel: asyncio.Semaphore(max_in_flight) for channel in self._senders}
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self._sent = GroupCommit[tuple[int, str]](self._mark_sent)
        self._wake = asyncio.Event()
        self._stopping = False
        self._running = False
        self.last_pass: datetime | None = None

    @property
    def channels(self) -> frozenset[Channel]:
        return frozenset(self._senders)

    @property
    def running(self) -> bool:
        return self._running

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    # --- the loop ----------------------------------------------------------------------------

    async def recover(self) -> int:
        """Queue again what a crash left SENDING (see the module docstring: at-least-once)."""
        await self.hold_unsendable()
        if not self._senders:
            return 0
        now = self._clock()
        async with self._store.transaction(urgent=True) as session:
            stuck = list(
                await session.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.status == OutboxStatus.SENDING,
                        col(OutboxMessage.channel).in_(self.channels),
                    )
                )
            )
            for message in stuck:
                message.status = OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.QUEUED)
                message.next_attempt_at = now
        if stuck:
            log.warning("re-queued %d message(s) left sending by a crash", len(stuck))
        return len(stuck)

    async def run(self) -> None:
        """Dispatch until ``stop()``; the pass in progress finishes first."""
        self._running = True
        try:
            while not self._stopping:
                try:
                    sent = await self.dispatch_due()
                except Exception:  # a database hiccup must not end the dispatcher
                    log.exception("outbox pass failed; trying again shortly")
                    sent = 0
                if sent == 0 and not self._stopping:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
        finally:
            self._running = False

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def flush(self, *, grace: float) -> None:
        """Send whatever is due now (at shutdown), for at most ``grace`` seconds."""
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if (
                await asyncio.wait_for(self.dispatch_due(), timeout=deadline - time.monotonic())
                == 0
            ):
                return

    async def hold_unsendable(self) -> int:
        """Mark what is queued for a channel with no sender as held (``NO_SENDER``), so that
        admins see it waiting; returns how many were marked now."""
        unsent = [channel for channel in CHAT_CHANNELS if channel not in self._senders]
        if not unsent:
            return 0
        waiting = sa.and_(
            col(OutboxMessage.channel).in_(unsent),
            col(OutboxMessage.status) == OutboxStatus.QUEUED,
            sa.or_(
                col(OutboxMessage.error_code).is_(None), col(OutboxMessage.error_code) != NO_SENDER
            ),
        )
        # Nearly always nothing new: look in a snapshot first, so a pass takes no write lock.
        async with self._store.read() as session:
            found = (await session.exec(select(OutboxMessage.id).where(waiting).limit(1))).first()
        if found is None:
            return 0
        async with self._store.transaction() as session:
            connection = await session.connection()
            marked = await connection.execute(
                sa.update(OutboxMessage).where(waiting).values(error_code=NO_SENDER)
            )
        count = int(marked.rowcount or 0)
        if count:
            log.warning(
                "%d outbox message(s) held: no sender is configured for %s",
                count,
                ", ".join(str(channel) for channel in unsent),
            )
        return count

    async def dispatch_due(self) -> int:
        """One pass: every address's head, if due, sent concurrently. Returns how many were
        handed to a provider (or failed trying)."""
        await self.hold_unsendable()
        if not self._senders:
            return 0
        now = self._clock()
        self.last_pass = now
        # A snapshot is enough to find candidates: the claim re-reads each one, locked.
        async with self._store.read() as session:
            due = await _due_heads(session, self.channels, now, self._batch_size)
        if not due:
            return 0
        claims = await self._claim(due)
        results = await asyncio.gather(*(self._deliver(claim) for claim in claims))
        return sum(results)

    # --- one message -------------------------------------------------------------------------

    async def _deliver(self, claim: _Claim) -> bool:
        sender = self._senders[claim.channel]
        try:
            # The token is taken inside the slot, so sends leave at the bucket's pace, not in a
            # burst of tokens taken earlier by sends that then queued for a slot.
            async with self._in_flight[claim.channel]:
                await self._buckets[claim.channel].take()
                if claim.template is not None:
                    provider_id = await _as_template_sender(sender).send_template(
                        claim.address, claim.template
                    )
                else:
                    provider_id = await sender.send(claim.address, claim.reply)
        except SendError as error:
            await self._failed(claim, error)
            return True
        except Exception as exc:  # an adapter bug or an unexpected library error: retry later
            log.exception("sending outbox message %s raised", claim.id)
            await self._failed(
                claim,
                SendError(repr(exc), channel=claim.channel.value, failure=SendFailure.TRANSIENT),
            )
            return True
        await self._sent.submit((claim.id, provider_id))
        log.info(
            "sent outbox message %s",
            claim.id,
            extra={"channel": claim.channel.value, "to": _masked(claim.address)},
        )
        return True

    async def _mark_sent(self, sent: Sequence[tuple[int, str]]) -> None:
        """Record the provider's acceptance of each (message id, provider id), in one commit."""
        table = OutboxMessage.__table__  # type: ignore[attr-defined]
        statement = (
            sa.update(table)
            .where(
                table.c.id == sa.bindparam("message_id"),
                table.c.status == OutboxStatus.SENDING,
            )
            .values(
                status=OutboxStatus.SENT,
                provider_message_id=sa.bindparam("provider_id"),
                error_code=None,
                sent_at=sa.bindparam("sent_at"),
                # What an SMS cost (bot/channels/sms.py's SmsReceipt); None for the others.
                segments=sa.bindparam("segments"),
                cost_e4=sa.bindparam("cost_e4"),
                cost_currency=sa.bindparam("cost_currency"),
            )
        )
        now = self._clock()
        async with self._store.transaction(urgent=True) as session:
            connection = await session.connection()
            await connection.execute(
                statement,
                [
                    {
                        "message_id": message_id,
                        "provider_id": str(pid),
                        "sent_at": now,
                        "segments": getattr(pid, "segments", None),
                        "cost_e4": getattr(pid, "cost_e4", None),
                        "cost_currency": getattr(pid, "cost_currency", None),
                    }
                    for message_id, pid in sent
                ],
            )

    async def _claim(self, message_ids: Sequence[int]) -> list[_Claim]:
        """Mark each message SENDING, or hold or skip it, and commit: the ones to send now."""
        now = self._clock()
        claims: list[_Claim] = []
        async with self._store.transaction(urgent=True) as session:
            messages = await session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.id).in_(message_ids))
                .order_by(col(OutboxMessage.id))
                .with_for_update()
            )
            for message in messages.all():
                claim = await self._claim_one(session, message, now)
                if claim is not None:
                    claims.append(claim)
        return claims

    async def _claim_one(
        self, session: AsyncSession, message: OutboxMessage, now: datetime
    ) -> _Claim | None:
        if message.status is not OutboxStatus.QUEUED:
            return None
        assert message.id is not None
        if message.kind is OutboxKind.BUSINESS and await _opted_out(session, message):
            message.status = OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.DEAD)
            message.error_code = OPTED_OUT
            return None
        gate = self._gates.get(message.channel)
        if gate is not None:
            until = await gate(session, message, now)
            if until is not None:
                message.next_attempt_at = until
                return None
        reply = Reply.from_json(message.body)
        template = None
        if message.channel is Channel.WHATSAPP and not await _window_open(
            session, message.address, now
        ):
            person = await _person_of(session, message)
            template = self._template_for(reply, None if person is None else person.language)
            if template is None and await self._by_sms(session, message, now, reason=None):
                return None
            if template is None:
                if message.error_code != HELD:
                    log.warning(
                        "holding outbox message %s: outside the 24-hour window and no "
                        "WhatsApp template is configured (WHATSAPP_TEMPLATE_SIDS)",
                        message.id,
                        extra={"to": _masked(message.address)},
                    )
                message.error_code = HELD
                message.next_attempt_at = now + HOLD_RECHECK
                return None
        message.status = OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.SENDING)
        message.attempts += 1
        return _Claim(message.id, message.channel, message.address, reply, template)

    def _template_for(self, reply: Reply, language: Language | None = None) -> Template | None:
        """The content template for ``reply``: its topic's (the first choice's payload prefix)
        or the default, in the person's language when the setting names languages
        (``{"offer": {"sw": "HX..", "en": "HX.."}}``); a plain ``{"offer": "HX.."}`` serves
        every language."""
        topic = reply.choices[0].payload.split(":", 1)[0] if reply.choices else "default"
        content_sid = _sid_for(self._templates.get(topic), language) or _sid_for(
            self._templates.get("default"), language
        )
        if content_sid is None:
            return None
        text = " ".join(reply.text.split())  # template variables may not hold line breaks
        if reply.choices:  # the options as numbers, which work typed whether buttons show or not
            options = (f"{n}. {c.label}" for n, c in enumerate(reply.choices, start=1))
            text = f"{text} — {' · '.join(options)}"
        return Template(content_sid, {"1": text[:_TEMPLATE_TEXT_LIMIT]})

    async def _by_sms(
        self, session: AsyncSession, message: OutboxMessage, now: datetime, *, reason: str | None
    ) -> bool:
        """The fallback: a business message WhatsApp cannot carry (outside the window with no
        template, or refused for good) goes once by SMS, when SMS is configured and the person
        has an SMS identity. The WhatsApp message records the SMS that carried it
        (``error_code`` ``via_sms:<id>``, after the provider's code if there was one), and the
        SMS its origin (``fallback_of``). True when it was queued."""
        if Channel.SMS not in self._senders or message.kind is not OutboxKind.BUSINESS:
            return False
        if message.person_id is None or message.id is None:
            return False
        identity = (
            await session.exec(
                select(ChannelIdentity)
                .where(
                    ChannelIdentity.person_id == message.person_id,
                    ChannelIdentity.channel == Channel.SMS,
                )
                .order_by(col(ChannelIdentity.id))
            )
        ).first()
        if identity is None:
            return False
        carrier = await enqueue(
            session,
            channel=Channel.SMS,
            address=identity.address,
            reply=Reply.from_json(message.body),
            kind=OutboxKind.BUSINESS,
            now=now,
            person_id=message.person_id,
        )
        carrier.fallback_of = message.id
        session.add(carrier)
        mark = f"via_sms:{carrier.id}"
        message.error_code = (mark if reason is None else f"{reason}>{mark}")[:32]
        if message.status is OutboxStatus.QUEUED:
            message.status = OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.DEAD)
        log.info(
            "outbox message %s goes by SMS instead (message %s)",
            message.id,
            carrier.id,
            extra={"channel": "whatsapp", "to": _masked(message.address)},
        )
        self._wake.set()
        return True

    async def _failed(self, claim: _Claim, error: SendError) -> None:
        now = self._clock()
        if error.retry_after:
            self._buckets[claim.channel].pause(error.retry_after)
        async with self._store.transaction(urgent=True) as session:
            message = await _locked(session, claim.id)
            if message is None or message.status is not OutboxStatus.SENDING:
                return
            message.error_code = str(error.code or error.failure.value)[:32]
            if error.retryable and message.attempts < self._max_attempts:
                delay = max(
                    error.retry_after or 0.0, self._backoff.delay(message.attempts, self._rng)
                )
                message.status = OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.QUEUED)
                message.next_attempt_at = now + timedelta(seconds=delay)
                log.info(
                    "outbox message %s will be retried in %.1f s: %s",
                    claim.id,
                    delay,
                    error,
                    extra={"channel": claim.channel.value},
                )
                return
            if error.retryable:
                message.status = OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.DEAD)
                log.error(
                    "outbox message %s is a dead letter after %d attempts: %s",
                    claim.id,
                    message.attempts,
                    error,
                )
                return
            message.status = OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.FAILED)
            log.warning(
                "outbox message %s failed: %s",
                claim.id,
                error,
                extra={"channel": claim.channel.value, "to": _masked(claim.address)},
            )
            if error.failure is SendFailure.OPTED_OUT:
                await _opt_out(session, message)
            elif claim.channel is Channel.WHATSAPP:
                await self._by_sms(session, message, now, reason=message.error_code)


# --- queries -----------------------------------------------------------------------------------


async def _due_heads(
    session: AsyncSession, channels: frozenset[Channel], now: datetime, limit: int
) -> list[int]:
    found = await session.exec(
        _DUE_HEADS, params={"channels": sorted(channels), "now": now, "limit": limit}
    )
    return [message_id for message_id in found if message_id is not None]


# Built once (with its cache key): the dispatcher runs it on every pass, and building the
# subquery and join each time cost about as much as running them.
_HEADS = (
    select(
        OutboxMessage.channel,
        OutboxMessage.address,
        sa.func.min(OutboxMessage.sequence).label("sequence"),
    )
    .where(
        col(OutboxMessage.status).in_(_ACTIVE),
        col(OutboxMessage.channel).in_(sa.bindparam("channels", expanding=True)),
    )
    .group_by(col(OutboxMessage.channel), col(OutboxMessage.address))
    .subquery()
)
_DUE_HEADS = (
    select(OutboxMessage.id)
    .join(
        _HEADS,
        sa.and_(
            col(OutboxMessage.channel) == _HEADS.c.channel,
            col(OutboxMessage.address) == _HEADS.c.address,
            col(OutboxMessage.sequence) == _HEADS.c.sequence,
        ),
    )
    .where(
        OutboxMessage.status == OutboxStatus.QUEUED,
        col(OutboxMessage.next_attempt_at) <= sa.bindparam("now"),
    )
    .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
    .limit(sa.bindparam("limit", type_=sa.Integer))
)


async def _locked(session: AsyncSession, message_id: int) -> OutboxMessage | None:
    return await session.get(OutboxMessage, message_id, with_for_update=True)


async def last_inbound_at(session: AsyncSession, channel: Channel, address: str) -> datetime | None:
    found = await session.exec(_LAST_INBOUND, params={"channel": channel, "address": address})
    latest: datetime | str | None = found.one()
    return None if latest is None else _aware(latest, datetime.now(UTC))


_LAST_INBOUND = select(sa.func.max(InboundMessage.received_at)).where(
    InboundMessage.channel == sa.bindparam("channel"),
    InboundMessage.address == sa.bindparam("address"),
)


async def _window_open(session: AsyncSession, address: str, now: datetime) -> bool:
    latest = await last_inbound_at(session, Channel.WHATSAPP, address)
    return latest is not None and now - latest < CUSTOMER_WINDOW


def _aware(moment: datetime | str, like: datetime) -> datetime:
    # SQLite's max() hands back the stored text without the column type's conversion.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=like.tzinfo)


async def _person_of(session: AsyncSession, message: OutboxMessage) -> Person | None:
    if message.person_id is not None:
        return await session.get(Person, message.person_id)
    identity = (
        await session.exec(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == message.channel,
                ChannelIdentity.address == message.address,
            )
        )
    ).first()
    return None if identity is None else await session.get(Person, identity.person_id)


async def _opted_out(session: AsyncSession, message: OutboxMessage) -> bool:
    person = await _person_of(session, message)
    return person is not None and person.opted_out


async def _opt_out(session: AsyncSession, message: OutboxMessage) -> None:
    """The provider says this person unsubscribed: remember it, and stop what is queued."""
    person = await _person_of(session, message)
    if person is not None:
        person.opted_out = True
        session.add(person)
    queued = await session.exec(
        select(OutboxMessage).where(
            OutboxMessage.channel == message.channel,
            OutboxMessage.address == message.address,
            OutboxMessage.status == OutboxStatus.QUEUED,
        )
    )
    for other in queued:
        other.status = OUTBOX_TRANSITIONS.check(other.status, OutboxStatus.DEAD)
        other.error_code = OPTED_OUT
    log.warning(
        "the recipient unsubscribed; marked opted out",
        extra={"channel": message.channel.value, "to": _masked(message.address)},
    )


def _sid_for(entry: str | Mapping[str, str] | None, language: Language | None) -> str | None:
    """A template setting's content SID for ``language``: the SID itself in the single-level
    form; in the per-language form the person's language, else English, else any."""
    if entry is None or isinstance(entry, str):
        return entry
    if language is not None and language.value in entry:
        return entry[language.value]
    return entry.get(Language.EN.value) or next(iter(entry.values()), None)


async def mark_opted_out(session: AsyncSession, message: OutboxMessage) -> None:
    """A provider's report says this message's person blocked us (Africa's Talking's
    UserInBlacklist, like Twilio's 21610): as ``apply_status`` does for 21610."""
    await _opt_out(session, message)


def _as_template_sender(sender: Sender) -> TemplateSender:
    if not hasattr(sender, "send_template"):
        raise SendError(
            "this channel has no templates", channel="whatsapp", failure=SendFailure.REJECTED
        )
    return sender  # type: ignore[return-value]


def _masked(address: str) -> str:
    return mask(address) if address.startswith("+") else address


# --- status callbacks --------------------------------------------------------------------------

_PROVIDER_STATUS = {
    "sent": OutboxStatus.SENT,
    "delivered": OutboxStatus.DELIVERED,
    "read": OutboxStatus.READ,
    "failed": OutboxStatus.FAILED,
    "undelivered": OutboxStatus.FAILED,
}
_OPT_OUT_CODES = {21610}


async def apply_status(
    store: Store, *, provider_message_id: str, status: str, error_code: int | None
) -> OutboxMessage | None:
    """A provider's status callback: the message's status moves forward only (callbacks arrive
    out of order); a failure records its code, and 21610 marks the person opted out."""
    target = _PROVIDER_STATUS.get(status)
    async with store.transaction() as session:
        message = (
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.provider_message_id == provider_message_id)
                .with_for_update()
            )
        ).first()
        if message is None:
            log.info("status %s for a message we do not know", status)
            return None
        if target is not None and OUTBOX_TRANSITIONS.can(message.status, target):
            message.status = target
            if target is OutboxStatus.FAILED:
                message.error_code = str(error_code) if error_code is not None else "failed"
                log.warning(
                    "outbox message %s was not delivered (error %s)",
                    message.id,
                    message.error_code,
                    extra={"channel": message.channel.value, "to": _masked(message.address)},
                )
        if error_code in _OPT_OUT_CODES:
            await _opt_out(session, message)
        await session.flush()
        return message


# --- for admins --------------------------------------------------------------------------------


async def dead_letters(store: Store, *, limit: int = 100) -> list[OutboxMessage]:
    """Messages that will not be sent without an admin (``domain.services.dead_letters``, the
    same list ``/deadletters`` shows): dead letters, failures with the provider's code, and
    messages held for a template."""
    async with store.transaction() as session:
        rows, _ = await shared_dead_letters.dead_letters(session, limit=limit)
        return [message for message, _person in rows]


class NotRetryable(ValueError):
    pass


async def retry(store: Store, message_id: int, *, now: datetime) -> OutboxMessage:
    """An admin sends a failed or dead message again, from scratch (as ``/retry`` does)."""
    try:
        async with store.transaction() as session:
            return await shared_dead_letters.retry(session, message_id, now=now)
    except NotFound:
        raise NotRetryable(f"there is no outbox message {message_id}") from None
    except IllegalTransition as exc:
        raise NotRetryable(
            f"outbox message {message_id} is {exc.current}; only failed or dead "
            "messages can be retried"
        ) from None


async def release_held(store: Store, channel: Channel, address: str, *, now: datetime) -> int:
    """The person wrote: messages held for their window can go now."""
    # Called after every inbound message and nearly always finds nothing: look in a snapshot
    # first, so the common case takes no write lock. A message held after this snapshot was
    # held by a claim that already saw this person's message, so it is not held for want of it.
    async with store.read() as session:
        any_held = (
            await session.exec(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.channel == channel,
                    OutboxMessage.address == address,
                    OutboxMessage.status == OutboxStatus.QUEUED,
                    OutboxMessage.error_code == HELD,
                )
                .limit(1)
            )
        ).first()
    if any_held is None:
        return 0
    async with store.transaction() as session:
        held = list(
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.channel == channel,
                    OutboxMessage.address == address,
                    OutboxMessage.status == OutboxStatus.QUEUED,
                    OutboxMessage.error_code == HELD,
                )
            )
        )
        for message in held:
            message.error_code = None
            message.next_attempt_at = now
        return len(held)


async def backlog(store: Store, channels: Sequence[Channel]) -> dict[str, int]:
    """How many messages wait to be sent, and how many are dead letters (for /healthz)."""
    async with store.transaction() as session:
        counts = await session.exec(
            select(OutboxMessage.status, sa.func.count())
            .where(col(OutboxMessage.channel).in_(tuple(channels)))
            .group_by(col(OutboxMessage.status))
        )
        by_status = {status: n for status, n in counts}
    return {
        "queued": by_status.get(OutboxStatus.QUEUED, 0),
        "sending": by_status.get(OutboxStatus.SENDING, 0),
        "failed": by_status.get(OutboxStatus.FAILED, 0),
        "dead": by_status.get(OutboxStatus.DEAD, 0),
    }


async def held(store: Store) -> int:
    """How many messages are held (for a WhatsApp template, or for a channel with no sender):
    what ``/deadletters`` lists besides failures, for /healthz."""
    async with store.read() as session:
        return await shared_dead_letters.held_count(session)
