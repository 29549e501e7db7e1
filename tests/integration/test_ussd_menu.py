"""The USSD menu through ``UssdMenu.step`` on real SQLite: every screen in English and Kiswahili
within 160 characters, the same reply as WhatsApp for an offer someone else took, replays that
change nothing, and work said ready without photos checked and counted in by the field agent's
receipt flow (the chat engine)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import pytest
from sqlmodel import col, select

from conversations.formatting import money
from conversations.i18n import default_catalogue
from conversations.registry import REGISTRY
from conversations.ussd import screens
from conversations.ussd.menu import UssdMenu
from conversations.ussd.screens import MAX_SCREEN
from domain import payouts
from domain.ledger import artisan_balance
from domain.model import (
    Allocation,
    Channel,
    Language,
    OutboxMessage,
    Payout,
    QcReview,
    Submission,
    SubmissionStatus,
)
from domain.services import offers
from domain.services.people import link_identity, pause_artisan, person_by_identity
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    BRASS,
    HORN,
    Floor,
    active_artisan,
    ident,
    new_mobile,
)

_sessions = itertools.count(1)


@dataclass
class Dial:
    """One USSD session of one phone: each ``press`` sends the whole path so far, as the
    gateway does."""

    menu: UssdMenu
    clock: FakeClock
    phone: str
    session_id: str = field(default_factory=lambda: f"ATUid_test_{next(_sessions)}")
    path: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    async def open(self) -> str:
        return await self._send("")

    async def press(self, answer: str) -> str:
        self.path.append(answer)
        return await self._send("*".join(self.path))

    async def _send(self, text: str) -> str:
        screen = await self.menu.step(
            session_id=self.session_id, phone=self.phone, text=text, now=self.clock.now()
        )
        shown = ("CON " if screen.more else "END ") + screen.text
        self.seen.append(shown)
        return shown


def _menu(floor: Floor) -> UssdMenu:
    return UssdMenu(floor.store, registry=REGISTRY, catalogue=default_catalogue())


async def _ussd_artisan(floor: Floor, language: Language, name: str = "Mwangi") -> tuple[int, str]:
    phone = new_mobile()
    async with floor.store.transaction() as s:
        person = await active_artisan(
            s,
            verified_by=floor.factory.agent,
            now=floor.clock.now(),
            name=name,
            language=language,
            channel=Channel.SMS,
            address=phone,
            mpesa_number=phone,
            skills={HORN: 100, BRASS: 200},
        )
    return ident(person), phone


def t(language: Language, msgid: str, **params: object) -> str:
    return default_catalogue().t(language, msgid, **params)


@pytest.mark.parametrize("language", [Language.EN, Language.SW])
async def test_every_screen_fits_one_feature_phone_screen(floor: Floor, language: Language) -> None:
    menu = _menu(floor)
    artisan, phone = await _ussd_artisan(floor, language)
    first = await floor.offer("HORN-PENDANT", artisan, 10)
    second = await floor.offer("BRASS-HOOK", artisan, 20)
    dials: list[Dial] = []

    def dial(number: str = phone) -> Dial:
        dials.append(Dial(menu, floor.clock, number))
        return dials[-1]

    # Offers: accept part (after a bad count), then decline the other (after a bad choice).
    d = dial()
    assert "\n5 " in await d.open()
    await d.press("9")  # not on the menu: asked again
    assert f"#{first}" in await d.press("1")
    await d.press("7")  # not on the list
    assert f"#{first}" in await d.press("1")
    await d.press("7")  # not an action
    assert (await d.press("2")).startswith("CON ")
    assert (await d.press("0")).startswith("CON ")  # out of range: asked again
    accepted = await d.press("4")
    assert accepted.startswith("END ")
    assert f"#{first}" in accepted
    d = dial()
    await d.open()
    await d.press("1")
    await d.press("1")
    await d.press("3")
    await d.press("9")
    assert await d.press("1") == "END " + t(language, "artisan.offer_declined", id=second)
    # Jobs, earnings, an empty offers list.
    for item in ("2", "4", "1"):
        d = dial()
        await d.open()
        assert (await d.press(item)).startswith("END ")
    # Work ready: two jobs, so which one first; then how many, and yes.
    await floor.allocation("BRASS-BANGLE", artisan, 6)
    d = dial()
    await d.open()
    await d.press("3")
    await d.press("7")
    await d.press("1")
    await d.press("x")
    assert (await d.press("2")).startswith("CON ")
    await d.press("5")
    done = await d.press("1")
    assert done.startswith("END ")
    assert await d._send("3*7*1*x*2*5*1*1") == "END " + t(language, "ussd.out_of_step")
    # The language, chosen and kept.
    d = dial()
    await d.open()
    await d.press("5")
    await d.press("3")
    other = Language.SW if language is Language.EN else Language.EN
    await d.press("2" if other is Language.SW else "1")
    assert d.seen[-1] == "END " + t(other, "ussd.language_set")
    # A stranger registers; then the pending artisan dials again.
    stranger = new_mobile()
    d = dial(stranger)
    await d.open()
    for answer in ("7", "2" if language is Language.SW else "1", "x", "Akinyi", "!!"):
        await d.press(answer)
    for answer in ("Akinyi Crafts", "9", "1", "Kibera, near the market!"):
        await d.press(answer)
    assert t(language, "ussd.reg_area_confirm", area="Kibera") in await d.press("Kibra")
    await d.press("7")
    await d.press("1")
    await d.press("abc")
    for answer in ("40", "12", "1", "9", "1"):
        await d.press(answer)
    assert d.seen[-1] == "END " + t(language, "ussd.registered", name="Akinyi")
    pending = dial(stranger)
    assert await pending.open() == "END " + t(language, "ussd.pending")
    # Staff have no USSD menu; a paused artisan is told so.
    staff_phone = new_mobile()
    await floor.act(
        lambda s: link_identity(
            s, person_id=floor.factory.agent, channel=Channel.SMS, address=staff_phone
        )
    )
    staff = await dial(staff_phone).open()
    assert staff in {"END " + t(lang, "ussd.artisans_only") for lang in Language}
    await floor.act(
        lambda s: pause_artisan(
            s, artisan_id=artisan, admin_id=floor.factory.admin, now=floor.clock.now()
        )
    )
    assert await dial().open() == "END " + t(other, "ussd.paused")

    for shown in (screen for one in dials for screen in one.seen):
        assert shown.startswith(("CON ", "END ")), shown
        assert len(shown) - 4 <= MAX_SCREEN, shown
    async with floor.store.transaction() as s:
        person = await person_by_identity(s, Channel.SMS, stranger)
        assert person is not None
        assert person.language is language
        taken = (await s.exec(select(Allocation).where(Allocation.artisan_id == artisan))).all()
        assert sorted(a.quantity for a in taken) == [4, 6]
        ready = (await s.exec(select(Submission))).all()
        assert [(r.count, r.status) for r in ready] == [(2, SubmissionStatus.PENDING_REVIEW)]


async def test_an_offer_someone_else_took_gets_the_same_reply_as_on_whatsapp(
    floor: Floor,
) -> None:
    menu = _menu(floor)
    artisan, phone = await _ussd_artisan(floor, Language.SW)
    offer_id = await floor.offer("HORN-PENDANT", artisan, 10, over_offer=2.0)
    other = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10, over_offer=2.0)
    d = Dial(menu, floor.clock, phone)
    await d.open()
    await d.press("1")  # the offer is on screen...
    await floor.act(  # ...when Wanjiru takes every piece of the job
        lambda s: offers.accept_offer(
            s, offer_id=other, artisan_id=floor.factory.wanjiru, now=floor.clock.now()
        )
    )
    said = await d.press("1")
    on_whatsapp = await floor.otieno.say(f"KUBALI {offer_id}")  # Otieno speaks Kiswahili too
    assert said == "END " + t(Language.SW, "artisan.offer_withdrawn", id=offer_id)
    assert t(Language.SW, "artisan.offer_not_yours", id=offer_id) in on_whatsapp  # not his
    async with floor.store.transaction() as s:
        mine = (await s.exec(select(Allocation).where(Allocation.artisan_id == artisan))).all()
        assert mine == []


async def test_a_replayed_step_answers_the_same_and_changes_nothing(floor: Floor) -> None:
    menu = _menu(floor)
    artisan, phone = await _ussd_artisan(floor, Language.EN)
    await floor.offer("HORN-PENDANT", artisan, 10)
    d = Dial(menu, floor.clock, phone)
    await d.open()
    await d.press("1")
    await d.press("1")
    d.path.append("1")
    # The gateway sends the step twice at once, then once more later: one acceptance.
    accepted, twin = await asyncio.gather(d._send("1*1*1"), d._send("1*1*1"))
    assert twin == accepted
    again = await d._send("1*1*1")
    assert again == accepted
    assert accepted.startswith("END Thank you! Offer #")
    # A path that does not extend the last one, or another phone on the session: refused.
    assert await d._send("1*2") == "END " + t(Language.EN, "ussd.out_of_step")
    stranger = Dial(menu, floor.clock, new_mobile(), session_id=d.session_id)
    assert await stranger.open() == "END " + t(Language.EN, "ussd.out_of_step")
    async with floor.store.transaction() as s:
        mine = (await s.exec(select(Allocation).where(Allocation.artisan_id == artisan))).all()
        assert [a.quantity for a in mine] == [10]


async def test_work_ready_without_photos_is_checked_at_the_counted_receipt(floor: Floor) -> None:
    menu = _menu(floor)
    artisan, phone = await _ussd_artisan(floor, Language.EN)
    allocation = await floor.allocation("HORN-PENDANT", artisan, 6)
    d = Dial(menu, floor.clock, phone)
    await d.open()
    assert "1 to 6" in await d.press("3")
    confirm = await d.press("5")
    assert "No photo needed" in confirm
    assert (await d.press("1")).startswith("END Noted: 5 pieces ready")
    async with floor.store.transaction() as s:
        submission = (await s.exec(select(Submission))).one()
        notices = (
            await s.exec(select(OutboxMessage).where(col(OutboxMessage.body).contains("without")))
        ).all()
    assert notices, "the area's field agent is told work waits to be checked at its receipt"
    # The photo QC queue does not offer it; the receipt list does.
    assert f"#{submission.id}" not in await floor.agent.say("/qc")
    asked = await floor.agent.say(f"/qc {submission.id}")
    assert asked == t(Language.EN, "agent.receipt_qc.at_receipt", id=submission.id)
    listed = await floor.agent.send("/receipt")
    labels = [choice.label for reply in listed for choice in reply.choices]
    assert labels == [f"#{submission.id} “Mwangi”: 5 × Carved horn pendant, no photos: check here"]
    assert "how many pass QC?" in await floor.agent.say("1")
    assert "go back as rework" in await floor.agent.say("4")
    recorded = await floor.agent.say("2")  # wrong size
    assert "4 × Carved horn pendant passed and counted in" in recorded
    async with floor.store.transaction() as s:
        review = (await s.exec(select(QcReview))).one()
        assert (review.passed, review.rejected, review.reasons) == (4, 1, "wrong_size")
        balance = await artisan_balance(s, artisan)
        alloc = await s.get(Allocation, allocation)
        assert alloc is not None
        assert balance.earned_cents == 4 * alloc.piece_rate_cents
    # Paid to M-Pesa: the earnings screen shows it with its receipt.
    now = floor.clock.now()
    batch = await floor.act(lambda s: payouts.create_payout_batch(s, minimum_cents=100, now=now))
    assert batch is not None
    batch_id = ident(batch)
    await floor.act(
        lambda s: payouts.approve_batch(s, batch_id=batch_id, admin_id=floor.factory.admin, now=now)
    )
    async with floor.store.transaction() as s:
        [payout] = (await s.exec(select(Payout).where(Payout.artisan_id == artisan))).all()
    key = payout.originator_conversation_id
    await floor.act(lambda s: payouts.mark_sending(s, originator_conversation_id=key, now=now))
    await floor.act(
        lambda s: payouts.settle_success(
            s, originator_conversation_id=key, mpesa_receipt="QKX12AB", now=now
        )
    )
    earnings = Dial(menu, floor.clock, phone)
    await earnings.open()
    paid = money(4 * alloc.piece_rate_cents)
    assert await earnings.press("4") == (
        f"END Earned {paid}. Paid {paid}. Still to pay KES 0.\n"
        + t(Language.EN, "ussd.payment_line", date="Monday 2 March", amount=paid, receipt="QKX12AB")
    )
    for shown in d.seen + earnings.seen:
        assert len(shown) - 4 <= MAX_SCREEN, shown


async def test_a_step_that_fails_saves_nothing_and_runs_again_when_sent_again(
    floor: Floor, monkeypatch: pytest.MonkeyPatch
) -> None:
    menu = _menu(floor)
    _, phone = await _ussd_artisan(floor, Language.EN)
    d = Dial(menu, floor.clock, phone)
    await d.open()

    async def broken(ctx: object, text: str) -> screens.Move:
        raise RuntimeError("a bug in a screen")

    home = screens.SCREENS[screens.S.HOME]
    monkeypatch.setitem(screens.SCREENS, screens.S.HOME, screens.ScreenDef(home.prompt, broken))
    failed = await d.press("2")
    assert failed == "END " + " / ".join(t(lang, "ussd.failed") for lang in Language)
    monkeypatch.setitem(screens.SCREENS, screens.S.HOME, home)
    assert await d._send("2") == "END " + t(Language.EN, "ussd.no_jobs")
