"""M-Pesa Daraja: OAuth, B2C payment requests, transaction status queries, and their callbacks.

Daraja in brief (https://developer.safaricom.co.ke; sandbox ``https://sandbox.safaricom.co.ke``,
production ``https://api.safaricom.co.ke``):

- ``GET /oauth/v1/generate?grant_type=client_credentials`` with HTTP Basic auth (consumer key and
  secret) answers ``{"access_token": ..., "expires_in": "3599"}``. The token is cached here until
  a minute before it expires, and dropped at once if Daraja refuses it.
- ``POST /mpesa/b2c/v3/paymentrequest`` sends money to a phone. Its answer only says whether the
  request was *accepted*; the payment's outcome arrives later at ``ResultURL`` (or a queue
  timeout at ``QueueTimeOutURL``). The ``OriginatorConversationID`` is ours: it is chosen and
  committed with the payout before the first call and reused on every retry, so M-Pesa refuses a
  second copy of a request it already has.
- ``POST /mpesa/transactionstatus/v1/query`` asks about a payment whose outcome we do not know,
  by that same originator id. It is asynchronous too: the answer arrives at its own ResultURL.
- ``POST /mpesa/accountbalance/v1/query`` (``CommandID`` ``AccountBalance``) asks what the
  shortcode's accounts hold; the answer comes to its ResultURL, as ``ResultParameters`` key
  ``AccountBalance``: accounts joined by ``&``, each ``name|currency|current|available|reserved|
  uncleared`` (``Working Account|KES|700000.00|700000.00|0.00|0.00&Utility Account|KES|...``).
  B2C pays from the Utility Account, so its available amount is the float
  (:func:`parse_balance_result`).
- ``SecurityCredential`` is the initiator's password encrypted with M-Pesa's public certificate
  (RSA, PKCS #1 v1.5), base64-encoded.
- Throughput: the rate Daraja accepts for a shortcode is agreed with Safaricom, not published.
  The client paces every call it makes to ``requests_per_second`` (one token bucket shared by
  the payout runner and the callback routes' resends); a call refused with HTTP 429 (too many
  requests) is waited out (``Retry-After``) and the same request repeated, which the originator
  id makes safe.

Nothing here touches the database: the payout runner and the callback routes do, with what this
module returns. Credentials and full phone numbers never reach a log line.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bot.rate_limit import TokenBucket
from domain.phone import mask

log = logging.getLogger(__name__)

SANDBOX_BASE_URL = "https://sandbox.safaricom.co.ke"
PRODUCTION_BASE_URL = "https://api.safaricom.co.ke"
OAUTH_PATH = "/oauth/v1/generate"
B2C_PATH = "/mpesa/b2c/v3/paymentrequest"
STATUS_PATH = "/mpesa/transactionstatus/v1/query"
BALANCE_PATH = "/mpesa/accountbalance/v1/query"
FLOAT_ACCOUNTS = ("Utility Account", "Working Account")
"""The account B2C pays from, in order of preference, in an Account Balance answer."""

TOKEN_MARGIN_SECONDS = 60.0
"""A cached token is renewed this long before Daraja says it expires."""

THROTTLED_RETRIES = 3
"""How often a request refused with HTTP 429 is repeated before it is left in doubt."""
THROTTLED_WAIT_SECONDS = 1.0
"""The wait after a 429 without a usable ``Retry-After``; never more than the maximum below."""
THROTTLED_MAX_WAIT_SECONDS = 30.0

TRANSACTION_STATUS_COMPLETED = "Completed"
FAILED_TRANSACTION_STATUSES = frozenset({"failed", "declined", "cancelled", "expired"})


class DarajaError(Exception):
    """Daraja could not be reached or refused us in a way no payout can be blamed for."""


# ---------------------------------------------------------------------------------------------
# Security credential
# ---------------------------------------------------------------------------------------------


def security_credential(initiator_password: str, certificate_pem: bytes) -> str:
    """The initiator password encrypted with M-Pesa's public certificate, as Daraja expects.

    Safaricom publishes one certificate for the sandbox and one for production; the file given
    in ``MPESA_CERTIFICATE_PATH`` must match ``MPESA_API_BASE_URL``.
    """
    if not initiator_password:
        raise ValueError("the M-Pesa initiator password is empty: set MPESA_INITIATOR_PASSWORD")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as exc:
        raise ValueError(
            "the M-Pesa certificate is not a PEM X.509 certificate: download it from the Daraja "
            "portal and point MPESA_CERTIFICATE_PATH at it"
        ) from exc
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the M-Pesa certificate does not hold an RSA public key")
    encrypted = key.encrypt(initiator_password.encode(), padding.PKCS1v15())
    return base64.b64encode(encrypted).decode("ascii")


# ---------------------------------------------------------------------------------------------
# Configuration and answers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DarajaConfig:
    """What the adapter needs; the composition root builds it from settings."""

    api_base_url: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    shortcode: str
    initiator_name: str
    security_credential: str = field(repr=False)
    callback_base_url: str  # our public URL; Daraja posts results under it
    request_timeout: float = 30.0
    remarks: str = "Karakana payout"
    requests_per_second: float | None = None  # the shortcode's granted TPS; None: unpaced
    # A secret put in every callback URL: Daraja does not sign callbacks, so a caller who does
    # not know it is refused (bot.payments.routes). Empty: no token (tests, old deployments).
    callback_token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise ValueError("the Daraja request rate must be positive (or None: unpaced)")
        if self.callback_token and not CALLBACK_TOKEN_PATTERN.fullmatch(self.callback_token):
            raise ValueError(
                "the M-Pesa callback token must be at least 16 URL-safe characters (letters, "
                "digits, '-' and '_'): "
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )

    @property
    def _callback_root(self) -> str:
        root = f"{self.callback_base_url.rstrip('/')}/mpesa"
        return f"{root}/{self.callback_token}" if self.callback_token else root

    @property
    def result_url(self) -> str:
        return f"{self._callback_root}/b2c/result"

    @property
    def timeout_url(self) -> str:
        return f"{self._callback_root}/b2c/timeout"

    def status_result_url(self, originator_conversation_id: str) -> str:
        # The status result names the query, not the payment, so the URL says which payout.
        query = urlencode({"originator": originator_conversation_id})
        return f"{self._callback_root}/status/result?{query}"

    def status_timeout_url(self, originator_conversation_id: str) -> str:
        query = urlencode({"originator": originator_conversation_id})
        return f"{self._callback_root}/status/timeout?{query}"

    def balance_result_url(self, query_id: int) -> str:
        # Daraja chooses the balance query's ids, so the URL says which of ours it answers.
        return f"{self._callback_root}/balance/result?{urlencode({'query': query_id})}"

    def balance_timeout_url(self, query_id: int) -> str:
        return f"{self._callback_root}/balance/timeout?{urlencode({'query': query_id})}"


CALLBACK_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,}")


class RequestOutcome(StrEnum):
    ACCEPTED = "accepted"  # M-Pesa has the request; the result comes by callback
    DUPLICATE = "duplicate"  # M-Pesa already has a request with this originator id
    REJECTED = "rejected"  # refused outright: nothing was or will be paid for this request
    NO_ANSWER = "no_answer"  # timeout, network error or 5xx: M-Pesa may or may not have it


@dataclass(frozen=True, slots=True)
class RequestAnswer:
    outcome: RequestOutcome
    conversation_id: str | None = None
    code: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """A B2C ``Result`` callback: the outcome of one payment request."""

    originator_conversation_id: str
    conversation_id: str | None
    result_code: int
    result_desc: str
    transaction_id: str | None
    completed_at: str | None
    # Who M-Pesa paid, by its account: "2547XXXXXXXX - JANE DOE" (checked against the artisan).
    receiver_public_name: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.result_code == 0


class PaymentState(StrEnum):
    PAID = "paid"  # M-Pesa completed it: there is a receipt
    FAILED = "failed"  # M-Pesa has it and it failed: nothing was paid
    MISSING = "missing"  # M-Pesa has no such payment: the request never arrived
    PENDING = "pending"  # M-Pesa has it and is still working on it


@dataclass(frozen=True, slots=True)
class StatusResult:
    """A transaction status query's answer about one payment."""

    state: PaymentState
    receipt: str | None
    result_code: int
    result_desc: str


@dataclass(frozen=True, slots=True)
class BalanceResult:
    """An Account Balance query's answer: the float in cents, or None when M-Pesa could not
    say (``result_desc`` says why)."""

    available_cents: int | None
    result_code: int
    result_desc: str


class MalformedCallback(ValueError):
    """A callback body that is not what Daraja sends."""


def _int_code(value: object) -> int:
    if isinstance(value, bool):
        raise MalformedCallback(f"{value!r} is not a result code")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise MalformedCallback(f"{value!r} is not a result code")
    return int(text)


def _parameters(result: Mapping[str, Any]) -> dict[str, object]:
    container = result.get("ResultParameters") or {}
    items = container.get("ResultParameter", []) if isinstance(container, Mapping) else []
    if isinstance(items, Mapping):  # a single parameter comes as an object, not a list
        items = [items]
    return {
        str(item["Key"]): item.get("Value")
        for item in items
        if isinstance(item, Mapping) and "Key" in item
    }


def _result(body: Mapping[str, Any]) -> Mapping[str, Any]:
    result = body.get("Result")
    if not isinstance(result, Mapping):
        raise MalformedCallback("the callback has no Result object")
    return result


def parse_payment_result(body: Mapping[str, Any]) -> PaymentResult:
    """Read a B2C result (or queue timeout) callback body."""
    result = _result(body)
    originator = result.get("OriginatorConversationID")
    if not isinstance(originator, str) or not originator:
        raise MalformedCallback("the callback has no OriginatorConversationID")
    params = _parameters(result)
    transaction_id = result.get("TransactionID") or params.get("TransactionReceipt")
    completed = params.get("TransactionCompletedDateTime")
    receiver = params.get("ReceiverPartyPublicName")
    return PaymentResult(
        originator_conversation_id=originator,
        conversation_id=str(result["ConversationID"]) if result.get("ConversationID") else None,
        result_code=_int_code(result.get("ResultCode")),
        result_desc=str(result.get("ResultDesc") or ""),
        transaction_id=str(transaction_id) if transaction_id else None,
        completed_at=str(completed) if completed else None,
        receiver_public_name=str(receiver) if receiver else None,
    )


def parse_status_result(body: Mapping[str, Any]) -> StatusResult:
    """Read a transaction status query's result callback body."""
    result = _result(body)
    code = _int_code(result.get("ResultCode"))
    desc = str(result.get("ResultDesc") or "")
    if code != 0:
        # The query itself failed. "No such transaction" means the payment request never
        # reached M-Pesa; anything else (a busy system) means we still do not know.
        state = PaymentState.MISSING if _says_not_found(desc) else PaymentState.PENDING
        return StatusResult(state=state, receipt=None, result_code=code, result_desc=desc)
    params = _parameters(result)
    status = str(params.get("TransactionStatus") or "")
    receipt = params.get("ReceiptNo")
    reason = str(params.get("ReasonType") or status or desc)
    if status == TRANSACTION_STATUS_COMPLETED and receipt:
        return StatusResult(PaymentState.PAID, str(receipt), 0, reason)
    if status.casefold() in FAILED_TRANSACTION_STATUSES:
        failure_code = params.get("ResultCode")
        return StatusResult(
            PaymentState.FAILED,
            None,
            _int_code(failure_code) if failure_code not in (None, "") else -1,
            reason,
        )
    return StatusResult(PaymentState.PENDING, None, code, reason)


def parse_balance_result(body: Mapping[str, Any]) -> BalanceResult:
    """Read an Account Balance result callback body: the available amount of the account B2C
    pays from (``FLOAT_ACCOUNTS``)."""
    result = _result(body)
    code = _int_code(result.get("ResultCode"))
    desc = str(result.get("ResultDesc") or "")
    if code != 0:
        return BalanceResult(None, code, desc)
    accounts: dict[str, int] = {}
    for account in str(_parameters(result).get("AccountBalance") or "").split("&"):
        fields = account.split("|")
        if len(fields) < 4:
            continue
        try:
            amount = Decimal(fields[3].replace(",", "").strip())
        except InvalidOperation:
            raise MalformedCallback(f"{fields[3]!r} is not an amount") from None
        accounts[fields[0].strip()] = int(amount * 100)
    for name in FLOAT_ACCOUNTS:
        if name in accounts:
            return BalanceResult(accounts[name], code, desc)
    raise MalformedCallback("the balance callback names no Utility or Working Account")


def _retry_after(response: httpx.Response) -> float:
    """Seconds to wait after a 429: Daraja's ``Retry-After`` if it gives one, within reason."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        seconds = THROTTLED_WAIT_SECONDS
    return min(max(seconds, 0.0), THROTTLED_MAX_WAIT_SECONDS)


def _says_not_found(text: str) -> bool:
    lowered = text.casefold()
    return any(
        phrase in lowered
        for phrase in ("not found", "could not be found", "does not exist", "no such")
    )


def _says_duplicate(text: str) -> bool:
    return "duplicate" in text.casefold()


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


class DarajaClient:
    """Talks to Daraja over one ``httpx.AsyncClient``; use ``async with`` or call ``aclose``."""

    def __init__(
        self,
        config: DarajaConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.api_base_url.rstrip("/"),
            timeout=config.request_timeout,
            transport=transport,
        )
        self._monotonic = monotonic
        self._sleep = sleep
        self._pace = (
            TokenBucket(config.requests_per_second, monotonic=monotonic)
            if config.requests_per_second is not None
            else None
        )
        self.throttled = 0  # 429s met so far, for operators and benchmarks
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> DarajaClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- OAuth --------------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A valid token, fetched only when the cached one is about to expire."""
        async with self._token_lock:
            if self._token is not None and self._monotonic() < self._token_expires:
                return self._token
            try:
                response = await self._http.get(
                    OAUTH_PATH,
                    params={"grant_type": "client_credentials"},
                    auth=(self.config.consumer_key, self.config.consumer_secret),
                )
            except httpx.HTTPError as exc:
                raise DarajaError(
                    f"could not reach Daraja for a token: {type(exc).__name__}"
                ) from exc
            if response.status_code != 200:
                raise DarajaError(
                    f"Daraja refused our consumer key and secret (HTTP {response.status_code}): "
                    "check MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET"
                )
            body = response.json()
            token = body.get("access_token")
            if not token:
                raise DarajaError("Daraja's token answer has no access_token")
            lifetime = float(body.get("expires_in") or 3599)
            self._token = str(token)
            self._token_expires = self._monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)
            return self._token

    def forget_token(self) -> None:
        self._token = None
        self._token_expires = 0.0

    async def _post(self, path: str, payload: Mapping[str, object]) -> httpx.Response:
        """POST with a bearer token, paced. A refused token is renewed once and the request
        repeated; a 429 is waited out and the request repeated up to ``THROTTLED_RETRIES`` times
        (a repeat is safe: the originator id makes it the same request)."""
        renewed = False
        throttled = 0
        while True:
            token = await self.access_token()
            if self._pace is not None:
                await self._pace.take()
            response = await self._http.post(
                path, json=dict(payload), headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code == 401 and not renewed:
                renewed = True
                self.forget_token()
                continue
            if response.status_code == 429 and throttled < THROTTLED_RETRIES:
                throttled += 1
                self.throttled += 1
                wait = _retry_after(response)
                if self._pace is not None:
                    self._pace.pause(wait)  # every request waits, not just this one
                await self._sleep(wait)
                continue
            return response

    # -- B2C ----------------------------------------------------------------------------------

    async def send_payment(
        self,
        *,
        originator_conversation_id: str,
        msisdn: str,
        amount_cents: int,
        occasion: str = "",
    ) -> RequestAnswer:
        """Ask M-Pesa to pay ``amount_cents`` to ``msisdn`` (E.164). Never raises for a
        payment-level problem: the answer says what happened, and NO_ANSWER means "ask later"."""
        if amount_cents % 100:
            # M-Pesa pays whole shillings; a payout of cents would be silently rounded.
            return RequestAnswer(
                RequestOutcome.REJECTED,
                code="2",
                description=f"M-Pesa pays whole shillings, not {amount_cents} cents",
            )
        payload = {
            "OriginatorConversationID": originator_conversation_id,
            "InitiatorName": self.config.initiator_name,
            "SecurityCredential": self.config.security_credential,
            "CommandID": "BusinessPayment",
            "Amount": amount_cents // 100,
            "PartyA": self.config.shortcode,
            "PartyB": msisdn.lstrip("+"),
            "Remarks": self.config.remarks,
            "QueueTimeOutURL": self.config.timeout_url,
            "ResultURL": self.config.result_url,
            "Occasion": occasion or originator_conversation_id,
        }
        try:
            response = await self._post(B2C_PATH, payload)
        except (httpx.HTTPError, DarajaError) as exc:
            log.warning(
                "B2C request %s to %s got no answer: %s",
                originator_conversation_id,
                mask(msisdn),
                type(exc).__name__,
            )
            return RequestAnswer(RequestOutcome.NO_ANSWER, description=type(exc).__name__)
        answer = self._read_request_answer(response)
        log.info(
            "B2C request %s to %s: %s %s",
            originator_conversation_id,
            mask(msisdn),
            answer.outcome.value,
            answer.code or "",
        )
        return answer

    @staticmethod
    def _read_request_answer(response: httpx.Response) -> RequestAnswer:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, Mapping):
            body = {}
        code = str(body.get("ResponseCode", body.get("errorCode", "")) or "")
        text = str(body.get("ResponseDescription", body.get("errorMessage", "")) or "")
        if response.status_code >= 500 or response.status_code in (401, 408, 429):
            if _says_duplicate(text):
                return RequestAnswer(RequestOutcome.DUPLICATE, code=code, description=text)
            return RequestAnswer(RequestOutcome.NO_ANSWER, code=code, description=text)
        if response.status_code == 200 and code == "0":
            conversation = body.get("ConversationID")
            return RequestAnswer(
                RequestOutcome.ACCEPTED,
                conversation_id=str(conversation) if conversation else None,
                code=code,
                description=text,
            )
        if response.status_code == 409 or code == "15" or _says_duplicate(text):
            return RequestAnswer(RequestOutcome.DUPLICATE, code=code, description=text)
        return RequestAnswer(RequestOutcome.REJECTED, code=code, description=text)

    # -- transaction status ---------------------------------------------------------------------

    async def query_status(
        self, *, originator_conversation_id: str, transaction_id: str | None = None
    ) -> bool:
        """Ask M-Pesa what became of a payment; the answer comes to the status result URL.

        Returns whether Daraja took the query (False: ask again later).
        """
        payload = {
            "Initiator": self.config.initiator_name,
            "SecurityCredential": self.config.security_credential,
            "CommandID": "TransactionStatusQuery",
            "TransactionID": transaction_id or "",
            "OriginalConversationID": originator_conversation_id,
            "PartyA": self.config.shortcode,
            "IdentifierType": "4",  # an organisation shortcode
            "ResultURL": self.config.status_result_url(originator_conversation_id),
            "QueueTimeOutURL": self.config.status_timeout_url(originator_conversation_id),
            "Remarks": "Karakana payout check",
            "Occasion": originator_conversation_id,
        }
        try:
            response = await self._post(STATUS_PATH, payload)
        except (httpx.HTTPError, DarajaError) as exc:
            log.warning(
                "status query for %s got no answer: %s",
                originator_conversation_id,
                type(exc).__name__,
            )
            return False
        taken = response.status_code == 200
        if not taken:
            log.warning(
                "status query for %s refused (HTTP %s)",
                originator_conversation_id,
                response.status_code,
            )
        return taken

    # -- account balance ------------------------------------------------------------------------

    async def query_balance(self, *, query_id: int) -> bool:
        """Ask M-Pesa what the shortcode's float holds; the answer comes to the balance result
        URL of ``query_id``. Returns whether Daraja took the query (False: ask again later)."""
        payload = {
            "Initiator": self.config.initiator_name,
            "SecurityCredential": self.config.security_credential,
            "CommandID": "AccountBalance",
            "PartyA": self.config.shortcode,
            "IdentifierType": "4",  # an organisation shortcode
            "Remarks": "Karakana float check",
            "QueueTimeOutURL": self.config.balance_timeout_url(query_id),
            "ResultURL": self.config.balance_result_url(query_id),
        }
        try:
            response = await self._post(BALANCE_PATH, payload)
        except (httpx.HTTPError, DarajaError) as exc:
            log.warning("balance query %s got no answer: %s", query_id, type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("balance query %s refused (HTTP %s)", query_id, response.status_code)
            return False
        return True
