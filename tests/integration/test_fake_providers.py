"""The fake Twilio and Telegram servers behave like the real APIs where our adapters rely on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.fakes.server import form_fields, serving
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio().running() as fake:
        yield fake


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram().running() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def messages_url(twilio: FakeTwilio) -> str:
    return f"{twilio.base_url}/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"


async def test_the_loopback_server_serves_on_a_free_port_and_stops_cleanly() -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("jambo")

    app = Starlette(routes=[Route("/", hello)])
    async with serving(app) as first, serving(app) as second:
        assert first != second
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(first + "/")).text == "jambo"
            assert (await client.get(second + "/")).text == "jambo"
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(first + "/")


async def test_fake_twilio_refuses_a_send_without_the_account_credentials(
    twilio: FakeTwilio, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        messages_url(twilio),
        data={"To": "whatsapp:+254712345678", "Body": "hi"},
        auth=(twilio.account_sid, "wrong-token"),
    )
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert twilio.messages == []


async def test_fake_twilio_records_a_send_and_answers_with_a_new_message_sid(
    twilio: FakeTwilio, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        messages_url(twilio),
        data={
            "To": "whatsapp:+254712345678",
            "From": twilio.whatsapp_from,
            "Body": "Habari",
            "StatusCallback": "https://karakana.example/whatsapp/status",
        },
        auth=(twilio.account_sid, twilio.auth_token),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["sid"].startswith("SM")
    assert len(body["sid"]) == 34
    assert body["status"] == "queued"
    [sent] = twilio.messages
    assert (sent.sid, sent.to, sent.body) == (body["sid"], "whatsapp:+254712345678", "Habari")
    assert sent.status_callback == "https://karakana.example/whatsapp/status"


async def test_fake_twilio_fails_exactly_the_next_n_sends_with_the_chosen_error(
    twilio: FakeTwilio, http: httpx.AsyncClient
) -> None:
    twilio.fail_next_sends(2, code=63018, status=429)
    auth = (twilio.account_sid, twilio.auth_token)
    form = {"To": "whatsapp:+254712345678", "Body": "hi"}
    statuses = [(await http.post(messages_url(twilio), data=form, auth=auth)) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 201]
    assert statuses[0].json()["code"] == 63018
    assert len(twilio.messages) == 1


async def test_fake_twilio_media_needs_credentials_and_can_be_missing_at_first(
    twilio: FakeTwilio, http: httpx.AsyncClient
) -> None:
    url = twilio.add_media(JPEG, "image/jpeg", missing_for=1)
    assert (await http.get(url)).status_code == 401
    auth = (twilio.account_sid, twilio.auth_token)
    assert (await http.get(url, auth=auth)).status_code == 404
    served = await http.get(url, auth=auth)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == JPEG


async def test_fake_twilio_signs_webhooks_as_twilios_request_validator_expects(
    twilio: FakeTwilio,
) -> None:
    seen: list[tuple[str, dict[str, str], str]] = []

    async def webhook(request: Request) -> PlainTextResponse:
        form = await form_fields(request)
        seen.append((str(request.url), form, request.headers["X-Twilio-Signature"]))
        return PlainTextResponse("")

    async with serving(Starlette(routes=[Route("/hook", webhook, methods=["POST"])])) as base:
        form = twilio.inbound_form(from_number="+254712345678", body="Jambo")
        response = await twilio.post_webhook(f"{base}/hook", form)
    assert response.status_code == 200
    [(url, received, signature)] = seen
    assert received == form
    assert RequestValidator(twilio.auth_token).validate(url, received, signature)
    assert not RequestValidator("another-token").validate(url, received, signature)


async def test_fake_telegram_refuses_an_unknown_bot_token(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    response = await http.post(f"{telegram.base_url}/bot999:nope/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_fake_telegram_get_updates_answers_quickly_when_nothing_is_queued(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    response = await http.post(
        f"{telegram.base_url}/bot{telegram.token}/getUpdates", json={"timeout": 30}
    )
    assert response.json() == {"ok": True, "result": []}
    assert time.monotonic() - started < 2


async def test_fake_telegram_long_poll_returns_an_update_queued_meanwhile_and_offset_confirms_it(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    url = f"{telegram.base_url}/bot{telegram.token}/getUpdates"
    update = telegram.text_update(4242, "habari")
    poll = asyncio.create_task(http.post(url, json={"timeout": 5}))
    await asyncio.sleep(0.05)
    await telegram.enqueue(update)
    assert (await poll).json()["result"] == [update]
    confirmed = await http.post(url, json={"offset": update["update_id"] + 1, "timeout": 0})
    assert confirmed.json()["result"] == []


async def test_fake_telegram_records_sends_and_can_flood_them(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    url = f"{telegram.base_url}/bot{telegram.token}/sendMessage"
    telegram.flood_next_sends(1, retry_after=7)
    flooded = await http.post(url, data={"chat_id": "4242", "text": "one"})
    assert flooded.status_code == 429
    assert flooded.json()["parameters"] == {"retry_after": 7}
    sent = await http.post(url, data={"chat_id": "4242", "text": "two"})
    assert sent.json()["result"]["text"] == "two"
    assert [params["text"] for params in telegram.sent("sendMessage")] == ["one", "two"]


async def test_fake_telegram_serves_a_file_found_with_get_file(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    [size] = telegram.photo_sizes(JPEG)
    found = await http.post(
        f"{telegram.base_url}/bot{telegram.token}/getFile", data={"file_id": size["file_id"]}
    )
    file_path = found.json()["result"]["file_path"]
    served = await http.get(f"{telegram.base_url}/file/bot{telegram.token}/{file_path}")
    assert served.content == JPEG


async def test_fake_telegram_delivers_updates_with_the_secret_token_header(
    telegram: FakeTelegram,
) -> None:
    received: list[tuple[str | None, dict[str, object]]] = []

    async def webhook(request: Request) -> PlainTextResponse:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return PlainTextResponse("")

    update = telegram.text_update(4242, "habari")
    async with serving(Starlette(routes=[Route("/tg", webhook, methods=["POST"])])) as base:
        await telegram.deliver(f"{base}/tg", update, secret_token="s3cret")
        await telegram.deliver(f"{base}/tg", update, secret_token=None)
    assert received == [("s3cret", update), (None, update)]
