"""SMS through Africa's Talking: what it posts to us, and what we post to it.

Inbound. Africa's Talking posts an incoming message as a form (``from``, ``to``, ``text``,
``date``, ``id``, ``linkId``, ``networkCode``) and a delivery report as another (``id``,
``status``, ``phoneNumber``, ``networkCode``, ``failureReason``, ``retryCount``). It signs
neither, so both URLs carry a secret path segment (``AT_CALLBACK_TOKEN``, checked in constant
time by bot/channels/sms_routes.py, never logged). The message ``id`` is the dedupe key, as
Twilio's MessageSid is for WhatsApp.

Outbound. Not the official ``africastalking`` SDK: its ``Service`` builds the API's URL from the
username alone (``https://api.sandbox.africastalking.com`` for "sandbox", else
``https://api.africastalking.com``), so it cannot be pointed at the fake server the tests run on
loopback (nor at a proxy), and it sends with ``requests``, blocking the event loop for the whole
call. So this module calls the documented REST API itself, with httpx: ``POST
{AT_API_BASE_URL}/version1/messaging``, form fields ``username``, ``to``, ``message`` and
``from`` (the sender ID or shortcode, when one is registered), headers ``apiKey`` and ``Accept:
application/json``; the answer's ``SMSMessageData.Recipients[0]`` carries ``statusCode``,
``status``, ``messageId`` and ``cost`` ("KES 0.8000"), which is recorded on the outbox row (what
``karakana status`` adds up). Every reply is rendered for SMS first (conversations/sms.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import TracebackType

import httpx
from sqlmodel import select

from bot.channels.dispatcher import mark_opted_out
from bot.channels.send_errors import SendError, SendFailure
from conversations.messages import Incoming, Reply
from conversations.sms import count_segments
from domain.model import OUTBOX_TRANSITIONS, Channel, OutboxMessage, OutboxStatus
from domain.phone import mask
from domain.store import Store

log = logging.getLogger(__name__)

CHANNEL = Channel.SMS.value
SANDBOX_API_BASE_URL = "https://api.sandbox.africastalking.com"
PRODUCTION_API_BASE_URL = "https://api.africastalking.com"
MESSAGING_PATH = "/version1/messaging"
_E164 = re.compile(r"\+[1-9]\d{6,14}")
MAX_PROVIDER_ID = 128
MAX_TEXT = 1600  # ten concatenated segments: more than any handset shows as one message


class MalformedInbound(ValueError):
    """The form is not what Africa's Talking posts."""


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise MalformedInbound(f"the form has no {name}")
    return value


def phone_address(value: str) -> str:
    """An E.164 number as Africa's Talking gives it (``+254712345678``), or MalformedInbound."""
    number = value.strip().replace(" ", "")
    if not _E164.fullmatch(number):
        raise MalformedInbound("the sender is not a phone number in E.164 form")
    return number


def parse_inbound(form: Mapping[str, str], *, received_at: datetime) -> Incoming:
    """Africa's Talking's incoming-message form as the engine's ``Incoming``."""
    message_id = _required(form, "id")
    if len(message_id) > MAX_PROVIDER_ID:
        raise MalformedInbound("the message id is longer than any Africa's Talking issues")
    text = form.get("text", "")
    if len(text) > MAX_TEXT:
        raise MalformedInbound("the text is longer than a concatenated SMS can be")
    return Incoming(
        channel=Channel.SMS,
        address=phone_address(_required(form, "from")),
        provider_message_id=message_id,
        text=text.strip(),
        received_at=received_at,
    )


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    message_id: str
    status: str  # Sent, Submitted, Buffered, Success, Failed, Rejected, AbsentSubscriber...
    failure_reason: str | None


def parse_delivery_report(form: Mapping[str, str]) -> DeliveryReport:
    message_id = _required(form, "id")
    if len(message_id) > MAX_PROVIDER_ID:
        raise MalformedInbound("the message id is longer than any Africa's Talking issues")
    return DeliveryReport(
        message_id=message_id,
        status=_required(form, "status"),
        failure_reason=form.get("failureReason", "").strip() or None,
    )


# Africa's Talking's delivery statuses, as the outbox's (forward only).
_REPORTED = {
    "sent": OutboxStatus.SENT,
    "submitted": OutboxStatus.SENT,
    "buffered": OutboxStatus.SENT,
    "success": OutboxStatus.DELIVERED,
    "failed": OutboxStatus.FAILED,
    "rejected": OutboxStatus.FAILED,
    "absentsubscriber": OutboxStatus.FAILED,
    "expired": OutboxStatus.FAILED,
}
# Failure reasons that mean the person blocked our messages (replied STOP to the shortcode).
OPT_OUT_REASONS = frozenset({"UserInBlacklist", "UserInBlackList"})


class UnknownStatus(ValueError):
    pass


async def apply_delivery_report(store: Store, report: DeliveryReport) -> OutboxMessage | None:
    """Move the SMS's outbox row forward only (reports arrive out of order); a failure records
    Africa's Talking's reason and lands in the dead letters (``/deadletters``). None: no SMS of
    ours has that id. A status we do not know is refused (``UnknownStatus``)."""
    target = _REPORTED.get(report.status.strip().casefold())
    if target is None:
        raise UnknownStatus(f"unknown delivery status {report.status[:40]!r}")
    async with store.transaction() as session:
        message = (
            await session.exec(
                select(OutboxMessage)
                .where(
                    OutboxMessage.channel == Channel.SMS,
                    OutboxMessage.provider_message_id == report.message_id,
                )
                .with_for_update()
            )
        ).first()
        if message is None:
            log.info("a delivery report for an SMS we do not know")
            return None
        if OUTBOX_TRANSITIONS.can(message.status, target):
            message.status = target
            if target is OutboxStatus.FAILED:
                message.error_code = (report.failure_reason or report.status)[:32]
                log.warning(
                    "SMS %s was not delivered (%s)",
                    message.id,
                    message.error_code,
                    extra={"channel": CHANNEL, "to": mask(message.address)},
                )
        session.add(message)
        if report.failure_reason in OPT_OUT_REASONS:
            await mark_opted_out(session, message)
        await session.flush()
        return message


# ---------------------------------------------------------------------------------------------
# Outbound
# ---------------------------------------------------------------------------------------------


class SmsReceipt(str):
    """The provider's message id, carrying what the send cost: the dispatcher records it on the
    outbox row with the id (``segments``, ``cost_e4``, ``cost_currency``)."""

    segments: int | None
    cost_e4: int | None
    cost_currency: str | None

    def __new__(
        cls,
        message_id: str,
        *,
        segments: int | None = None,
        cost_e4: int | None = None,
        cost_currency: str | None = None,
    ) -> SmsReceipt:
        receipt = super().__new__(cls, message_id)
        receipt.segments = segments
        receipt.cost_e4 = cost_e4
        receipt.cost_currency = cost_currency
        return receipt


def parse_cost(cost: str) -> tuple[int, str] | None:
    """``"KES 0.8000"`` -> ``(8000, "KES")``: ten-thousandths of the currency; None if unread."""
    currency, _, amount = cost.strip().partition(" ")
    if len(currency) != 3 or not currency.isalpha():
        return None
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return int((value * 10_000).to_integral_value()), currency.upper()


# Recipient statusCodes (Africa's Talking's SMS API documentation).
_ACCEPTED = {100, 101, 102}  # Processed, Sent, Queued
_OPTED_OUT = {406}  # UserInBlacklist
_BAD_RECIPIENT = {403, 404}  # InvalidPhoneNumber, UnsupportedNumberType
_TRANSIENT = {405, 500, 501}  # InsufficientBalance, InternalServerError, GatewayError


def classify_recipient(code: int | None, status: str) -> SendError:
    if code in _OPTED_OUT:
        failure = SendFailure.OPTED_OUT
    elif code in _BAD_RECIPIENT:
        failure = SendFailure.BAD_RECIPIENT
    elif code in _TRANSIENT:
        failure = SendFailure.TRANSIENT
    else:
        failure = SendFailure.REJECTED  # RiskHold, InvalidSenderId, CouldNotRoute, DND...
    return SendError(
        f"Africa's Talking refused the SMS: {status[:60]}",
        channel=CHANNEL,
        failure=failure,
        code=code,
    )


Render = Callable[[str, Reply], Awaitable[str]]
"""The text to send to an address for a reply (conversations/sms.py in the person's language)."""


class SmsSender:
    """Sends one SMS per outbox message through Africa's Talking's messaging API."""

    def __init__(
        self,
        *,
        username: str,
        api_key: str,
        render: Render,
        sender_id: str | None = None,
        api_base_url: str = SANDBOX_API_BASE_URL,
        timeout: float = 20.0,
    ) -> None:
        self._username = username
        self._api_key = api_key
        self._render = render
        self._sender_id = sender_id
        self._url = api_base_url.rstrip("/") + MESSAGING_PATH
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def __aenter__(self) -> SmsSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, address: str, reply: Reply) -> str:
        text = await self._render(address, reply)
        fields = {"username": self._username, "to": address, "message": text}
        if self._sender_id:
            fields["from"] = self._sender_id
        try:
            response = await self._client.post(
                self._url,
                data=fields,
                headers={"apiKey": self._api_key, "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise SendError(
                f"could not reach Africa's Talking: {type(exc).__name__}",
                channel=CHANNEL,
                failure=SendFailure.TRANSIENT,
            ) from exc
        if response.status_code == 429:
            retry = response.headers.get("retry-after", "")
            raise SendError(
                "Africa's Talking asked us to slow down",
                channel=CHANNEL,
                failure=SendFailure.RATE_LIMITED,
                code=429,
                retry_after=float(retry) if retry.isdigit() else None,
            )
        if response.status_code >= 500:
            raise SendError(
                f"Africa's Talking answered HTTP {response.status_code}",
                channel=CHANNEL,
                failure=SendFailure.TRANSIENT,
                code=response.status_code,
            )
        if response.status_code >= 400:
            raise SendError(
                f"Africa's Talking refused the request (HTTP {response.status_code})",
                channel=CHANNEL,
                failure=SendFailure.REJECTED,
                code=response.status_code,
            )
        return self._receipt(response, text)

    @staticmethod
    def _receipt(response: httpx.Response, text: str) -> SmsReceipt:
        try:
            recipients = response.json()["SMSMessageData"]["Recipients"]
            recipient = recipients[0]
            code = int(recipient["statusCode"])
            status = str(recipient.get("status", ""))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SendError(
                "Africa's Talking's answer has no recipient",
                channel=CHANNEL,
                failure=SendFailure.TRANSIENT,
            ) from exc
        if code not in _ACCEPTED:
            raise classify_recipient(code, status)
        message_id = str(recipient.get("messageId", ""))
        if not message_id or len(message_id) > MAX_PROVIDER_ID:
            raise SendError(
                "Africa's Talking accepted the SMS without a usable messageId",
                channel=CHANNEL,
                failure=SendFailure.REJECTED,
            )
        cost = parse_cost(str(recipient.get("cost", "")))
        return SmsReceipt(
            message_id,
            segments=count_segments(text).count,
            cost_e4=None if cost is None else cost[0],
            cost_currency=None if cost is None else cost[1],
        )
