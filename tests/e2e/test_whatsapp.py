"""WhatsApp through the running server: Twilio's signed webhooks in, replies out through the fake
Twilio API, and every bad request refused without changing anything."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from bot.request_body import MAX_WEBHOOK_BYTES
from bot.server import EMPTY_TWIML
from conversations.i18n import t
from conversations.messages import MediaItem, Reply
from conversations.outbox import enqueue
from domain.model import Channel, InboundStatus, OutboxKind, OutboxStatus
from domain.store import Store
from tests.e2e.harness import Running, eventually, running_karakana, settle
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

WANJIKU = "+254712345678"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(256)
WELCOME = t("en", "registration.welcome")


async def test_a_signed_message_is_acknowledged_with_empty_twiml_and_answered_through_twilio(
    karakana: Running,
) -> None:
    response = await karakana.whatsapp(WANJIKU, "Habari")

    assert response.status_code == 200
    assert response.text == EMPTY_TWIML
    assert response.headers["content-type"].startswith("text/xml")
    [reply] = await eventually(lambda: karakana.twilio.messages)
    assert reply.to == f"whatsapp:{WANJIKU}"
    assert reply.from_ == karakana.twilio.whatsapp_from
    assert WELCOME in (reply.body or "")
    assert "1. English" in (reply.body or "")  # choices as numbered lines
    assert reply.status_callback == karakana.status_callback
    [outgoing] = await eventually(lambda: karakana.all_sent(WANJIKU))
    assert outgoing.status is OutboxStatus.SENT
    assert outgoing.provider_message_id == reply.sid


async def test_a_numbered_answer_picks_the_choice_offered_with_the_question(
    karakana: Running,
) -> None:
    await karakana.whatsapp(WANJIKU, "Habari")
    await eventually(lambda: karakana.texts_to(WANJIKU))
    await karakana.whatsapp(WANJIKU, "2")  # Kiswahili

    texts = await eventually(lambda: karakana.texts_to(WANJIKU)[1:])
    assert texts == [t("sw", "registration.ask_name")]


async def test_a_missing_or_forged_signature_is_refused_and_nothing_is_stored(
    karakana: Running,
) -> None:
    form = karakana.twilio.inbound_form(from_number=WANJIKU, body="Habari")
    for_another_body = karakana.twilio.sign(karakana.whatsapp_webhook, {**form, "Body": "other"})
    statuses = []
    for signature in (None, "bm90IGEgc2lnbmF0dXJl", for_another_body):
        response = await karakana.twilio.post_webhook(
            karakana.whatsapp_webhook, form, signature=signature
        )
        statuses.append(response.status_code)

    assert statuses == [403, 403, 403]
    await settle()
    assert await karakana.inbound() == []
    assert karakana.twilio.messages == []


async def test_a_replayed_message_sid_is_answered_once(karakana: Running) -> None:
    form = karakana.twilio.inbound_form(from_number=WANJIKU, body="Habari")

    first = await karakana.twilio.post_webhook(karakana.whatsapp_webhook, form)
    second = await karakana.twilio.post_webhook(karakana.whatsapp_webhook, form)

    assert (first.status_code, second.status_code) == (200, 200)
    await eventually(lambda: karakana.twilio.messages)
    await settle()
    assert len(karakana.twilio.messages) == 1
    assert len(await karakana.inbound()) == 1


MALFORMED: dict[str, tuple[dict[str, str], bytes | None]] = {
    "no sid": ({"MessageSid": ""}, None),
    "not a WhatsApp address": ({"From": "+254712345678"}, None),
    "bad NumMedia": ({"NumMedia": "lots"}, None),
    "not UTF-8": ({}, b"\xff\xfe not utf-8 at all"),
    "not a form": ({}, b"Body=a&&&=&broken"),
}


async def test_a_malformed_form_gets_400_and_changes_nothing(karakana: Running) -> None:
    statuses = {}
    async with httpx.AsyncClient(trust_env=False) as client:
        for case, (form_change, body) in MALFORMED.items():
            form = {**karakana.twilio.inbound_form(from_number=WANJIKU, body="Hi"), **form_change}
            signature = karakana.twilio.sign(karakana.whatsapp_webhook, form)
            response = await client.post(
                karakana.whatsapp_webhook,
                content=body if body is not None else urlencode(form).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                },
            )
            statuses[case] = response.status_code

    assert statuses == dict.fromkeys(MALFORMED, 400)
    await settle()
    assert await karakana.inbound() == []
    assert karakana.twilio.messages == []


async def test_a_body_over_the_limit_gets_413_and_changes_nothing(karakana: Running) -> None:
    form = karakana.twilio.inbound_form(from_number=WANJIKU, body="Hi")
    padded = {**form, "Padding": "x" * MAX_WEBHOOK_BYTES}

    response = await karakana.twilio.post_webhook(karakana.whatsapp_webhook, padded)

    assert response.status_code == 413
    await settle()
    assert await karakana.inbound() == []
    assert karakana.twilio.messages == []


async def test_media_on_another_host_is_never_fetched_and_the_sender_is_told(
    karakana: Running,
) -> None:
    async with FakeTwilio(auth_token=karakana.twilio.auth_token).running() as stranger:
        foreign = stranger.add_media(JPEG, "image/jpeg")
        await karakana.whatsapp(WANJIKU, media={foreign: "image/jpeg"})

        [reply] = await eventually(lambda: karakana.texts_to(WANJIKU))
        assert stranger.media_fetches == []  # our credentials never went there
    assert reply == t("en", "channels.media_failed")
    [inbound] = await karakana.inbound()
    assert inbound.status is InboundStatus.PROCESSED


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        (PDF, "application/pdf", "channels.media_not_image"),
        (PDF, "image/jpeg", "channels.media_not_image"),  # a PDF that claims to be a photo
        (JPEG * 80, "image/jpeg", "channels.media_too_large"),
    ],
    ids=["pdf", "pdf-labelled-jpeg", "too-large"],
)
async def test_a_file_that_is_not_an_acceptable_photo_gets_a_polite_reply(
    karakana: Running, content: bytes, content_type: str, expected: str
) -> None:
    url = karakana.twilio.add_media(content, content_type)

    await karakana.whatsapp(WANJIKU, media={url: content_type})

    [reply] = await eventually(lambda: karakana.texts_to(WANJIKU))
    assert reply == t("en", expected, max_mb=1)
    assert list((karakana.settings.media_dir).glob("*")) == []  # nothing kept


async def test_a_photo_is_fetched_with_twilio_credentials_and_kept_under_our_own_id(
    karakana: Running,
) -> None:
    url = karakana.twilio.add_media(JPEG, "image/jpeg", missing_for=1)

    await karakana.whatsapp(WANJIKU, media={url: "image/jpeg"})

    [reply] = await eventually(lambda: karakana.texts_to(WANJIKU))
    assert reply.startswith(WELCOME)  # a stranger's photo still starts registration
    assert [fetch.status for fetch in karakana.twilio.media_fetches] == [404, 200]
    assert all(fetch.authorization for fetch in karakana.twilio.media_fetches)
    [kept] = list(karakana.settings.media_dir.glob("*.jpg"))
    assert kept.read_bytes() == JPEG


async def test_behind_a_proxy_the_signature_covers_the_public_url_not_the_one_we_are_called_at(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    public = "https://karakana.example.org"
    async with running_karakana(store, tmp_path, twilio, telegram, public_url=public) as karakana:
        signed_for_public = twilio.inbound_form(from_number=WANJIKU, body="Habari")
        signed_for_internal = twilio.inbound_form(from_number=WANJIKU, body="Habari")

        accepted = await twilio.post_webhook(
            karakana.whatsapp_webhook,
            signed_for_public,
            signed_url=f"{public}/whatsapp/webhook",
        )
        refused = await twilio.post_webhook(karakana.whatsapp_webhook, signed_for_internal)

        assert (accepted.status_code, refused.status_code) == (200, 403)
        [stored] = await karakana.inbound()
        assert stored.provider_message_id == signed_for_public["MessageSid"]


async def test_a_photo_sent_on_whatsapp_goes_out_as_a_signed_link_twilio_can_fetch(
    karakana: Running,
) -> None:
    agent = await karakana.add_staff("Juma", channel=Channel.WHATSAPP, address="+254700000009")
    await karakana.whatsapp("+254700000009", "menu")  # opens the 24-hour customer window
    await eventually(lambda: karakana.texts_to("+254700000009"))
    ref = await karakana.bot.media_store.save(JPEG, "image/jpeg")
    async with karakana.store.transaction() as session:
        await enqueue(
            session,
            channel=Channel.WHATSAPP,
            address="+254700000009",
            reply=Reply("Submission #7", media=(MediaItem("image/jpeg", len(JPEG), ref),)),
            kind=OutboxKind.BUSINESS,
            now=datetime.now(UTC),
            person_id=agent.id,
        )
    karakana.bot.dispatcher.wake()

    [sent] = await eventually(
        lambda: [m for m in karakana.twilio.messages if m.media_urls and m.to.endswith("0009")]
    )
    [link] = sent.media_urls
    assert link.startswith(f"{karakana.url}/media/")
    assert "signature=" in link
    async with httpx.AsyncClient(trust_env=False) as client:
        fetched = await client.get(link)
        tampered = await client.get(link.replace("signature=", "signature=0"))
    assert (fetched.status_code, fetched.content) == (200, JPEG)
    assert tampered.status_code == 404
