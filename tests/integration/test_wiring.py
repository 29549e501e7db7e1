"""What the composition root gives the conversation engine and the scheduler, on a real store:
the matchmaker behind /match and /why, the admins' policy from settings, and payouts that are
prepared and approved, visibly unsent, when M-Pesa is not configured."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.channels.media import LocalMediaStore, MediaDocuments, MediaRefused, keep_file
from bot.demo import seed_demo
from bot.main import Factory
from bot.scheduling import karakana_jobs
from bot.settings import Settings
from conversations.i18n import Catalogue, t
from conversations.ports import DocumentUnreadable
from domain import ledger, payouts
from domain.explosion import FACTORY_ZONE
from domain.model import (
    Channel,
    Job,
    JobStatus,
    Offer,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Role,
)
from domain.services.people import add_person
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, person_at
from tests.integration.factory_fixtures import ident, owed_earnings

ADMIN = "admin-web-1"


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        media_dir=tmp_path / "media",
        models_dir=tmp_path / "models",
        match_seed=3,
        **values,
    )


async def _admin_chat(store: Store, clock: FakeClock, settings: Settings) -> Chat:
    async with store.transaction() as session:
        await add_person(
            session,
            role=Role.ADMIN,
            name="Amina",
            channel=Channel.WEB,
            address=ADMIN,
            now=clock.now(),
        )
    engine = Factory(settings=settings, store=store).engine()
    return Chat(engine, clock, address=ADMIN, channel=Channel.WEB)


async def test_without_mpesa_an_approved_batch_is_kept_and_the_admin_is_told_it_is_not_sent(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, payout_minimum="100")
    assert not settings.mpesa_configured
    admin = await _admin_chat(store, clock, settings)
    amina = await person_at(store, admin)
    assert amina is not None
    async with store.transaction() as session:
        [artisan] = await owed_earnings(
            session, verified_by=ident(amina), now=clock.now(), owed={"Wanjiru": 90_000}
        )
        await payouts.create_payout_batch(
            session, minimum_cents=settings.payout_minimum_cents, now=clock.now()
        )

    preview = await admin.say("/payouts")
    asked = await admin.say("/approve_payouts")  # no float needed without M-Pesa
    reply = await admin.say("yes")

    assert "M-Pesa is not configured" in preview
    assert t("en", "admin.approve_confirm_not_configured") in asked
    assert "M-Pesa is not configured" in reply
    assert "KES 900" in reply
    async with store.read() as session:
        batch = (await session.exec(select(PayoutBatch.status))).one()
        payout = (await session.exec(select(Payout.status))).one()
        balance = await ledger.artisan_balance(session, artisan)
    assert batch is PayoutBatchStatus.APPROVED
    assert payout is PayoutStatus.PENDING  # kept for when M-Pesa is set up, never dropped
    assert balance.in_flight_cents == 90_000


def test_the_weekly_payout_batch_is_scheduled_without_mpesa_but_nothing_sends(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    factory = Factory(settings=_settings(tmp_path), store=store)
    names = [
        job.name
        for job in karakana_jobs(
            store, clock=clock.now, catalogue=Catalogue.load(), settings=factory.job_settings()
        )
    ]
    assert "weekly_payout_batch" in names
    assert "send_payouts" not in names


def test_job_settings_follow_the_configured_schedule(store: Store, tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        match_interval="5m",
        payout_day="monday",
        payout_time="09:30",
        payout_minimum="250.50",
        reminders_due_soon_days=3,
        material_request_reminder_after="36h",
        timezone="Africa/Lagos",
    )
    jobs = Factory(settings=settings, store=store).job_settings()
    assert str(jobs.zone) == "Africa/Lagos"
    assert jobs.match_interval.total_seconds() == 300
    assert (jobs.payout_weekday, jobs.payout_time.isoformat()) == (0, "09:30:00")
    assert jobs.payout_minimum_cents == 25_050
    assert jobs.reminders_due_soon.days == 3
    assert jobs.material_request_reminder_after.total_seconds() == 36 * 3600
    assert jobs.media_root == tmp_path / "media"


async def test_match_runs_a_real_matching_round_and_why_explains_an_offer(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    async with store.transaction() as session:
        await seed_demo(session, now=clock.now(), zone=FACTORY_ZONE)
        last_seeded = (await session.exec(select(Offer.id).order_by(col(Offer.id).desc()))).first()
        open_jobs = list(
            (await session.exec(select(Job.id).where(Job.status == JobStatus.OPEN))).all()
        )
    assert open_jobs  # the demo leaves work to match
    admin = await _admin_chat(store, clock, _settings(tmp_path))

    reply = await admin.say("/match")

    done = re.fullmatch(r"Matching round done: (\d+) offer\(s\) sent for (\d+) pieces\.", reply)
    assert done is not None, reply
    async with store.read() as session:
        made = list(
            (
                await session.exec(
                    select(Offer.artisan_id, Offer.job_id, Offer.quantity).where(
                        col(Offer.id) > (last_seeded or 0)
                    )
                )
            ).all()
        )
    assert int(done.group(1)) == len(made) > 0
    assert int(done.group(2)) == sum(quantity for _, _, quantity in made)

    artisan_id, job_id, _ = made[0]
    why = await admin.say(f"/why {artisan_id} {job_id}")
    assert why.startswith(f"Artisan #{artisan_id} and job #{job_id}: ")
    assert len(why) > len(f"Artisan #{artisan_id} and job #{job_id}: ") + 10


async def test_an_admins_csv_is_kept_as_a_document_and_read_back_as_text(tmp_path: Path) -> None:
    media = LocalMediaStore(tmp_path / "media")
    csv = "\ufeffcustomer,customer_kind\nDuka,retailer\n".encode()

    item = await keep_file(media, csv, "text/csv; charset=utf-8", 5_000_000, documents=True)

    assert (item.content_type, item.size) == ("text/csv", len(csv))
    assert (
        await MediaDocuments(media).read_text(item.ref) == "customer,customer_kind\nDuka,retailer\n"
    )


async def test_a_document_is_refused_unless_an_admin_sent_text(tmp_path: Path) -> None:
    media = LocalMediaStore(tmp_path / "media")
    with pytest.raises(MediaRefused, match="send a photo"):
        await keep_file(media, b"a,b\n1,2\n", "text/csv", 5_000_000, documents=False)
    with pytest.raises(MediaRefused, match="not UTF-8 text"):
        await keep_file(media, b"%PDF-1.7\x00\xff", "text/plain", 5_000_000, documents=True)
    with pytest.raises(MediaRefused, match="over the"):
        await keep_file(media, b"x" * 1_000_001, "text/csv", 5_000_000, documents=True)
    photo = await keep_file(media, b"\xff\xd8\xff\xe0" + b"0" * 64, "image/jpeg", 5_000_000)
    with pytest.raises(DocumentUnreadable, match="not a document"):
        await MediaDocuments(media).read_text(photo.ref)
    assert not list((tmp_path / "media").glob("*.csv"))
