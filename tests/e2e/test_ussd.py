"""The USSD menu over real HTTP against the running server: every menu path of a feature-phone
artisan, from registering by USSD to "work ready" checked and counted in by the field agent (on
WhatsApp) and the earnings it brought; and requests that are not Africa's Talking's (no token, a
wrong one, malformed, oversized, replayed) change nothing.

One server for the whole story (one test), to keep the suite's time down.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import col, func, select

from conversations.i18n import t
from domain.model import (
    Allocation,
    ArtisanProfile,
    Channel,
    ChannelIdentity,
    Person,
    QcReview,
    UssdSession,
)
from domain.services import offers
from domain.store import Store
from tests.conftest import FakeClock
from tests.e2e.harness import Running, eventually, running_karakana
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.factory_fixtures import CHATS, build_factory, confirmed_order, ident

TOKEN = "ussd-callback-token-for-tests-0123456789"
PHONE_LOCAL = "0722000111"
PHONE = "+254722000111"
AGENT = CHATS["agent"][1]  # Kamau, field agent for Kibera, on WhatsApp
_ids = itertools.count(1)


class Session:
    """One USSD session as Africa's Talking runs it: the whole path of answers every time."""

    def __init__(self, http: httpx.AsyncClient, url: str, phone: str = PHONE_LOCAL) -> None:
        self.http, self.url, self.phone = http, url, phone
        self.id = f"ATUid_e2e_{next(_ids)}"
        self.path: list[str] = []

    def form(self, text: str) -> dict[str, str]:
        return {
            "sessionId": self.id,
            "serviceCode": "*384*1234#",
            "phoneNumber": self.phone,
            "networkCode": "63902",
            "text": text,
        }

    async def post(self, text: str) -> str:
        answer = await self.http.post(self.url, data=self.form(text))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        body = answer.text
        assert body.startswith(("CON ", "END ")), body
        assert len(body) - 4 <= 160, body
        return body

    async def open(self) -> str:
        return await self.post("")

    async def press(self, *answers: str) -> str:
        said = ""
        for answer in answers:
            self.path.append(answer)
            said = await self.post("*".join(self.path))
        return said


async def _count(store: Store, model: Any) -> int:
    async with store.transaction() as s:
        return int((await s.exec(select(func.count()).select_from(model))).one())


async def _agent_says(karakana: Running, text: str, expect: str) -> str:
    before = len(karakana.texts_to(AGENT))
    await karakana.whatsapp(AGENT, text)

    def answered() -> str | None:
        said = "\n".join(karakana.texts_to(AGENT)[before:])
        return said if expect in said else None

    return await eventually(answered)


async def test_a_feature_phone_artisan_uses_every_path_of_the_ussd_menu(
    store: Store, tmp_path: Any, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    clock = FakeClock(datetime.now(UTC))
    factory = await build_factory(store, clock)
    async with (
        running_karakana(
            store, tmp_path, twilio, telegram, extra_settings={"at_callback_token": TOKEN}
        ) as karakana,
        httpx.AsyncClient(timeout=10) as http,
    ):
        url = f"{karakana.url}/ussd/{TOKEN}"

        # --- requests that are not Africa's Talking's change nothing ----------------------
        probe = Session(http, url)
        for where in (f"{karakana.url}/ussd", f"{karakana.url}/ussd/{TOKEN[:-1]}x"):
            refused = await http.post(where, data=probe.form(""))
            assert refused.status_code == 404
            assert TOKEN not in refused.text
        for bad in (
            {**probe.form(""), "sessionId": ""},
            {**probe.form(""), "phoneNumber": "not a phone"},
            {k: v for k, v in probe.form("").items() if k != "text"},
        ):
            assert (await http.post(url, data=bad)).status_code == 400
        garbage = await http.post(url, content=b"\xff\xfe%%%", headers={"content-type": "x"})
        assert garbage.status_code == 400
        huge = await http.post(url, data={**probe.form(""), "text": "1" * 70_000})
        assert huge.status_code == 413
        assert await _count(store, UssdSession) == 0

        # --- registration by USSD, verified by the field agent as today -------------------
        reg = Session(http, url)
        assert "1 English" in await reg.open()
        said = await reg.press("2", "Baraka Otieno", "Baraka Horn Works", "2 3", "Kibera", "30")
        assert "0722 000 111" in said  # M-Pesa: this phone, by default
        said = await reg.press("1")
        assert said.startswith("CON Hakiki: Baraka Otieno, Baraka Horn Works.")
        said = await reg.press("1")
        assert said == "END " + t("sw", "ussd.registered", name="Baraka Otieno")
        async with store.transaction() as s:
            person = (await s.exec(select(Person).where(Person.name == "Baraka Otieno"))).one()
            identity = (
                await s.exec(select(ChannelIdentity).where(ChannelIdentity.person_id == person.id))
            ).one()
            profile = await s.get(ArtisanProfile, person.id)
            assert (identity.channel, identity.address) == (Channel.SMS, PHONE)
            assert profile is not None
            assert profile.mpesa_number == PHONE
            artisan = person.id
            assert artisan is not None
        assert await Session(http, url).open() == "END " + t("sw", "ussd.pending")
        await _agent_says(karakana, f"/verify {artisan}", "Baraka Otieno")

        # --- offers: accept part, decline, and one someone else took ----------------------
        async with store.transaction() as s:
            order = await confirmed_order(s, now=clock.now(), lines={"NECKLACE-HORN": 10})
            job = order.jobs["HORN-PENDANT"]
            hook_job = order.jobs["BRASS-HOOK"]
            first = await offers.make_offer(
                s,
                job_id=job,
                artisan_id=artisan,
                quantity=10,
                expires_at=_later(clock),
                now=clock.now(),
                over_offer=2.0,
            )
            rival = await offers.make_offer(
                s,
                job_id=job,
                artisan_id=factory.wanjiru,
                quantity=10,
                expires_at=_later(clock),
                now=clock.now(),
                over_offer=2.0,
            )
            hook = await offers.make_offer(
                s,
                job_id=hook_job,
                artisan_id=artisan,
                quantity=20,
                expires_at=_later(clock),
                now=clock.now(),
            )
        home = Session(http, url)
        assert "1 Ofa za kazi (2)" in await home.open()
        listed = await home.press("1")
        assert f"#{hook.id}" in listed
        assert f"#{first.id}" in listed
        offer_no = "1" if listed.index(f"#{first.id}") < listed.index(f"#{hook.id}") else "2"
        await home.press(offer_no)  # the horn pendant offer is on screen...
        async with store.transaction() as s:  # ...when Wanjiru takes the whole job
            await offers.accept_offer(
                s, offer_id=ident(rival), artisan_id=factory.wanjiru, now=clock.now()
            )
        taken = await home.press("2")
        assert taken == "END " + t("sw", "artisan.offer_withdrawn", id=first.id)

        part = Session(http, url)
        await part.open()
        await part.press("1", "1", "2")
        accepted = await part.press("12")
        assert accepted.startswith(f"END Asante! Umekubali ofa #{hook.id}: 12 ")
        assert await part.post("1*1*2*12") == accepted  # replayed: same answer, nothing new
        async with store.transaction() as s:
            mine = (await s.exec(select(Allocation).where(Allocation.artisan_id == artisan))).all()
            assert [a.quantity for a in mine] == [12]
            rest = await offers.make_offer(  # the other 8 hooks, offered again
                s,
                job_id=hook_job,
                artisan_id=artisan,
                quantity=8,
                expires_at=_later(clock),
                now=clock.now(),
            )
        declining = Session(http, url)
        await declining.open()
        assert "Kwa nini" in await declining.press("1", "1", "3")
        declined = await declining.press("1")  # busy
        assert declined == "END " + t("sw", "artisan.offer_declined", id=ident(rest))

        # --- my jobs; work ready without a photo -----------------------------------------
        jobs = Session(http, url)
        await jobs.open()
        # The job's own number, the one the offer, the admins and every other channel show.
        assert f"#{hook_job} 12 Brass hook" in await jobs.press("2")
        ready = Session(http, url)
        await ready.open()
        assert "1 hadi 12" in await ready.press("3")
        assert "Picha haihitajiki" in await ready.press("12")
        assert (await ready.press("1")).startswith("END Tumepokea: vipande 12 viko tayari")

        # --- the field agent checks and counts it in at the workshop ---------------------
        await _agent_says(karakana, "/receipt", "no photos")
        await _agent_says(karakana, "1", "how many pass QC?")
        await _agent_says(karakana, "12", "passed and counted in")
        async with store.transaction() as s:
            review = (await s.exec(select(QcReview))).one()
            assert (review.passed, review.rejected) == (12, 0)

        # --- earnings, and the language ---------------------------------------------------
        money = Session(http, url)
        await money.open()
        earned = await money.press("4")
        assert earned.startswith("END Umepata KES ")
        assert "KES 0" not in earned.split(".")[0]
        lang = Session(http, url)
        await lang.open()
        assert await lang.press("5", "1") == "END " + t("en", "ussd.language_set")
        assert "1 Job offers (0)" in await Session(http, url).open()
        async with store.transaction() as s:
            steps = (await s.exec(select(UssdSession).order_by(col(UssdSession.created_at)))).all()
            assert all(step.phone == PHONE for step in steps)


def _later(clock: FakeClock) -> datetime:
    return clock.now() + timedelta(hours=12)
