"""``/impact`` for admins and artisans' statements, through the engine in English and Kiswahili;
the statement's PDF opened and read; ``/verify/<code>`` over real HTTP (valid, unknown,
revoked); a statement revoked from chat."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette

from bot.channels.media import LocalMediaStore
from bot.statements.attachments import MediaAttachments
from bot.statements.routes import PerClientLimit, verify_routes
from conversations.engine import Engine
from conversations.i18n import default_catalogue
from conversations.registry import REGISTRY
from domain import ledger
from domain.model import IncomeStatement, Language, Person
from domain.payouts.batches import approve_batch, batch_payouts
from domain.payouts.building import create_payout_batch
from domain.payouts.sending import claim_for_sending
from domain.payouts.settlement import PaymentOutcome, settle_outcomes
from domain.statements import verified_statement
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.server import serving
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import CHATS, Factory, build_factory

BASE = "https://karakana.example"
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


@pytest.fixture
def media(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


@pytest.fixture
def engine(store: Store, media: LocalMediaStore) -> Engine:
    return Engine(
        store,
        registry=REGISTRY,
        catalogue=default_catalogue(),
        attachments=MediaAttachments(media, public_base_url=BASE, currency="KES"),
    )


@pytest.fixture
async def factory(store: Store, clock: FakeClock) -> Factory:
    """The crew, with March's earnings: Wanjiru KES 1,500 (and KES 200 reversed), Otieno
    KES 900, both paid to M-Pesa."""
    built = await build_factory(store, clock)
    now = clock.now()
    async with store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=built.wanjiru, amount_cents=150_000, reference="t:1", now=now
        )
        wrong = await ledger.record_earning(
            session, artisan_id=built.wanjiru, amount_cents=20_000, reference="t:2", now=now
        )
        await ledger.reverse(session, transfer_id=wrong.id, reason="counted twice", now=now)
        await ledger.record_earning(
            session, artisan_id=built.otieno, amount_cents=90_000, reference="t:3", now=now
        )
        batch = await create_payout_batch(session, minimum_cents=10_000, now=now)
        assert batch is not None
        assert batch.id is not None
        await approve_batch(session, batch_id=batch.id, admin_id=built.admin, now=now)
        ids = [p.originator_conversation_id for p in await batch_payouts(session, batch.id)]
        await claim_for_sending(session, ids, now=now)
        await settle_outcomes(
            session,
            [
                PaymentOutcome(originator, 0, mpesa_receipt=f"TC{n}XYZ123")
                for n, originator in enumerate(ids)
            ],
            now=now + timedelta(minutes=1),
        )
    return built


def chat(engine: Engine, clock: FakeClock, who: str) -> Chat:
    channel, address = CHATS[who]
    return Chat(engine, clock, address=address, channel=channel)


async def set_language(store: Store, person_id: int, language: Language) -> None:
    async with store.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.language = language
        session.add(person)


async def test_impact_sends_a_chart_and_a_few_lines_in_english_and_kiswahili(
    engine: Engine, clock: FakeClock, factory: Factory, store: Store, media: LocalMediaStore
) -> None:
    admin = chat(engine, clock, "admin")
    [reply] = await admin.send("/impact")
    assert reply.text.startswith("Impact, October 2025 to March 2026 (figures for March 2026):")
    assert "Artisans: too few people to show (fewer than 5) active" in reply.text
    assert "Groups of fewer than 5 people are not shown" in reply.text
    [chart] = reply.media
    assert chart.content_type == "image/png"
    assert (await media.load(chart.ref)).startswith(b"\x89PNG")

    await set_language(store, factory.admin, Language.SW)
    [reply] = await admin.send("/impact 2026-03")
    assert reply.text.startswith("Matokeo, Oktoba 2025 hadi Machi 2026")
    assert "watu ni wachache mno kuonyesha" in reply.text
    assert reply.media[0].content_type == "image/png"

    assert "YYYY-MM" in await admin.say("/impact March")
    refused = await chat(engine, clock, "wanjiru").say("/impact")
    assert "Impact" not in refused
    assert not refused.startswith("Matokeo")


def pdf_strings(pdf: bytes) -> list[str]:
    """The text a PDF shows, read from its (uncompressed) content streams, after checking that
    the cross-reference table points at every object."""
    assert pdf.startswith(b"%PDF-1.4")
    assert pdf.rstrip().endswith(b"%%EOF")
    start = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    table = pdf[start:].split(b"trailer")[0].split(b"\n")[2:]
    offsets = [int(line.split()[0]) for line in table if line.strip().endswith(b"n")]
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(f"{number} 0 obj".encode())
    found = re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", pdf)
    return [re.sub(rb"\\(.)", rb"\1", s).decode("cp1252") for s in found]


async def test_a_statement_in_english_with_its_pdf_and_a_code_that_verifies(
    engine: Engine, clock: FakeClock, factory: Factory, store: Store, media: LocalMediaStore
) -> None:
    wanjiru = chat(engine, clock, "wanjiru")
    [menu] = await wanjiru.send("/menu")
    assert "Statement of my income" in menu.as_plain_text()
    [which] = await wanjiru.send("/statement")
    assert [c.payload for c in which.choices] == [
        "statement:2026-03",
        "statement:2026-02",
        "statement:2026-01",
    ]
    assert which.choices[0].label == "March 2026"

    [reply] = await wanjiru.send(payload="statement:2026-03")
    text = reply.text
    assert "Your statement for March 2026:" in text
    assert "Earned: KES 1,700" in text
    assert "Deductions: KES 200" in text
    assert "Earned after deductions: KES 1,500" in text
    assert "Paid to your M-Pesa: KES 1,500" in text
    assert "receipt TC" in text
    code_found = CODE.search(text)
    assert code_found is not None
    code = code_found.group()
    assert f"{BASE}/verify/{code}" in text

    [pdf_item] = reply.media
    assert pdf_item.content_type == "application/pdf"
    strings = pdf_strings(await media.load(pdf_item.ref))
    assert "Karakana statement of income: March 2026" in strings
    assert "Artisan: Wanjiru" in strings
    assert "Earned: KES 1,700" in strings
    assert f"Verification code: {code}" in strings
    assert f"{BASE}/verify/{code}" in strings

    async with store.transaction() as session:
        issued = await verified_statement(session, code)
    assert issued is not None
    assert (issued.earned_cents, issued.deductions_cents, issued.paid_cents) == (
        170_000,
        20_000,
        150_000,
    )

    # Revoked from chat: by the button under the statement.
    [revoke] = reply.choices
    assert "is cancelled" in await wanjiru.say(payload=revoke.payload)
    async with store.transaction() as session:
        assert await verified_statement(session, code) is None
    assert "no statement with a code" in await wanjiru.say("/revoke")
    assert "You have no statement #999" in await wanjiru.say("/revoke 999")
    assert "/statement 2026-11" in await wanjiru.say("/statement 2026-13")


async def test_a_statement_in_kiswahili_and_no_revoking_someone_elses(
    engine: Engine, clock: FakeClock, factory: Factory, store: Store, media: LocalMediaStore
) -> None:
    otieno = chat(engine, clock, "otieno")
    [reply] = await otieno.send("/statement 2026-03")
    assert "Taarifa yako ya Machi 2026:" in reply.text
    assert "Mapato: KES 900" in reply.text
    assert "Yaliyolipwa kwenye M-Pesa yako: KES 900" in reply.text
    strings = pdf_strings(await media.load(reply.media[0].ref))
    assert "Taarifa ya mapato ya Karakana: Machi 2026" in strings
    assert any(s.startswith("Namba ya uthibitisho: ") for s in strings)
    number = reply.choices[0].payload.split(":")[1]

    assert f"You have no statement #{number}" in await chat(engine, clock, "wanjiru").say(
        f"/revoke {number}"
    )
    assert "Taarifa zako zinazoweza kuhakikiwa" in await otieno.say("/revoke")


async def test_verify_over_http_shows_only_the_totals_and_refuses_unknown_and_revoked(
    engine: Engine, clock: FakeClock, factory: Factory, store: Store
) -> None:
    wanjiru = chat(engine, clock, "wanjiru")
    text = await wanjiru.say("/statement 2026-03")
    found = CODE.search(text)
    assert found is not None
    code = found.group()
    app = Starlette(routes=verify_routes(store, currency="KES", limit=PerClientLimit(5)))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        valid = await client.get(f"/verify/{code}")
        assert valid.status_code == 200
        assert "Wanjiru" in valid.text
        assert "2026-03" in valid.text
        assert "KES 1,700" in valid.text
        assert "+254" not in valid.text  # no phone number, no receipts
        assert "TC" not in valid.text
        assert valid.headers["cache-control"] == "no-store"
        assert (await client.get(f"/verify/{code.lower()}")).status_code == 200

        unknown = await client.get("/verify/0000-0000-0000")
        assert unknown.status_code == 404
        number = re.search(r"/revoke (\d+)", text)
        assert number is not None
        await wanjiru.say(f"/revoke {number.group(1)}")
        revoked = await client.get(f"/verify/{code}")
        assert revoked.status_code == 404
        assert revoked.text == unknown.text  # nothing tells revoked from unknown
        assert (await client.get("/verify/not-a-code")).status_code == 404
        # Five requests a minute from one address here; the next is refused.
        limited = await client.get(f"/verify/{code}")
        assert limited.status_code == 429


async def test_a_new_code_for_each_statement_and_each_only_once_stored_as_a_hash(
    engine: Engine, clock: FakeClock, factory: Factory, store: Store
) -> None:
    wanjiru = chat(engine, clock, "wanjiru")
    first = CODE.search(await wanjiru.say("/statement 2026-03"))
    second = CODE.search(await wanjiru.say("/statement 2026-03"))
    assert first is not None
    assert second is not None
    assert first.group() != second.group()
    async with store.transaction() as session:
        stored = (await session.exec(select(IncomeStatement))).all()
    assert len(stored) == 2
    assert all(first.group().replace("-", "") not in s.code_hash for s in stored)
