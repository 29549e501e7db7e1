"""The whole loop over real HTTP on loopback: a web-shop order in, a parcel shipped, artisans paid.

Wanjiru registers on WhatsApp (in English); Juma, the field agent for Kibera, verifies her on
Telegram with a button (whose keyboard is then taken off). Baraka, a brass caster already
registered, works on Telegram in Kiswahili. A buyer orders ten beaded necklaces on the web shop:
Shopify's signed ``orders/create`` webhook (the payload of Shopify's documentation) makes a draft,
and Achieng, the admin on WhatsApp, presses its Confirm button. The production matching round
offers the beaded strands to Wanjiru and the brass hooks to both. Wanjiru takes all the strands by
their typed code and part of the hooks by a numbered reply; Baraka presses "accept all" and gets
the hooks that are left. Each posts photos and a count; Juma passes some of Wanjiru's strands and
rejects the rest with a reason and a note; she reworks them and he passes the rework; he passes
her hooks and Baraka's. Both arrange drop-offs and Juma counts every lot in. Achieng assembles the
line in chat, is told the order is ready with a Ship button, and ships it with a carrier and a
tracking number: the fulfillment, tracking included, is created on the fake Shopify. She makes a
payout batch and approves it in chat; the fake Daraja pays both and reports it by callback; each
artisan reads the payment and their earnings in chat, in their language. The ledger balances, and
every person received what they should, in their language.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from babel.messages.catalog import Catalog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.intake import HMAC_HEADER, TOPIC_HEADER, WEBHOOK_ID_HEADER, shopify_signature
from conversations.i18n import default_catalogue, read_catalog, t
from conversations.registry import REGISTRY
from domain.ledger import artisan_balance, trial_balance
from domain.model import (
    Allocation,
    ArtisanProfile,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    Component,
    Delivery,
    DeliveryStatus,
    Job,
    Language,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    OrderStatus,
    OutboxMessage,
    OutboxStatus,
    Payout,
    PayoutStatus,
    QcReview,
    Role,
    Submission,
    SubmissionPhoto,
)
from domain.services import catalogue
from domain.store import Store
from matching.round import run_matching_round as matching_round
from scheduler.jobs import run_matching_round
from tests.e2e.harness import Running, eventually, running_karakana
from tests.fakes.daraja_api import FakeDaraja
from tests.fakes.shopify_api import FakeShopify
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.conversation_driver import REGISTRATION_ANSWERS, seed_catalogue
from tests.integration.factory_fixtures import active_artisan, ident
from tests.integration.mpesa_harness import INITIATOR_PASSWORD, certificate

WANJIRU = "+254712345678"  # WhatsApp, English; registers in the story
ACHIENG = "+254700000901"  # the admin, on WhatsApp
JUMA = 7_100_001  # the field agent, a Telegram chat
BARAKA = 7_100_002  # a brass caster on Telegram, in Kiswahili
BARAKA_MPESA = "+254711000102"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
RATE_CENTS = 2_000  # every component's piece rate in seed_catalogue: KES 20
SHOP_SECRET = "shopify-webhook-secret-for-the-whole-story"
PAYLOAD = Path(__file__).parents[1] / "fakes" / "shopify_payloads" / "orders_create.json"
SHOP_ORDER_ID = 820982911946154508  # the id in Shopify's documented payload
SHOP_LINE_ID = 866550311766439020
NECKLACES = 10  # each: one beaded strand and two brass hooks


@dataclass
class World:
    k: Running
    shopify: FakeShopify
    daraja: FakeDaraja


@pytest.fixture
async def world(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> AsyncIterator[World]:
    pem = tmp_path / "mpesa.cer"
    pem.write_bytes(certificate()[0])
    async with FakeShopify().running() as shopify, FakeDaraja().running() as daraja:
        settings = {
            "shopify_webhook_secret": SHOP_SECRET,
            "shopify_api_base_url": shopify.api_base_url,
            "shopify_admin_token": shopify.token,
            "payout_minimum": "100",
            "mpesa_api_base_url": daraja.base_url,
            "mpesa_consumer_key": daraja.consumer_key,
            "mpesa_consumer_secret": daraja.consumer_secret,
            "mpesa_shortcode": "600999",
            "mpesa_initiator_name": "karakana_api",
            "mpesa_initiator_password": INITIATOR_PASSWORD,
            "mpesa_certificate_path": pem,
            "mpesa_request_timeout": 2,
            "mpesa_callback_token": "whole-story-callback-token-0123",
            "models_dir": tmp_path / "models",
        }
        async with running_karakana(
            store, tmp_path, twilio, telegram, extra_settings=settings
        ) as k:
            yield World(k, shopify, daraja)


@functools.cache
def _catalog(language: str) -> Catalog:
    return read_catalog(Language(language))


@functools.cache
def _patterns(language: str) -> dict[str, tuple[re.Pattern[str], ...]]:
    """Every message of ``language``'s catalogue as patterns (one per plural form), any value
    in its placeholders."""
    found = {}
    for message in _catalog(language):
        if not message.id or not message.string:
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        found[str(msgid)] = tuple(_pattern(str(form)) for form in forms)
    return found


def _pattern(form: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z_]+(?::[^}]*)?\}", form.replace("{{", "\0").replace("}}", "\1"))
    return re.compile(
        ".*?".join(re.escape(part.replace("\0", "{").replace("\1", "}")) for part in parts),
        re.DOTALL,
    )


def says(language: str, msgid: str, text: str) -> bool:
    """Whether ``text`` is ``msgid`` in ``language`` (or begins with it), whatever fills its
    placeholders (in any of its plural forms)."""
    return any(p.match(text) for p in _patterns(language).get(msgid, ()))


def in_language(language: str, text: str) -> bool:
    """Whether ``text`` begins with a message of ``language``'s catalogue that has words of its
    own (not one made of placeholders alone)."""
    return any(
        pattern.match(text)
        for patterns in _patterns(language).values()
        for pattern in patterns
        if len(re.sub(r"\\.|[^A-Za-z]", "", pattern.pattern)) >= 6
    )


async def _approve(admin: WhatsApper, daraja: FakeDaraja) -> str:
    """``/approve_payouts`` as an admin sends it: again once she is told M-Pesa has said what
    the float holds, and ``yes`` when asked to confirm. Returns the last answer."""
    answer = await admin.says("/approve_payouts", until="#1")
    if says("en", "admin.approve_float_unknown", answer):
        # M-Pesa's balance comes by callback, and the admin is told it has come.
        await eventually(lambda: [c for c in daraja.balance_callbacks if c.status == 200])
        await admin.told(t("en", "polish.float_arrived_enough", id=1))
        answer = await admin.says("/approve_payouts", until=t("en", "admin.confirm_yes_no"))
    if says("en", "admin.approve_confirm", answer):
        answer = await admin.says("yes", until="#1")
    return answer


def labels(message: dict[str, Any]) -> list[str]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["text"] for row in keyboard for b in row]


class WhatsApper:
    """Someone on WhatsApp, talking to the running Karakana through Twilio-signed webhooks."""

    def __init__(self, k: Running, number: str) -> None:
        self.k = k
        self.number = number

    def read(self) -> list[str]:
        return self.k.texts_to(self.number)

    async def says(
        self, text: str = "", *, until: str | None = None, button: str | None = None, **form: Any
    ) -> str:
        """Writes (or presses ``button``); returns everything sent in answer (waiting for
        ``until``)."""
        before = len(self.read())
        if button is not None:
            form["button_payload"] = button
        await self.k.whatsapp(self.number, text, **form)

        def answered() -> str:
            new = "\n".join(self.read()[before:])
            return new if new and (until is None or until in new) else ""

        return await eventually(answered)

    async def photo(self) -> str:
        url = self.k.twilio.add_media(JPEG, "image/jpeg")
        return await self.says(media={url: "image/jpeg"})

    async def told(self, words: str) -> str:
        """A message containing ``words`` (waiting for it)."""
        return await eventually(lambda: next((m for m in self.read() if words in m), ""))


class Telegrammer:
    """Someone on Telegram, talking to the running Karakana through its secret-token webhook."""

    def __init__(self, k: Running, chat: int) -> None:
        self.k = k
        self.chat = chat

    def messages(self) -> list[dict[str, Any]]:
        return [
            p for p in self.k.telegram.sent("sendMessage") if str(p["chat_id"]) == str(self.chat)
        ]

    def read(self) -> list[str]:
        return [str(m["text"]) for m in self.messages()]

    async def gets(
        self, words: str, after: int = 0, *, button: str | None = None
    ) -> dict[str, Any]:
        """The first message (from index ``after``) with ``words`` (and ``button``)."""

        def wanted(message: dict[str, Any]) -> bool:
            return words in message["text"] and (
                button is None or any(button in label for label in labels(message))
            )

        return await eventually(
            lambda: next((m for m in self.messages()[after:] if wanted(m)), None)
        )

    async def hears(self, msgid: str, after: int = 0) -> dict[str, Any]:
        """The first message (from index ``after``) that is ``msgid`` in Kiswahili."""
        return await eventually(
            lambda: next((m for m in self.messages()[after:] if says("sw", msgid, m["text"])), None)
        )

    async def says(
        self, text: str, *, until: str | None = None, heard: str | None = None
    ) -> dict[str, Any]:
        """Writes; the next message with ``until`` in it, or that is ``heard`` in Kiswahili."""
        before = len(self.messages())
        await self.k.telegram_update(self.k.telegram.text_update(self.chat, text))
        if heard is not None:
            return await self.hears(heard, before)
        return await self.gets(until or "", before)

    async def photo(self, *, until: str) -> dict[str, Any]:
        before = len(self.messages())
        sizes = self.k.telegram.photo_sizes(JPEG)
        await self.k.telegram_update(self.k.telegram.photo_update(self.chat, sizes))
        return await self.gets(until, before)

    async def presses(
        self,
        message: dict[str, Any],
        label: str,
        *,
        until: str | None = None,
        heard: str | None = None,
    ) -> dict[str, Any] | None:
        """Presses the button whose label contains ``label``; the next message with ``until``
        in it, or that is ``heard`` in Kiswahili."""
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        [button] = [b for b in buttons if label in b["text"]]
        before = len(self.messages())
        await self.k.telegram_update(
            self.k.telegram.callback_update(self.chat, button["callback_data"])
        )
        if heard is not None:
            return await self.hears(heard, before)
        return None if until is None else await self.gets(until, before)


async def _read(k: Running, read: Callable[[AsyncSession], Any]) -> Any:
    async with k.store.read() as session:
        found = await read(session)
        session.expunge_all()
        return found


async def _get(k: Running, model: type[Any], row_id: int | None) -> Any:
    async with k.store.read() as session:
        found = await session.get(model, row_id)
        session.expunge_all()
        return found


async def _rows(k: Running, statement: Any) -> list[Any]:
    async def run(session: AsyncSession) -> list[Any]:
        return list(await session.exec(statement))

    result: list[Any] = await _read(k, run)
    return result


async def _component(session: AsyncSession, job_id: int) -> str:
    job = await session.get(Job, job_id)
    assert job is not None
    component = await session.get(Component, job.component_id)
    assert component is not None
    return component.name


def _shop_order() -> bytes:
    """Shopify's documented ``orders/create`` payload, selling ten of our beaded necklaces."""
    payload = json.loads(PAYLOAD.read_text())
    [first, _] = payload["line_items"]
    payload["line_items"] = [
        first
        | {
            "sku": "NECKLACE-BEAD",
            "name": "Beaded necklace",
            "title": "Beaded necklace",
            "quantity": NECKLACES,
            "fulfillable_quantity": NECKLACES,
            "price": "1500.00",
        }
    ]
    return json.dumps(payload).encode()


async def _post_shop_order(k: Running, body: bytes) -> httpx.Response:
    headers = {
        HMAC_HEADER: shopify_signature(SHOP_SECRET, body),
        WEBHOOK_ID_HEADER: "b54557e4-whole-story",
        TOPIC_HEADER: "orders/create",
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.post(f"{k.url}/shop/shopify/orders", content=body, headers=headers)


async def _all_sent(k: Running) -> list[OutboxMessage]:
    """Every outbox row, once each has been sent (else nothing, for ``eventually``)."""
    rows: list[OutboxMessage] = await _rows(
        k, select(OutboxMessage).order_by(col(OutboxMessage.id))
    )
    return rows if all(row.status is OutboxStatus.SENT for row in rows) else []


async def _passes_all(juma: Telegrammer, submission_id: int, count: int) -> None:
    """Juma opens the submission from its notice and passes every piece."""
    check = t("en", "agent.notice.check_button")
    notice = await juma.gets(f"#{submission_id}", button=check)
    after = len(juma.messages())
    await juma.presses(notice, check)
    approve = t("en", "agent.qc.approve_all", count=count)
    shown = await juma.gets(f"#{submission_id}", after, button=approve)
    await juma.presses(shown, approve, until=f"all {count} pieces")


def _only(language: str, texts: Sequence[str], msgids: Sequence[str]) -> None:
    """Each of ``texts`` is one of ``msgids`` in ``language``, and each msgid was said."""
    unexplained = [x for x in texts if not any(says(language, m, x) for m in msgids)]
    assert not unexplained, f"said, but not one of {msgids} in {language}: {unexplained}"
    unsaid = [m for m in msgids if not any(says(language, m, x) for x in texts)]
    assert not unsaid, f"never said in {language}: {unsaid}"


async def test_a_web_shop_order_is_made_assembled_shipped_and_its_artisans_paid(
    world: World,
) -> None:
    k, store = world.k, world.k.store
    wanjiru_chat = WhatsApper(k, WANJIRU)
    achieng = WhatsApper(k, ACHIENG)
    juma_chat = Telegrammer(k, JUMA)
    baraka_chat = Telegrammer(k, BARAKA)
    en, sw = functools.partial(t, "en"), functools.partial(t, "sw")
    await seed_catalogue(store)
    now = datetime.now(UTC)
    async with store.transaction() as session:
        await catalogue.upsert_product(
            session,
            sku="NECKLACE-BEAD",
            name="Beaded necklace",
            wholesale_price_cents=90_000,
            retail_price_cents=150_000,
        )
        await catalogue.set_bom(session, sku="NECKLACE-BEAD", components={"BEAD-STR": 1, "HOOK": 2})
    juma = await k.add_staff("Juma", channel=Channel.TELEGRAM, address=str(JUMA))
    await k.add_staff("Achieng", channel=Channel.WHATSAPP, address=ACHIENG, role=Role.ADMIN)
    async with store.transaction() as session:
        baraka = ident(
            await active_artisan(
                session,
                verified_by=ident(juma),
                now=now,
                name="Baraka Otieno",
                skills={"brass casting": 60},
                language=Language.SW,
                channel=Channel.TELEGRAM,
                address=str(BARAKA),
                mpesa_number=BARAKA_MPESA,
            )
        )

    # 1. Wanjiru registers on WhatsApp.
    for answer in REGISTRATION_ANSWERS:
        last = await wanjiru_chat.says(answer)
    assert last == en("registration.received", name="Wanjiru Kamau")
    [identity] = await _rows(k, select(ChannelIdentity).where(ChannelIdentity.address == WANJIRU))
    wanjiru = identity.person_id

    # 2. Juma verifies her with the button; its keyboard is then removed.
    request = await juma_chat.gets("Wanjiru Kamau")
    assert labels(request) == [en("agent.verify_button")]
    await juma_chat.presses(
        request,
        en("agent.verify_button"),
        until=en("agent.verified", id=wanjiru, name="“Wanjiru Kamau”"),
    )
    [edit] = await eventually(lambda: k.telegram.sent("editMessageReplyMarkup"))
    assert str(edit["chat_id"]) == str(JUMA)
    assert "reply_markup" not in edit or not edit["reply_markup"]
    await wanjiru_chat.told(en("registration.verified", name="Wanjiru Kamau"))
    profile = await _read(k, lambda s: s.get(ArtisanProfile, wanjiru))
    assert profile.status is ArtisanStatus.ACTIVE

    # 3. The web shop's order comes in by Shopify's signed webhook; Achieng confirms it.
    await achieng.says("/orders", until=en("admin.orders_none"))
    webhook = await _post_shop_order(k, _shop_order())
    assert webhook.status_code == 200
    order_id = webhook.json()["order"]
    placed = await achieng.told(f"New order {order_id}")
    assert placed.startswith(
        en(
            "intake.order_placed",
            id=order_id,
            customer="“Web shop”",
            source=en("intake.source_shopify"),
            reference="“#9999”",
            pieces=NECKLACES,
            due="15/02/2027",
        )
    )
    assert en("intake.order_problems") not in placed  # nothing stands in its way
    await achieng.says(
        button=f"confirm:{order_id}", until=en("admin.confirmed", id=order_id, jobs=2, count=2)
    )
    world.shopify.add_order(SHOP_ORDER_ID, {SHOP_LINE_ID: NECKLACES})

    # 4. The production matching round offers the strands to Wanjiru, the hooks to both.
    await run_matching_round(
        store,
        clock=lambda: datetime.now(UTC),
        match=functools.partial(matching_round, rng=np.random.default_rng(7)),
        notify=REGISTRY.notifier(default_catalogue()),
    )
    k.bot.dispatcher.wake()
    offers = await _rows(k, select(Offer).order_by(col(Offer.id)))
    names = {o.id: await _read(k, functools.partial(_component, job_id=o.job_id)) for o in offers}
    made = {(o.artisan_id, names[o.id]): o for o in offers}
    assert {key: o.quantity for key, o in made.items()} == {
        (wanjiru, "Bead-Str"): NECKLACES,
        (wanjiru, "Hook"): 2 * NECKLACES,
        (baraka, "Hook"): 2 * NECKLACES,
    }, "the hooks are offered twice over: the first to answer gets them"
    strands, hooks = made[wanjiru, "Bead-Str"], made[wanjiru, "Hook"]
    barakas = made[baraka, "Hook"]
    assert strands.id < hooks.id  # so the hooks are the offer she was told of last
    for offer in (strands, hooks):
        told = await wanjiru_chat.told(f"PART {offer.id} ")
        assert f"1. {en('artisan.offer_accept_all')}" in told
        assert f"2. {en('artisan.offer_accept_part')}" in told
    offered = await baraka_chat.gets(f"#{barakas.id}", button=sw("artisan.offer_accept_all"))
    assert says("sw", "artisan.offer_new", offered["text"])

    # 5. Wanjiru takes all the strands by their typed code...
    took = await wanjiru_chat.says(f"ACCEPT {strands.id}")
    assert f"#{strands.id}" in took
    assert f"{NECKLACES} ×" in took
    # ...and part of the hooks: the reply above came after their message, so a bare "2" now
    # answers nothing (conversations/numbered.py) and nothing is taken; their typed code does.
    await wanjiru_chat.says("2", until=en("polish.number_stale", text="“2”"))
    asked = await wanjiru_chat.says(f"PART {hooks.id}", until="How many")
    took = await wanjiru_chat.says("I can do 8")
    assert f"#{hooks.id}" in took
    assert "8 ×" in took
    # Baraka presses "accept all" and gets, in Kiswahili, the twelve hooks left.
    left = 2 * NECKLACES - 8
    got = await baraka_chat.presses(offered, sw("artisan.offer_accept_all"), until=f"#{barakas.id}")
    assert got is not None
    assert says("sw", "artisan.offer_accepted_last", got["text"])
    assert f"{left} ×" in got["text"]
    allocations = await _rows(k, select(Allocation).order_by(col(Allocation.id)))
    assert [(a.artisan_id, a.quantity) for a in allocations] == [
        (wanjiru, NECKLACES),
        (wanjiru, 8),
        (baraka, left),
    ]
    statuses = {o.id: o.status for o in await _rows(k, select(Offer))}
    assert statuses == {
        strands.id: OfferStatus.ACCEPTED,
        hooks.id: OfferStatus.PARTLY_ACCEPTED,
        barakas.id: OfferStatus.PARTLY_ACCEPTED,  # twelve of the twenty offered
    }
    strand_lot, hook_lot, baraka_lot = allocations
    strand = names[strands.id]

    # 6. Wanjiru posts an album of three photos of the strands, says done and the count.
    await wanjiru_chat.says("menu")
    which = await wanjiru_chat.says(en("menu.item.submit"))
    assert f"1. #{strand_lot.job_id}" in which  # two jobs, by the numbers staff see
    asked = await wanjiru_chat.says("1")
    assert asked == en("artisan.photos_ask", id=strand_lot.job_id, component=strand)
    for n in (1, 2, 3):
        got_photo = await wanjiru_chat.photo()
        assert en("artisan.photos_got", count=n) in got_photo
    assert en("artisan.count_ask", max=NECKLACES) in await wanjiru_chat.says("done")
    confirm = await wanjiru_chat.says(str(NECKLACES))
    assert confirm.startswith(
        en(
            "artisan.submit_confirm",
            count=NECKLACES,
            component=strand,
            id=strand_lot.job_id,
            photos=en("words.photos", count=3),
        )
    )
    await wanjiru_chat.says("1", until="#")
    [submission] = await _rows(k, select(Submission))
    assert (submission.allocation_id, submission.count) == (strand_lot.id, NECKLACES)
    photos = await _rows(
        k, select(SubmissionPhoto).where(SubmissionPhoto.submission_id == submission.id)
    )
    assert len(photos) == 3
    assert len([f for f in k.twilio.media_fetches if f.status == 200]) == 3

    # 7. Juma is told on Telegram and checks it: the photos, then 7 pass and 3 are rejected.
    check = en("agent.notice.check_button")
    notice = await juma_chat.gets(f"#{submission.id}", button=check)
    sent_before = len(k.telegram.sent("sendPhoto"))
    shown = await juma_chat.presses(notice, check, until=f"#{submission.id}")
    assert shown is not None
    shown = await juma_chat.gets(f"#{submission.id}", button=en("agent.qc.approve_some"))
    assert len(k.telegram.sent("sendPhoto")) - sent_before == 3
    await juma_chat.presses(shown, en("agent.qc.approve_some"), until="How many")
    why = await juma_chat.says("7", until="rejected")
    note = await juma_chat.presses(why, labels(why)[0], until="note")
    assert note is not None
    await juma_chat.says("Sand the edges smooth", until="7 passed, 3 rejected")
    [review] = await _rows(k, select(QcReview))
    assert (review.passed, review.rejected, review.reviewer_id) == (7, 3, juma.id)
    assert (review.reasons, review.note) == ("poor_finish", "Sand the edges smooth")

    # 8. Wanjiru hears the result, reworks the three and sends them again; Juma passes them.
    result = await wanjiru_chat.told(f"Quality check of #{submission.id}")
    assert "7 passed, 3 not accepted" in result
    assert "Sand the edges smooth" in result
    await wanjiru_chat.says("menu")
    await wanjiru_chat.says(en("menu.item.submit"))
    await wanjiru_chat.says("1", until=en("artisan.photos_ask", id=strand_lot.id, component=strand))
    await wanjiru_chat.photo()
    assert en("artisan.count_ask", max=3) in await wanjiru_chat.says("done")
    await wanjiru_chat.says("3")
    await wanjiru_chat.says("1", until="#")
    rework = (await _rows(k, select(Submission).order_by(col(Submission.id).desc())))[0]
    assert (rework.allocation_id, rework.count) == (strand_lot.id, 3)
    await _passes_all(juma_chat, rework.id, 3)
    await wanjiru_chat.told(en("artisan.qc_all_passed", passed=3, component=strand, id=rework.id))

    # 9. Her eight hooks, and Baraka's twelve (one photo, in Kiswahili), all pass.
    await wanjiru_chat.says("menu")
    hooks_ask = en("artisan.photos_ask", id=hook_lot.id, component="Hook")
    asked = await wanjiru_chat.says(en("menu.item.submit"))
    assert asked == hooks_ask, "her strands are all passed: only the hooks are left to submit"
    await wanjiru_chat.photo()
    await wanjiru_chat.says("done", until="8")
    await wanjiru_chat.says("8")
    await wanjiru_chat.says("1", until="#")
    wanjiru_hooks = (await _rows(k, select(Submission).order_by(col(Submission.id).desc())))[0]
    assert (wanjiru_hooks.allocation_id, wanjiru_hooks.count) == (hook_lot.id, 8)
    await _passes_all(juma_chat, wanjiru_hooks.id, 8)

    # One photo sent out of the blue, for his only lot: he is asked how many at once.
    await baraka_chat.photo(until=sw("artisan.count_ask", max=left))
    assert any(says("sw", "artisan.photos_got_for_job", x) for x in baraka_chat.read())
    confirm_sw = await baraka_chat.says(str(left), heard="artisan.submit_confirm")
    assert f"{left} × Hook" in confirm_sw["text"]
    await baraka_chat.says("1", heard="artisan.submitted")
    barakas_work = (await _rows(k, select(Submission).order_by(col(Submission.id).desc())))[0]
    assert (barakas_work.allocation_id, barakas_work.count) == (baraka_lot.id, left)
    await _passes_all(juma_chat, barakas_work.id, left)
    await baraka_chat.gets(
        sw("artisan.qc_all_passed", passed=left, component="Hook", id=barakas_work.id)
    )

    # 10. Each arranges a drop-off of every passed piece; Juma counts each lot in.
    deliveries = {}
    for lot, pieces, choice in ((strand_lot, NECKLACES, "1"), (hook_lot, 8, "2")):
        await wanjiru_chat.says("menu")
        assert en("artisan.delivery_how") in await wanjiru_chat.says(en("menu.item.delivery"))
        how_many = await wanjiru_chat.says("1")
        if en("artisan.delivery_which_job") in how_many:  # two lots: which one
            how_many = await wanjiru_chat.says(choice)
        assert en("artisan.delivery_how_many", max=pieces) in how_many
        await wanjiru_chat.says(str(pieces))
        booked = await wanjiru_chat.says("1", until="#")
        [delivery] = await _rows(k, select(Delivery).where(Delivery.allocation_id == lot.id))
        assert delivery.declared_quantity == pieces
        assert f"#{delivery.id}" in booked
        deliveries[lot.id] = delivery
    menu = await baraka_chat.says("menyu", heard="menu.title")
    await baraka_chat.presses(menu, sw("menu.item.delivery"), heard="artisan.delivery_how")
    await baraka_chat.says("1", heard="artisan.delivery_how_many")
    await baraka_chat.says(str(left), heard="artisan.delivery_when_drop_off")
    await baraka_chat.says("1", heard="artisan.delivery_booked_drop_off")
    [baraka_delivery] = await _rows(
        k, select(Delivery).where(Delivery.allocation_id == baraka_lot.id)
    )
    deliveries[baraka_lot.id] = baraka_delivery
    for delivery in deliveries.values():
        pick = await juma_chat.says("/receipt", until=en("agent.receipt.ask_delivery"))
        count = await juma_chat.presses(pick, f"#{delivery.id} ", until="How many pieces arrived?")
        assert count is not None
        await juma_chat.presses(
            count,
            en("agent.receipt.all_arrived", count=delivery.declared_quantity),
            until=f"delivery #{delivery.id}",
        )
    for delivery in deliveries.values():
        received = await _get(k, Delivery, delivery.id)
        assert received.status is DeliveryStatus.RECEIVED
        assert received.received_quantity == delivery.declared_quantity

    # 11. Wanjiru reads her receipts and earnings; Baraka his, in Kiswahili.
    for lot, pieces, component in ((strand_lot, NECKLACES, strand), (hook_lot, 8, "Hook")):
        await wanjiru_chat.told(
            en(
                "artisan.delivery_received",
                job=lot.job_id,
                received=pieces,
                component=component,
                earned=f"KES {pieces * RATE_CENTS // 100}",
            )
        )
    await baraka_chat.gets(
        sw(
            "artisan.delivery_received",
            job=baraka_lot.job_id,
            received=left,
            component="Hook",
            earned=f"KES {left * RATE_CENTS // 100}",
        )
    )
    await wanjiru_chat.says("menu")
    earnings = await wanjiru_chat.says(en("menu.item.earnings"), until="KES")
    assert "Earned so far: KES 360" in earnings
    balance = await _read(k, lambda s: artisan_balance(s, wanjiru))
    assert balance.available_cents == (NECKLACES + 8) * RATE_CENTS

    # 12. Achieng assembles the line in chat: the order is ready, with a Ship button.
    [line] = await _rows(k, select(OrderLine).where(OrderLine.order_id == order_id))
    ready = await achieng.told(f"line #{line.id}")
    assert ready.startswith(
        en(
            "agent.notice.ready_for_assembly",
            id=order_id,
            order="“#9999”",
            line=line.id,
            quantity=NECKLACES,
            product="Beaded necklace",
        )
    )
    # She made it ready, so she hears it once, with the Ship button (no second notice).
    assembled = await achieng.says(
        f"/assemble {line.id}",
        until=en("polish.order_complete_ship", id=order_id, order="“#9999”"),
    )
    assert f"{NECKLACES} × Beaded necklace" in assembled

    # 13. She ships it with a carrier and a tracking number: Shopify gets the fulfillment.
    await achieng.says(f"/ship {order_id} G4S KE123456", until=en("admin.shipped", id=order_id))
    [fulfillment] = await eventually(lambda: world.shopify.fulfillments)
    assert fulfillment["order_id"] == SHOP_ORDER_ID
    assert (fulfillment["tracking_company"], fulfillment["tracking_number"]) == ("G4S", "KE123456")
    shipped = await _read(k, lambda s: s.get(Order, order_id))
    assert (shipped.status, shipped.carrier, shipped.tracking_reference) == (
        OrderStatus.SHIPPED,
        "G4S",
        "KE123456",
    )

    # 14. She makes a payout batch and approves it in chat; M-Pesa pays both.
    batch = await achieng.says("/make_payouts", until="/approve_payouts")
    assert "KES 600" in batch
    await _approve(achieng, world.daraja)

    async def paid() -> list[Payout]:
        rows = await _rows(k, select(Payout).order_by(col(Payout.artisan_id)))
        return rows if rows and all(p.status is PayoutStatus.SUCCEEDED for p in rows) else []

    payouts = await eventually(paid, within=60)
    assert {(p.artisan_id, p.amount_cents, p.msisdn) for p in payouts} == {
        (wanjiru, (NECKLACES + 8) * RATE_CENTS, WANJIRU),
        (baraka, left * RATE_CENTS, BARAKA_MPESA),
    }
    settled = [c for c in world.daraja.callbacks if c.body.get("Result")]
    assert len(settled) >= 2
    assert all(c.status == 200 for c in settled)  # each result taken by our callback route
    assert sorted(r["PartyB"] for r in world.daraja.b2c_requests) == [
        "254711000102",
        "254712345678",
    ]
    assert len(world.daraja.callbacks_to("/result")) >= 2 or len(world.daraja.callbacks) >= 2

    # 15. Each reads the payment and their earnings in chat, in their language.
    await wanjiru_chat.told("Payment sent ✅ KSh 360")
    await eventually(lambda: any(says("sw", "payouts.receipt", x) for x in baraka_chat.read()))
    await wanjiru_chat.says("menu")
    earnings = await wanjiru_chat.says(en("menu.item.earnings"), until="KES")
    assert "Paid to your M-Pesa: KES 360" in earnings
    menu = await baraka_chat.says("menyu", heard="menu.title")
    shown = await baraka_chat.presses(menu, sw("menu.item.earnings"), heard="artisan.earnings")
    assert shown is not None
    assert "KES 240" in shown["text"]

    # 16. The books balance, and everybody heard what they should, in their language.
    assert (await _read(k, trial_balance)).balanced
    for artisan in (wanjiru, baraka):
        balance = await _read(k, functools.partial(artisan_balance, artisan_id=artisan))
        assert balance.paid_cents == balance.earned_cents > 0
        assert balance.available_cents == balance.in_flight_cents == 0
    await eventually(lambda: _all_sent(k))
    _only(
        "sw",
        baraka_chat.read(),
        [
            "artisan.offer_new",
            "artisan.offer_accepted_last",
            "artisan.photos_got_for_job",
            "artisan.count_ask",
            "artisan.submit_confirm",
            "artisan.submitted",
            "artisan.qc_all_passed",
            "menu.title",
            "artisan.delivery_how",
            "artisan.delivery_how_many",
            "artisan.delivery_when_drop_off",
            "artisan.delivery_booked_drop_off",
            "artisan.delivery_received",
            "payouts.receipt",
            "artisan.earnings",
        ],
    )
    for language, texts in (
        ("sw", baraka_chat.read()),
        ("en", wanjiru_chat.read()),
        ("en", achieng.read()),
        ("en", juma_chat.read()),
    ):
        wrong = [text for text in texts if not in_language(language, text)]
        assert not wrong, f"not in {language}: {wrong}"
