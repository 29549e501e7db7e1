"""A material request through the real webhooks: Wanjiru asks for brass wire on WhatsApp (a
Twilio-signed webhook), Kamau, the field agent covering her area, gets the request on Telegram
with "Handed over" / "Can't" buttons, presses "Handed over", and Wanjiru is told at the fake
Twilio. Checked on what the fake providers received and in the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from conversations.i18n import t
from domain import events
from domain.model import Channel, Language, MaterialRequest, MaterialRequestStatus
from domain.services.people import register_artisan, verify_artisan
from tests.e2e.harness import Running, eventually
from tests.integration.factory_fixtures import HORN, ident, stock_catalogue

WANJIRU = "+254712000201"
KAMAU = 7_300_001  # a Telegram chat id


async def _whatsapp_answer(karakana: Running, number: str, text: str) -> str:
    """``number`` writes on WhatsApp; the first message sent back after it."""
    before = len(karakana.texts_to(number))
    await karakana.whatsapp(number, text)
    return await eventually(lambda: next(iter(karakana.texts_to(number)[before:]), ""))


async def _requests(karakana: Running) -> list[MaterialRequest]:
    async with karakana.store.transaction() as session:
        return list(await session.exec(select(MaterialRequest).order_by(col(MaterialRequest.id))))


def _button(message: dict[str, Any], label: str) -> str:
    """The signed callback data of the message's button labelled ``label``."""
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    [button] = [b for b in buttons if b["text"] == label]
    return str(button["callback_data"])


async def test_a_request_on_whatsapp_is_handed_over_from_telegram_and_the_artisan_is_told(
    karakana: Running,
) -> None:
    now = datetime.now(UTC)
    kamau = await karakana.add_staff("Kamau", channel=Channel.TELEGRAM, address=str(KAMAU))
    async with karakana.store.transaction() as session:
        await stock_catalogue(session)
        wanjiru = await register_artisan(
            session,
            name="Wanjiru",
            workshop="Wanjiru's workshop",
            area="Kibera",
            skills={HORN: 30},
            mpesa_number="0712 345 678",
            language=Language.EN,
            channel=Channel.WHATSAPP,
            address=WANJIRU,
            now=now,
        )
        await verify_artisan(session, artisan_id=ident(wanjiru), agent_id=ident(kamau), now=now)
        events.drain(session)  # her welcome is another test's story

    await _whatsapp_answer(karakana, WANJIRU, "Hi")
    await _whatsapp_answer(karakana, WANJIRU, "Materials")
    await _whatsapp_answer(karakana, WANJIRU, "2")  # ask for material
    await _whatsapp_answer(karakana, WANJIRU, "brass wire")
    assert await _whatsapp_answer(karakana, WANJIRU, "1.5 kg") == t(
        "en", "artisan.materials_requested", material="brass wire", quantity="1.5", unit="kg"
    )
    [request] = await _requests(karakana)
    asked = {"id": request.id, "quantity": "1.5", "unit": "kg", "material": "brass wire"}

    notice_text = t(
        "en", "materials.request_notice", name="“Wanjiru”", area="“Kibera”", job="", **asked
    )
    notice = await eventually(
        lambda: next(
            (m for m in karakana.telegram.sent("sendMessage") if m["text"] == notice_text), None
        )
    )
    assert str(notice["chat_id"]) == str(KAMAU)

    told_before = len(karakana.telegram_texts(KAMAU))
    await karakana.telegram_update(
        karakana.telegram.callback_update(KAMAU, _button(notice, "Handed over"))
    )
    answer = await eventually(lambda: karakana.telegram_texts(KAMAU)[told_before:])
    assert answer == [t("en", "materials.handed_over", name="“Wanjiru”", **asked)]

    told = t("en", "materials.handed_over_artisan", by="“Kamau”", **asked)
    await eventually(lambda: told in karakana.texts_to(WANJIRU))
    [done] = await _requests(karakana)
    assert (done.status, done.closed_by) == (MaterialRequestStatus.FULFILLED, kamau.id)
