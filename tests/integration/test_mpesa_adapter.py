"""The Daraja client against the fake Daraja over loopback: tokens, credentials, requests."""

from __future__ import annotations

import asyncio
import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import padding

from bot.payments.daraja import (
    DarajaClient,
    DarajaError,
    PaymentState,
    RequestOutcome,
    parse_payment_result,
    parse_status_result,
    security_credential,
)
from tests.fakes.daraja_api import Answer, Callback, FakeDaraja, Plan
from tests.integration.mpesa_harness import (
    CALLBACK_TOKEN,
    INITIATOR_PASSWORD,
    certificate,
    daraja_config,
)


def test_the_security_credential_is_the_password_encrypted_for_the_certificate() -> None:
    pem, key = certificate()
    credential = security_credential(INITIATOR_PASSWORD, pem)
    decrypted = key.decrypt(base64.b64decode(credential), padding.PKCS1v15())
    assert decrypted == INITIATOR_PASSWORD.encode()


def test_a_file_that_is_not_a_certificate_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="MPESA_CERTIFICATE_PATH"):
        security_credential(INITIATOR_PASSWORD, b"-----BEGIN NOTHING-----")


def test_the_config_never_shows_secrets_in_its_repr() -> None:
    config = daraja_config("http://x", "http://y", timeout=1)
    assert config.consumer_secret not in repr(config)
    assert config.security_credential not in repr(config)


async def test_the_token_is_fetched_once_and_reused_until_shortly_before_it_expires() -> None:
    ticks = [0.0]
    async with FakeDaraja().running() as daraja:
        config = daraja_config(daraja.base_url, "http://127.0.0.1:9", timeout=1)
        async with DarajaClient(config, monotonic=lambda: ticks[0]) as client:
            first = await client.access_token()
            ticks[0] = 3000.0
            assert await client.access_token() == first
            ticks[0] = 3560.0  # within a minute of expiry
            assert await client.access_token() != first
    assert daraja.tokens_issued == 2


async def test_a_refused_token_is_renewed_and_the_same_request_sent_once_more() -> None:
    async with (
        FakeDaraja().running() as daraja,
        DarajaClient(daraja_config(daraja.base_url, "http://127.0.0.1:9", timeout=1)) as c,
    ):
        await c.access_token()
        daraja.revoke_tokens()
        daraja.default = Plan(callback=Callback.NEVER)
        answer = await c.send_payment(
            originator_conversation_id="oc-1", msisdn="+254700000001", amount_cents=50_000
        )
    assert answer.outcome is RequestOutcome.ACCEPTED
    assert daraja.tokens_issued == 2
    assert daraja.accepted == {"oc-1": 1}


async def test_wrong_consumer_credentials_are_an_error_that_names_the_settings() -> None:
    async with (
        FakeDaraja(consumer_secret="other").running() as daraja,
        DarajaClient(daraja_config(daraja.base_url, "http://127.0.0.1:9", timeout=1)) as c,
    ):
        with pytest.raises(DarajaError, match="MPESA_CONSUMER_SECRET"):
            await c.access_token()


async def test_a_payment_request_carries_what_daraja_needs() -> None:
    async with FakeDaraja().running() as daraja:
        daraja.default = Plan(callback=Callback.NEVER)
        config = daraja_config(daraja.base_url, "http://cb.example", timeout=1)
        async with DarajaClient(config) as client:
            answer = await client.send_payment(
                originator_conversation_id="oc-7", msisdn="+254712345678", amount_cents=123_400
            )
    assert answer.outcome is RequestOutcome.ACCEPTED
    assert answer.conversation_id
    (sent,) = daraja.b2c_requests
    assert sent["OriginatorConversationID"] == "oc-7"
    assert sent["CommandID"] == "BusinessPayment"
    assert (sent["Amount"], sent["PartyA"], sent["PartyB"]) == (1234, "600999", "254712345678")
    assert sent["ResultURL"] == f"http://cb.example/mpesa/{CALLBACK_TOKEN}/b2c/result"
    assert sent["QueueTimeOutURL"] == f"http://cb.example/mpesa/{CALLBACK_TOKEN}/b2c/timeout"
    assert sent["SecurityCredential"] == config.security_credential


async def test_the_same_originator_id_twice_is_answered_as_a_duplicate_and_paid_once() -> None:
    async with FakeDaraja().running() as daraja:
        daraja.default = Plan(callback=Callback.NEVER)
        async with DarajaClient(
            daraja_config(daraja.base_url, "http://127.0.0.1:9", timeout=1)
        ) as c:
            kwargs = {"originator_conversation_id": "oc-2", "msisdn": "+254700000002"}
            first = await c.send_payment(**kwargs, amount_cents=10_000)
            second = await c.send_payment(**kwargs, amount_cents=10_000)
    assert (first.outcome, second.outcome) == (RequestOutcome.ACCEPTED, RequestOutcome.DUPLICATE)
    assert daraja.accepted == {"oc-2": 1}


@pytest.mark.parametrize("answer", [Answer.HANG, Answer.LOST, Answer.SERVER_ERROR_AFTER])
async def test_a_timeout_or_server_error_is_no_answer_not_a_failure(answer: Answer) -> None:
    async with FakeDaraja(hang_seconds=0.6).running() as daraja:
        daraja.plan(Plan(answer=answer, callback=Callback.NEVER))
        async with DarajaClient(
            daraja_config(daraja.base_url, "http://127.0.0.1:9", timeout=0.3)
        ) as c:
            got = await c.send_payment(
                originator_conversation_id="oc-3", msisdn="+254700000003", amount_cents=10_000
            )
    assert got.outcome is RequestOutcome.NO_ANSWER


async def test_cents_that_m_pesa_cannot_pay_are_refused_before_any_request() -> None:
    async with (
        FakeDaraja().running() as daraja,
        DarajaClient(daraja_config(daraja.base_url, "http://127.0.0.1:9", timeout=1)) as c,
    ):
        got = await c.send_payment(
            originator_conversation_id="oc-4", msisdn="+254700000004", amount_cents=10_050
        )
    assert got.outcome is RequestOutcome.REJECTED
    assert daraja.b2c_requests == []


def test_a_result_callback_is_read_with_its_receipt() -> None:
    result = parse_payment_result(
        {
            "Result": {
                "ResultType": 0,
                "ResultCode": "0",
                "ResultDesc": "ok",
                "OriginatorConversationID": "oc-5",
                "ConversationID": "AG_1",
                "TransactionID": "NLJ41HAY6Q",
                "ResultParameters": {
                    "ResultParameter": {"Key": "TransactionCompletedDateTime", "Value": "x"}
                },
            }
        }
    )
    assert (result.succeeded, result.transaction_id, result.completed_at) == (
        True,
        "NLJ41HAY6Q",
        "x",
    )


def test_a_status_answer_tells_paid_failed_and_missing_apart() -> None:
    def body(code: int, desc: str, **params: object) -> dict[str, object]:
        items = [{"Key": k, "Value": v} for k, v in params.items()]
        return {
            "Result": {
                "ResultCode": code,
                "ResultDesc": desc,
                "ResultParameters": {"ResultParameter": items},
            }
        }

    paid = parse_status_result(body(0, "ok", TransactionStatus="Completed", ReceiptNo="R1"))
    failed = parse_status_result(body(0, "ok", TransactionStatus="Failed", ResultCode=2040))
    missing = parse_status_result(body(1, "The transaction could not be found"))
    busy = parse_status_result(body(26, "System busy"))
    assert (paid.state, paid.receipt) == (PaymentState.PAID, "R1")
    assert (failed.state, failed.result_code) == (PaymentState.FAILED, 2040)
    assert missing.state is PaymentState.MISSING
    assert busy.state is PaymentState.PENDING


async def test_a_throttled_request_waits_as_asked_and_the_same_request_goes_once_more() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with FakeDaraja(requests_per_second=1).running() as daraja:
        daraja.default = Plan(callback=Callback.NEVER)
        config = daraja_config(daraja.base_url, "http://127.0.0.1:9", timeout=1)
        async with DarajaClient(config, sleep=sleep) as client:
            first = await client.send_payment(
                originator_conversation_id="oc-1", msisdn="+254700000001", amount_cents=50_000
            )
            # The fake's second of allowance is spent; it refuses until a second has passed, so
            # every repeat (the waits are not really slept here) is refused too.
            second = await client.send_payment(
                originator_conversation_id="oc-2", msisdn="+254700000002", amount_cents=50_000
            )
    assert first.outcome is RequestOutcome.ACCEPTED
    assert second.outcome is RequestOutcome.NO_ANSWER  # left in doubt: a status query decides
    assert waits == [1.0, 1.0, 1.0]  # Retry-After, for each of the three repeats
    assert client.throttled == 3
    assert daraja.accepted == {"oc-1": 1}


async def test_a_paced_client_stays_within_the_rate_daraja_allows() -> None:
    async def burst(daraja: FakeDaraja, rate: float | None) -> list[RequestOutcome]:
        config = daraja_config(
            daraja.base_url, "http://127.0.0.1:9", timeout=5, requests_per_second=rate
        )
        async with DarajaClient(config) as client:
            await client.access_token()
            answers = await asyncio.gather(
                *(
                    client.send_payment(
                        originator_conversation_id=f"oc-{rate}-{n}",
                        msisdn="+254700000001",
                        amount_cents=10_000,
                    )
                    for n in range(30)
                )
            )
        return [a.outcome for a in answers]

    async with FakeDaraja(requests_per_second=20).running() as daraja:
        daraja.default = Plan(callback=Callback.NEVER)
        paced = await burst(daraja, 10.0)
        assert paced == [RequestOutcome.ACCEPTED] * 30
        assert daraja.throttled == 0
    async with FakeDaraja(requests_per_second=20).running() as daraja:
        daraja.default = Plan(callback=Callback.NEVER)
        await burst(daraja, None)
        assert daraja.throttled > 0  # the same burst unpaced goes over the limit


def test_a_request_rate_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        daraja_config("http://x", "http://y", timeout=1, requests_per_second=0)


def test_a_callback_token_must_be_long_and_fit_in_a_url_path() -> None:
    for token in ("short", "has/a/slash-in-it-0123456789", "spaces are not url safe 012"):
        with pytest.raises(ValueError, match="at least 16 URL-safe characters"):
            daraja_config("http://x", "http://y", timeout=1, callback_token=token)
    untokened = daraja_config("http://x", "http://y/", timeout=1, callback_token="")
    assert untokened.result_url == "http://y/mpesa/b2c/result"
    assert CALLBACK_TOKEN not in repr(daraja_config("http://x", "http://y", timeout=1))
