"""A Kiswahili reader reads Kiswahili (issue 16 item 5): domain refusals, CSV problem lines, the
reason an order was cancelled, through the engine. English stays in the log, never in chat."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from bot.console import console_routes
from conversations.engine import Engine
from conversations.formatting import written_date
from conversations.i18n import t
from conversations.messages import MediaItem
from conversations.ports import MatchSummary
from conversations.registry import REGISTRY
from domain.errors import DomainError
from domain.model import Channel, CustomerKind, Job, Language, Person, Role
from domain.payouts import create_payout_batch
from domain.services.catalogue import upsert_component, upsert_product
from domain.services.orders import create_order, get_or_create_customer
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff, seed_catalogue
from tests.integration.factory_fixtures import (
    CHATS,
    Floor,
    build_factory,
    owed_earnings,
    place_order,
)
from tests.integration.test_staff_console import log_in, make_console

ADMIN = "tg:admin-baraka"
# Words of English that no Kiswahili sentence of ours uses; any one in a reply is a leak.
ENGLISH = re.compile(
    r"\b(the|is|not|does|exist|already|unknown|must|could|line|value|order|cancelled|by|"
    r"refused|past|today|missing|column|bill|materials|number|more|than)\b",
    re.IGNORECASE,
)


def english_in(text: str) -> list[str]:
    return ENGLISH.findall(text)


@dataclass
class FolderDocuments:
    folder: Path

    async def read_text(self, ref: str) -> str:
        return (self.folder / ref).read_text(encoding="utf-8")


async def _refusing_matcher(session: AsyncSession, now: datetime) -> MatchSummary:
    raise DomainError("offers need a positive time to live (offer_ttl)")


async def _msimamizi(store: Store, clock: FakeClock, tmp_path: Path) -> Chat:
    await seed_catalogue(store)
    await add_staff(
        store, clock, name="Baraka", address=ADMIN, role=Role.ADMIN, language=Language.SW
    )
    engine = Engine(
        store,
        registry=REGISTRY,
        documents=FolderDocuments(tmp_path),
        matcher=_refusing_matcher,
    )
    return Chat(engine, clock, address=ADMIN, channel=Channel.TELEGRAM)


async def test_csv_problem_lines_are_in_the_admins_language(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    msimamizi = await _msimamizi(store, clock, tmp_path)
    csv = (
        "customer,customer_kind,reference,due_date,sku,quantity\n"
        "Zuri,retailer,PO-1,2026-01-10,NECK-1,4\n"  # due before today (02/03/2026)
        "Zuri,shop,PO-2,2026-04-10,NOPE-9,abc\n"  # a bad kind, an unknown SKU, not a number
        "Zuri,retailer,PO-3,10/04/2026,NECK-1,\n"  # not a date, no quantity
    )
    (tmp_path / "orders.csv").write_text(csv, encoding="utf-8")
    document = MediaItem("text/csv", len(csv), "orders.csv")
    reply = await msimamizi.say("/import_orders", media=(document,))
    problems = [line for line in reply.splitlines() if line.startswith("• ")]
    assert problems == [
        "• mstari 2, due_date: tarehe ya mwisho, Jumamosi 10 Januari, imeshapita "
        "(leo ni Jumatatu 2 Machi)",
        "• mstari 3, customer_kind: iwe retailer au web_shop",
        "• mstari 3, quantity: abc si namba kamili",
        "• mstari 3, sku: hakuna bidhaa yenye SKU NOPE-9",
        "• mstari 4, due_date: si tarehe: iandike kama MWAKA-MWEZI-SIKU, mfano 2027-01-15",
        "• mstari 4, quantity: hakuna kilichoandikwa",
    ]
    assert reply.startswith(t("sw", "admin.import_rejected", count=5)[:20])
    assert english_in("\n".join(problems)) == []


async def test_domain_refusals_are_worded_for_a_kiswahili_admin(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    msimamizi = await _msimamizi(store, clock, tmp_path)
    async with store.transaction() as session:
        await upsert_product(
            session,
            sku="RING-0",
            name="Ring",
            wholesale_price_cents=50_000,
            retail_price_cents=90_000,
        )  # no bill of materials yet
        customer = await get_or_create_customer(session, name="Zuri", kind=CustomerKind.RETAILER)
        assert customer.id is not None
        order = await create_order(
            session,
            customer_id=customer.id,
            reference="PO-7",
            due_date=clock.now().date().replace(month=4),
            lines=[("RING-0", 5)],
            now=clock.now(),
        )
    # Confirming it needs a bill of materials: said in Kiswahili, not "no bill of materials".
    refused = await msimamizi.say(f"/confirm {order.id}")
    assert refused == t(
        "sw",
        "admin.confirm_refused",
        id=order.id,
        reason=t("sw", "error.no_bom", skus="RING-0"),
    )
    assert english_in(refused) == []
    # A matching round the domain refuses: its English goes to the log, Kiswahili to chat.
    failed = await msimamizi.say("/match")
    assert failed == t("sw", "admin.match_failed", reason=t("sw", "error.unexplained"))
    assert "offer_ttl" not in failed
    # Cancelled without a reason: the order says who cancelled it, in the admin's words.
    await msimamizi.say(f"/cancel {order.id}")
    await msimamizi.say("ndiyo")  # after seeing what stops
    shown = await msimamizi.say(f"/order {order.id}")
    assert "“imeghairiwa na Baraka”" in shown
    assert "cancelled by" not in shown


async def test_a_new_order_refused_at_the_last_step_says_why_in_kiswahili(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    msimamizi = await _msimamizi(store, clock, tmp_path)
    for answer in ("/neworder", "Zuri Boutique", "1", "PO-9", "15 Januari", "NECK-1 x 4"):
        await msimamizi.say(answer)
    await msimamizi.say("done")
    # Another admin enters the same order first.
    async with store.transaction() as session:
        customer = await get_or_create_customer(
            session, name="Zuri Boutique", kind=CustomerKind.RETAILER
        )
        assert customer.id is not None
        await create_order(
            session,
            customer_id=customer.id,
            reference="PO-9",
            due_date=clock.now().date().replace(month=4),
            lines=[("NECK-1", 2)],
            now=clock.now(),
        )
    refused = await msimamizi.say("ndiyo")
    duplicate = t("sw", "error.duplicate_reference", customer="Zuri Boutique", reference="PO-9")
    assert refused.startswith(t("sw", "neworder.rejected", problems=duplicate))
    assert english_in(refused.split("\n")[0]) == []


# --- the staff console: /why and payout states in the viewer's language -----------------------


@dataclass(frozen=True)
class _Round:
    at: datetime | None = None
    offered: int = 0
    offered_to_others: int = 0
    outcome: str | None = None


@dataclass(frozen=True)
class _Figures:
    artisan_name: str
    job_id: int
    free_pieces: int = 10
    checks: tuple[object, ...] = ()
    scores: tuple[object, ...] = ()
    score: float = 0.5
    rank: int | None = 1
    candidates: int = 2
    last_round: _Round = _Round()


@dataclass
class _Explainer:
    """The matchmaker's two answers: English for the CLI, figures for people."""

    async def explain(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> str:
        return "never offered: English for the command line"

    async def explanation(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> _Figures:
        return _Figures(artisan_name="Otieno", job_id=job_id)


async def test_the_console_says_why_and_payout_states_in_kiswahili(
    store: Store, clock: FakeClock
) -> None:
    factory = await build_factory(store, clock)
    async with store.transaction() as session:
        await owed_earnings(
            session, verified_by=factory.agent, now=clock.now(), owed={"Akinyi": 150_000}
        )
        batch = await create_payout_batch(
            session, minimum_cents=50_000, now=clock.now(), created_by=factory.admin
        )
        assert batch is not None
    placed = await place_order(store, clock)
    job_id = next(iter(placed.jobs.values()))
    console = make_console(store, clock)
    console.explainer = _Explainer()
    app = Starlette(routes=console_routes(console))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
        await log_in(web, store, CHATS["admin"][1])
        async with store.transaction() as session:  # Achieng reads Kiswahili from now on
            admin = await session.get(Person, factory.admin)
            assert admin is not None
            admin.language = Language.SW
        page = (await web.get(f"/console/artisans/{factory.otieno}?job={job_id}")).text
        assert html.escape(t("sw", "why.never_offered", job=job_id), quote=False) in page
        assert "English for the command line" not in page
        payouts = (await web.get("/console/payouts")).text
        batch_page = (await web.get(f"/console/payouts/{batch.id}")).text
    assert t("sw", "status.batch.awaiting_approval") in payouts
    assert t("sw", "status.payout.pending") in payouts
    assert "awaiting_approval" not in payouts.replace('"awaiting_approval"', "")
    assert t("sw", "status.batch.awaiting_approval") in batch_page
    assert ">pending<" not in batch_page


async def test_a_registration_the_catalogue_changed_under_is_refused_in_kiswahili(
    store: Store, clock: FakeClock
) -> None:
    await seed_catalogue(store)
    chat = Chat(Engine(store, registry=REGISTRY), clock)
    for answer in ("Habari", "Kiswahili", "Achieng", "Pembe Group", "horn carving", "Kariobangi"):
        await chat.say(answer)
    await chat.say("30")
    await chat.say("1")  # the M-Pesa number I write from: the summary is next
    async with store.transaction() as session:  # meanwhile no product needs horn carving
        await upsert_component(
            session,
            code="HORN",
            name="Horn",
            skill="beading",
            piece_rate_cents=2_000,
            lead_time_days=5,
        )
    refused = await chat.say("ndiyo")
    reason = t("sw", "error.unknown_skills", skills="horn carving", known="beading, brass casting")
    assert refused.startswith(t("sw", "registration.could_not_register", reason=reason))
    assert english_in(refused) == []


async def test_staff_lists_write_dates_out_in_kiswahili(floor: Floor) -> None:
    async def in_kiswahili(session: AsyncSession) -> None:
        for person_id in (floor.factory.admin, floor.factory.agent):
            person = await session.get(Person, person_id)
            assert person is not None
            person.language = Language.SW

    await floor.act(in_kiswahili)
    async with floor.store.read() as session:
        job = await session.get(Job, floor.order.jobs["HORN-PENDANT"])
        assert job is not None
        due = job.due_date
    jobs = await floor.admin.say("/jobs")
    assert written_date("sw", due) in jobs
    assert due.strftime("%d/%m/%Y") not in jobs
    order = await floor.admin.say(f"/order {floor.order.order_id}")
    assert due.strftime("%d/%m/%Y") not in order
    assert english_in(jobs) == []
