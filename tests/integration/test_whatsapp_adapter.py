"""The WhatsApp adapter against a fake Twilio over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.channels.inbound import pending_media
from bot.channels.media import LocalMediaStore, MediaRefused, RefusalReason, RemoteMedia
from bot.channels.send_errors import SendError, SendFailure
from bot.channels.whatsapp import (
    MalformedInbound,
    MediaDownloader,
    Template,
    WhatsAppSender,
    media_links,
    parse_inbound,
    parse_status_callback,
    verify_signature,
)
from conversations.messages import Choice, Incoming, MediaItem, Reply
from domain.model import Channel
from tests.fakes.server import form_fields, serving
from tests.fakes.twilio_api import FakeTwilio

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
ARTISAN = "+254712345678"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(512)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio().running() as fake:
        yield fake


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


def stored_files(store: LocalMediaStore) -> list[Path]:
    return sorted(store.root.glob("*")) if store.root.exists() else []


@pytest.fixture
async def downloader(twilio: FakeTwilio, store: LocalMediaStore) -> AsyncIterator[MediaDownloader]:
    async with MediaDownloader(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        store=store,
        api_base_url=twilio.base_url,
        max_bytes=4096,
        not_found_delays=(0.01, 0.02, 0.04),
    ) as downloader:
        yield downloader


@pytest.fixture
async def sender(twilio: FakeTwilio) -> AsyncIterator[WhatsAppSender]:
    async with WhatsAppSender(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        from_number=twilio.whatsapp_from,
        api_base_url=twilio.base_url,
        status_callback_url="https://karakana.example/whatsapp/status",
        media_url_for=lambda item: f"https://karakana.example/media/{item.ref}",
    ) as sender:
        yield sender


class Receiver:
    """A stand-in for our webhook endpoint: verifies, parses, and remembers what it accepted."""

    def __init__(self, auth_token: str, public_base_url: str | None = None) -> None:
        self.auth_token = auth_token
        self.public_base_url = public_base_url
        self.accepted: list[Incoming] = []
        self.app = Starlette(routes=[Route("/whatsapp/webhook", self.webhook, methods=["POST"])])

    async def webhook(self, request: Request) -> Response:
        form = await form_fields(request)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        public = self.public_base_url or f"{request.url.scheme}://{request.url.netloc}"
        signature = request.headers.get("X-Twilio-Signature")
        if not verify_signature(self.auth_token, public, path, form, signature):
            return PlainTextResponse("forbidden", status_code=403)
        self.accepted.append(parse_inbound(form, received_at=NOW))
        return Response(EMPTY_TWIML, media_type="text/xml")


# -- signatures ---------------------------------------------------------------------------------


async def test_a_correctly_signed_webhook_is_accepted(twilio: FakeTwilio) -> None:
    receiver = Receiver(twilio.auth_token)
    form = twilio.inbound_form(from_number=ARTISAN, body="Habari")
    async with serving(receiver.app) as base:
        response = await twilio.post_webhook(f"{base}/whatsapp/webhook", form)
    assert response.status_code == 200
    assert response.text == EMPTY_TWIML
    [incoming] = receiver.accepted
    assert (incoming.address, incoming.text) == (ARTISAN, "Habari")


async def test_a_webhook_signed_for_the_public_url_is_accepted_behind_a_tls_proxy(
    twilio: FakeTwilio,
) -> None:
    receiver = Receiver(twilio.auth_token, public_base_url="https://karakana.example")
    form = twilio.inbound_form(from_number=ARTISAN, body="Habari")
    async with serving(receiver.app) as base:
        response = await twilio.post_webhook(
            f"{base}/whatsapp/webhook",
            form,
            signed_url="https://karakana.example/whatsapp/webhook",
        )
    assert response.status_code == 200
    assert len(receiver.accepted) == 1


async def test_a_signature_for_another_url_than_the_public_one_is_refused(
    twilio: FakeTwilio,
) -> None:
    receiver = Receiver(twilio.auth_token, public_base_url="https://karakana.example")
    form = twilio.inbound_form(from_number=ARTISAN, body="Habari")
    async with serving(receiver.app) as base:
        response = await twilio.post_webhook(f"{base}/whatsapp/webhook", form)
    assert response.status_code == 403
    assert receiver.accepted == []


@pytest.mark.parametrize(
    "signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "0123456789abcdefABCDEF0123+/="]
)
async def test_a_missing_or_forged_signature_is_refused(
    twilio: FakeTwilio, signature: str | None
) -> None:
    receiver = Receiver(twilio.auth_token)
    form = twilio.inbound_form(from_number=ARTISAN, body="Habari")
    async with serving(receiver.app) as base:
        response = await twilio.post_webhook(f"{base}/whatsapp/webhook", form, signature=signature)
    assert response.status_code == 403
    assert receiver.accepted == []


async def test_a_field_changed_after_signing_breaks_the_signature(twilio: FakeTwilio) -> None:
    receiver = Receiver(twilio.auth_token)
    form = twilio.inbound_form(from_number=ARTISAN, body="I finished 10 pendants")
    async with serving(receiver.app) as base:
        url = f"{base}/whatsapp/webhook"
        tampered = {**form, "Body": "I finished 100 pendants"}
        response = await twilio.post_webhook(url, tampered, signature=twilio.sign(url, form))
    assert response.status_code == 403
    assert receiver.accepted == []


async def test_a_webhook_signed_with_another_accounts_token_is_refused(twilio: FakeTwilio) -> None:
    receiver = Receiver("the-real-auth-token-of-our-account")
    form = twilio.inbound_form(from_number=ARTISAN, body="Habari")
    async with serving(receiver.app) as base:
        response = await twilio.post_webhook(f"{base}/whatsapp/webhook", form)
    assert response.status_code == 403


def test_no_signature_is_valid_when_no_auth_token_is_configured(twilio: FakeTwilio) -> None:
    form = twilio.inbound_form(from_number=ARTISAN)
    public, path = "https://karakana.example", "/whatsapp/webhook"
    signature = twilio.sign(public + path, form)
    assert verify_signature(twilio.auth_token, public, path, form, signature)
    assert not verify_signature("", public, path, form, signature)


# -- parsing ------------------------------------------------------------------------------------


def test_a_text_message_is_parsed_with_the_number_without_the_whatsapp_prefix(
    twilio: FakeTwilio,
) -> None:
    form = twilio.inbound_form(
        from_number=ARTISAN, body="  Nimemaliza  ", message_sid="SM" + "1" * 32
    )
    incoming = parse_inbound(form, received_at=NOW)
    assert incoming == Incoming(
        channel=Channel.WHATSAPP,
        address=ARTISAN,
        provider_message_id="SM" + "1" * 32,
        text="Nimemaliza",
        media=(),
        button_payload=None,
        received_at=NOW,
    )


def test_a_quick_reply_button_press_is_parsed_as_its_payload(twilio: FakeTwilio) -> None:
    form = twilio.inbound_form(from_number=ARTISAN, body="Accept", button_payload="offer:41:accept")
    assert parse_inbound(form, received_at=NOW).button_payload == "offer:41:accept"


def test_media_links_list_every_announced_attachment_with_its_declared_type(
    twilio: FakeTwilio,
) -> None:
    form = twilio.inbound_form(
        from_number=ARTISAN,
        media={"https://api.twilio.com/a": "image/jpeg", "https://api.twilio.com/b": "image/PNG"},
    )
    assert media_links(form) == (
        RemoteMedia("https://api.twilio.com/a", "image/jpeg"),
        RemoteMedia("https://api.twilio.com/b", "image/png"),
    )
    item = MediaItem("image/jpeg", 10, "abc.jpg")
    assert parse_inbound(form, received_at=NOW, media=[item]).media == (item,)


@pytest.mark.parametrize(
    ("field", "value"),
    [("From", "+254712345678"), ("From", "whatsapp:"), ("MessageSid", ""), ("NumMedia", "two")],
)
def test_a_form_that_twilio_would_not_send_is_malformed(
    twilio: FakeTwilio, field: str, value: str
) -> None:
    form = {**twilio.inbound_form(from_number=ARTISAN, body="hi"), field: value}
    with pytest.raises(MalformedInbound):
        parse_inbound(form, received_at=NOW, media=pending_media(media_links(form)))


def test_a_media_count_without_its_urls_is_malformed(twilio: FakeTwilio) -> None:
    form = {**twilio.inbound_form(from_number=ARTISAN), "NumMedia": "1"}
    with pytest.raises(MalformedInbound, match="MediaUrl0"):
        media_links(form)


async def test_a_signed_status_callback_reports_the_error_code(twilio: FakeTwilio) -> None:
    seen = []

    async def status(request: Request) -> Response:
        form = await form_fields(request)
        public = f"{request.url.scheme}://{request.url.netloc}"
        signature = request.headers.get("X-Twilio-Signature")
        if not verify_signature(twilio.auth_token, public, request.url.path, form, signature):
            return PlainTextResponse("forbidden", status_code=403)
        seen.append(parse_status_callback(form))
        return Response(status_code=204)

    form = twilio.status_form(
        message_sid="SM" + "2" * 32, status="undelivered", to_number=ARTISAN, error_code=63016
    )
    async with serving(Starlette(routes=[Route("/s", status, methods=["POST"])])) as base:
        delivered = await twilio.post_status_callback(
            f"{base}/s",
            message_sid="SM" + "2" * 32,
            status="undelivered",
            to_number=ARTISAN,
            error_code=63016,
        )
        assert delivered.status_code == 204
        assert (await twilio.post_webhook(f"{base}/s", form, signature="bad")).status_code == 403
    [update] = seen
    assert (update.message_sid, update.status, update.error_code) == (
        "SM" + "2" * 32,
        "undelivered",
        63016,
    )


# -- media --------------------------------------------------------------------------------------


async def test_a_photo_is_fetched_with_basic_auth_and_stored_under_our_own_id(
    twilio: FakeTwilio, downloader: MediaDownloader, store: LocalMediaStore
) -> None:
    url = twilio.add_media(JPEG, "image/jpeg")
    item = await downloader.fetch(RemoteMedia(url, "image/jpeg"))
    assert (item.content_type, item.size) == ("image/jpeg", len(JPEG))
    assert "ME" not in item.ref
    assert item.ref.endswith(".jpg")
    assert await store.load(item.ref) == JPEG
    [fetch] = twilio.media_fetches
    assert fetch.status == 200
    assert fetch.authorization is not None


async def test_media_on_another_host_is_refused_and_never_sent_our_credentials(
    twilio: FakeTwilio, downloader: MediaDownloader, store: LocalMediaStore
) -> None:
    async with FakeTwilio(
        account_sid=twilio.account_sid, auth_token=twilio.auth_token
    ).running() as elsewhere:
        url = elsewhere.add_media(JPEG, "image/jpeg")
        with pytest.raises(MediaRefused) as refused:
            await downloader.fetch(RemoteMedia(url, "image/jpeg"))
        localhost_alias = url.replace("127.0.0.1", "localhost")
        with pytest.raises(MediaRefused):
            await downloader.fetch(RemoteMedia(localhost_alias, "image/jpeg"))
    assert refused.value.reason is RefusalReason.UNTRUSTED_HOST
    assert elsewhere.media_fetches == []
    assert stored_files(store) == []


async def test_a_brief_404_is_retried_until_the_media_appears(
    twilio: FakeTwilio, downloader: MediaDownloader
) -> None:
    url = twilio.add_media(PNG, "image/png", missing_for=2)
    item = await downloader.fetch(RemoteMedia(url, "image/png"))
    assert item.content_type == "image/png"
    assert [f.status for f in twilio.media_fetches] == [404, 404, 200]


async def test_media_still_missing_after_the_retries_is_refused_as_not_found(
    twilio: FakeTwilio, downloader: MediaDownloader
) -> None:
    url = twilio.add_media(PNG, "image/png", missing_for=10)
    with pytest.raises(MediaRefused) as refused:
        await downloader.fetch(RemoteMedia(url, "image/png"))
    assert refused.value.reason is RefusalReason.NOT_FOUND
    assert len(twilio.media_fetches) == 4  # the first try and three retries


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "streamed"])
async def test_oversized_media_is_refused_and_nothing_is_stored(
    twilio: FakeTwilio, downloader: MediaDownloader, store: LocalMediaStore, chunked: bool
) -> None:
    url = twilio.add_media(JPEG * 4, "image/jpeg", chunked=chunked)
    with pytest.raises(MediaRefused) as refused:
        await downloader.fetch(RemoteMedia(url, "image/jpeg"))
    assert refused.value.reason is RefusalReason.TOO_LARGE
    assert stored_files(store) == []


async def test_a_pdf_is_refused_without_downloading_it(
    twilio: FakeTwilio, downloader: MediaDownloader, store: LocalMediaStore
) -> None:
    url = twilio.add_media(PDF, "application/pdf")
    with pytest.raises(MediaRefused) as refused:
        await downloader.fetch(RemoteMedia(url, "application/pdf"))
    assert refused.value.reason is RefusalReason.NOT_AN_IMAGE
    assert twilio.media_fetches == []
    assert stored_files(store) == []


async def test_a_pdf_served_as_a_jpeg_is_refused_by_its_content(
    twilio: FakeTwilio, downloader: MediaDownloader, store: LocalMediaStore
) -> None:
    url = twilio.add_media(PDF, "image/jpeg")
    with pytest.raises(MediaRefused) as refused:
        await downloader.fetch(RemoteMedia(url, "image/jpeg"))
    assert refused.value.reason is RefusalReason.NOT_AN_IMAGE
    assert stored_files(store) == []


async def test_twilios_redirect_to_its_cdn_is_followed_without_our_credentials(
    twilio: FakeTwilio, downloader: MediaDownloader
) -> None:
    cdn = twilio.base_url.replace("127.0.0.1", "localhost")  # another origin, same fake
    url = twilio.add_media(JPEG, "image/jpeg", cdn_base_url=cdn)
    item = await downloader.fetch(RemoteMedia(url, "image/jpeg"))
    assert item.size == len(JPEG)
    api, cdn_fetch = twilio.media_fetches
    assert api.authorization is not None
    assert cdn_fetch.path.startswith("/cdn/")
    assert cdn_fetch.authorization is None


async def test_fetch_all_keeps_the_photos_and_reports_each_refusal(
    twilio: FakeTwilio, downloader: MediaDownloader
) -> None:
    form = twilio.inbound_form(
        from_number=ARTISAN,
        media={
            twilio.add_media(JPEG, "image/jpeg"): "image/jpeg",
            twilio.add_media(PDF, "application/pdf"): "application/pdf",
            "https://evil.example/steal": "image/jpeg",
        },
    )
    kept, refused = await downloader.fetch_all(media_links(form))
    incoming = parse_inbound(form, received_at=NOW, media=kept)
    assert [m.content_type for m in incoming.media] == ["image/jpeg"]
    assert [r.reason for r in refused] == [RefusalReason.NOT_AN_IMAGE, RefusalReason.UNTRUSTED_HOST]


async def test_the_media_store_only_opens_references_it_issued(store: LocalMediaStore) -> None:
    ref = await store.save(PNG, "image/png")
    assert await store.load(ref) == PNG
    for forged in ("../../etc/passwd", "/etc/passwd", ref.replace(".png", ".exe"), ref + "/x"):
        with pytest.raises(ValueError, match="not a media reference"):
            await store.load(forged)


# -- sending ------------------------------------------------------------------------------------


async def test_a_reply_with_choices_lands_in_twilio_as_numbered_options(
    twilio: FakeTwilio, sender: WhatsAppSender
) -> None:
    reply = Reply(
        "New job: 20 horn pendants by Friday.",
        choices=(Choice("offer:41:accept", "Accept"), Choice("offer:41:decline", "Decline")),
    )
    message_sid = await sender.send(ARTISAN, reply)
    [sent] = twilio.messages
    assert sent.sid == message_sid
    assert sent.to == f"whatsapp:{ARTISAN}"
    assert sent.from_ == twilio.whatsapp_from
    assert sent.body == "New job: 20 horn pendants by Friday.\n\n1. Accept\n2. Decline"
    assert sent.status_callback == "https://karakana.example/whatsapp/status"
    assert sent.content_sid is None


async def test_a_template_lands_in_twilio_with_content_sid_and_json_variables(
    twilio: FakeTwilio, sender: WhatsAppSender
) -> None:
    template = Template("HX" + "3" * 32, {"1": "Wanjiku", "2": "20 horn pendants"})
    message_sid = await sender.send_template(ARTISAN, template)
    [sent] = twilio.messages
    assert sent.sid == message_sid
    assert sent.content_sid == "HX" + "3" * 32
    assert json.loads(sent.content_variables or "") == {"1": "Wanjiku", "2": "20 horn pendants"}
    assert sent.body is None


async def test_a_reply_with_a_photo_sends_its_public_media_url(
    twilio: FakeTwilio, sender: WhatsAppSender
) -> None:
    photo = MediaItem("image/jpeg", 1234, "0" * 32 + ".jpg")
    await sender.send(ARTISAN, Reply("Your sample", media=(photo,)))
    [sent] = twilio.messages
    assert sent.media_urls == (f"https://karakana.example/media/{'0' * 32}.jpg",)


@pytest.mark.parametrize(
    ("code", "status", "failure", "retryable"),
    [
        (63016, 400, SendFailure.WINDOW_CLOSED, False),
        (63041, 400, SendFailure.TEMPLATE_REJECTED, False),
        (21656, 400, SendFailure.TEMPLATE_REJECTED, False),
        (21610, 400, SendFailure.OPTED_OUT, False),
        (63018, 429, SendFailure.RATE_LIMITED, True),
        (20429, 429, SendFailure.RATE_LIMITED, True),
        (21211, 400, SendFailure.BAD_RECIPIENT, False),
        (20500, 500, SendFailure.TRANSIENT, True),
        (21617, 400, SendFailure.REJECTED, False),
    ],
)
async def test_twilio_errors_become_send_errors_the_outbox_can_act_on(
    twilio: FakeTwilio,
    sender: WhatsAppSender,
    code: int,
    status: int,
    failure: SendFailure,
    retryable: bool,
) -> None:
    twilio.fail_next_sends(code=code, status=status)
    with pytest.raises(SendError) as raised:
        await sender.send(ARTISAN, Reply("Habari"))
    error = raised.value
    assert (error.code, error.failure, error.retryable) == (code, failure, retryable)
    assert error.channel == "whatsapp"
    assert twilio.messages == []
    await sender.send(ARTISAN, Reply("Habari"))  # the failure was for that send only
    assert len(twilio.messages) == 1


async def test_wrong_credentials_are_a_permanent_send_error(twilio: FakeTwilio) -> None:
    async with WhatsAppSender(
        account_sid=twilio.account_sid,
        auth_token="not-the-token",
        from_number="+14155238886",
        api_base_url=twilio.base_url,
    ) as sender:
        with pytest.raises(SendError) as raised:
            await sender.send(ARTISAN, Reply("Habari"))
    assert (raised.value.code, raised.value.retryable) == (20003, False)
    assert twilio.refused_auth == 1


async def test_an_unreachable_twilio_is_a_retryable_send_error() -> None:
    async with FakeTwilio().running() as gone:
        base_url, account_sid, auth_token = gone.base_url, gone.account_sid, gone.auth_token
    async with WhatsAppSender(
        account_sid=account_sid,
        auth_token=auth_token,
        from_number="+14155238886",
        api_base_url=base_url,
    ) as sender:
        with pytest.raises(SendError) as raised:
            await sender.send(ARTISAN, Reply("Habari"))
    assert (raised.value.failure, raised.value.retryable) == (SendFailure.TRANSIENT, True)


async def test_a_photo_reply_without_a_public_media_url_is_refused_before_sending(
    twilio: FakeTwilio,
) -> None:
    async with WhatsAppSender(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        from_number="+14155238886",
        api_base_url=twilio.base_url,
    ) as sender:
        with pytest.raises(SendError, match="PUBLIC_BASE_URL"):
            await sender.send(ARTISAN, Reply("x", media=(MediaItem("image/png", 1, "a.png"),)))
    assert twilio.messages == []
