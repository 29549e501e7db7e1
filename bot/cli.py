"""``karakana``: set up the database, seed the demo, import and export CSV, add people, see status,
run the bot, simulate matching policies, and send and reconcile M-Pesa payouts.

Each command is a thin translation: read arguments, do one unit of work through the domain, print
the outcome. A mistake a person can fix (a bad CSV, an invalid phone number, a database behind
its migrations) ends in one red message and exit code 1, never a traceback.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import func
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import select

from bot import main
from bot.catalogue_io import (
    CatalogueImported,
    apply_catalogue,
    apply_orders,
    order_context,
    read_catalogue,
    wholesale_shares,
)
from bot.console import run_console
from bot.database import DatabaseNotCurrent, hide_password, upgrade_database
from bot.demo import DemoSummary, seed_demo
from bot.logging import configure_logging
from bot.main import Factory
from bot.reconcile import COLUMNS as RECONCILE_COLUMNS
from bot.reconcile import Difference, reconcile_payouts
from bot.settings import Settings, webchat_refusal
from bot.status_report import FactoryStatus, read_status
from conversations.i18n import Catalogue
from domain.csv_formats import (
    CatalogueSpec,
    catalogue_to_csv,
    parse_orders_csv,
    parse_products_csv,
)
from domain.errors import DomainError
from domain.limits import MAX_WEEKLY_CAPACITY
from domain.model import Channel, Language, Order, Person, Product, Role
from domain.numbers import NotAWholeNumber, whole_number
from domain.phone import InvalidPhoneNumber, normalise_kenyan_mobile
from domain.revenue_share import check_band
from domain.services.people import add_person, register_artisan
from matching import simulator

T = TypeVar("T")

app = typer.Typer(
    name="karakana",
    help="Karakana: a virtual factory for Nairobi's artisan jewellery workshops, run over chat.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Create or upgrade the database.", no_args_is_help=True)
products_app = typer.Typer(help="The catalogue of products and components, as CSV.")
orders_app = typer.Typer(help="Customers' orders, as CSV.")
people_app = typer.Typer(help="Artisans, field agents and admins.")
payouts_app = typer.Typer(help="M-Pesa payouts: send approved ones now, reconcile with M-Pesa.")
app.add_typer(db_app, name="db")
app.add_typer(products_app, name="products", no_args_is_help=True)
app.add_typer(orders_app, name="orders", no_args_is_help=True)
app.add_typer(people_app, name="people", no_args_is_help=True)
app.add_typer(payouts_app, name="payouts", no_args_is_help=True)


# --- talking to the person at the terminal --------------------------------------------------------


def _out() -> Console:
    # Built per call: the terminal (or a test's captured output) may change between commands.
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _run_event_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (Linux, macOS): the same asyncio API, with the loop,
    its sockets and timers in C, which is most of a chat message's cost outside our own code."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)


def _say(message: str, style: str = "green") -> None:
    _out().print(Text(message, style=style), soft_wrap=True)


def _fail(message: str) -> NoReturn:
    # Domain messages start in lower case so they can be embedded; on their own, capitalise.
    _err().print(Text(message[:1].upper() + message[1:], style="bold red"), soft_wrap=True)
    raise typer.Exit(1)


def _kes(cents: int) -> str:
    shillings, rest = divmod(cents, 100)
    return f"KES {shillings:,}" + (f".{rest:02d}" if rest else "")


# --- running one command against the database ----------------------------------------------------


def _settings() -> Settings:
    try:
        return main.load_settings()
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in error['loc']).upper() or 'SETTINGS'}: "
            f"{error['msg']}"
            for error in exc.errors()
        )
        _fail(f"Karakana's configuration is not valid (see .env.example):\n{problems}")


def _run(work: Callable[[Factory], Awaitable[T]], *, check_schema: bool = True) -> T:
    """Run ``work`` on the configured database, turning a person's mistakes into a red message."""
    settings = _settings()

    async def go() -> T:
        async with main.open_factory(settings, check_schema=check_schema) as factory:
            return await work(factory)

    try:
        return asyncio.run(go())
    except (DomainError, DatabaseNotCurrent) as exc:
        _fail(str(exc))
    except (OperationalError, DBAPIError, OSError) as exc:
        _fail(_unreachable(settings, exc))


def _unreachable(settings: Settings, exc: Exception) -> str:
    reason = getattr(exc, "orig", None) or exc
    return f"cannot use the database at {hide_password(settings.database_url)}: {reason}"


def _read_text(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _fail(
            f"{file} is not UTF-8 text (byte {exc.start} cannot be read); save it as "
            "'CSV UTF-8' and try again"
        )
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")


# --- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database, or bring it up to the newest schema. Safe to run again."""
    settings = _settings()
    _upgrade(settings)
    _say(f"The database at {hide_password(settings.database_url)} is up to date.")


def _upgrade(settings: Settings) -> None:
    try:
        upgrade_database(settings.database_url)
    except (OperationalError, DBAPIError, OSError) as exc:
        _fail(_unreachable(settings, exc))


# --- seed -----------------------------------------------------------------------------------------


async def _seed_if_empty(factory: Factory) -> tuple[DemoSummary | None, str]:
    """Seed the demo into an empty factory; otherwise leave it be and say what it already has."""
    async with factory.store.transaction() as session:
        held = []
        for one, many, model in (
            ("person", "people", Person),
            ("product", "products", Product),
            ("order", "orders", Order),
        ):
            n = (await session.exec(select(func.count()).select_from(model))).one()
            if n:
                held.append(f"{n} {one if n == 1 else many}")
        if held:
            return None, ", ".join(held)
        return await seed_demo(session, now=factory.now(), zone=factory.zone), ""


def _report_seed(summary: DemoSummary | None, held: str) -> None:
    if summary is None:
        _say(
            f"The database already has data ({held}), so it is already seeded; "
            "the demo was not added.",
            style="yellow",
        )
        return
    _say(
        f"Seeded the demo factory: {summary.products} products ({summary.components} components), "
        f"{summary.artisans_active + summary.artisans_pending} artisans "
        f"({summary.artisans_pending} pending verification), {summary.field_agents} field agents, "
        f"{summary.admins} admin, {summary.orders_confirmed + summary.orders_draft} orders "
        f"({summary.orders_confirmed} confirmed into {summary.jobs} jobs)."
    )


@app.command()
def seed(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Seed the demo factory: 8 products, 60 artisans, a few orders."
        ),
    ] = False,
) -> None:
    """Fill an empty database with data to try Karakana with."""
    if not demo:
        _fail("say what to seed: `karakana seed --demo` is the only seed there is")
    _report_seed(*_run(_seed_if_empty))


# --- products -------------------------------------------------------------------------------------


@products_app.command("import")
def products_import(
    file: Annotated[Path, typer.Argument(help="products.csv: one row per bill-of-materials line.")],
) -> None:
    """Create or update products and components from a CSV (see docs/csv-formats.md).

    A file with any bad row is rejected whole: every problem is listed and nothing is written.
    """
    text = _read_text(file)

    async def work(factory: Factory) -> tuple[CatalogueSpec, CatalogueImported, Settings]:
        catalogue = parse_products_csv(text)
        async with factory.store.transaction() as session:
            return catalogue, await apply_catalogue(session, catalogue), factory.settings

    catalogue, result, settings = _run(work)
    lines = sum(len(p.bom) for p in catalogue.products)
    _say(
        f"Imported {len(catalogue.products)} products ({result.products_added} new, "
        f"{result.products_updated} updated) with {lines} bill-of-materials lines, and "
        f"{len(catalogue.components)} components ({result.components_added} new) from {file}."
    )
    for sku, share in wholesale_shares(catalogue):
        check = check_band(share, low=settings.revenue_share_min, high=settings.revenue_share_max)
        if not check.within:
            _say(f"{sku} at its wholesale price: {check.verdict}.", "yellow")


@products_app.command("export")
def products_export(
    file: Annotated[
        str, typer.Argument(help="Where to write the CSV; - (the default) is the screen.")
    ] = "-",
) -> None:
    """Write the catalogue as products.csv; importing it again gives the same catalogue."""

    async def work(factory: Factory) -> tuple[CatalogueSpec, int]:
        async with factory.store.read() as session:
            total = (await session.exec(select(func.count()).select_from(Product))).one()
            return await read_catalogue(session), total

    catalogue, total = _run(work)
    text = catalogue_to_csv(catalogue)
    if left_out := total - len(catalogue.products):
        # On stderr, so a CSV printed to the screen or piped on stays clean.
        _err().print(
            Text(
                f"{left_out} product(s) without a bill of materials cannot be written as rows "
                "and were left out.",
                style="yellow",
            ),
            soft_wrap=True,
        )
    if file == "-":
        typer.echo(text, nl=False)
        return
    try:
        Path(file).write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {file}: {exc.strerror or exc}")
    _say(f"Exported {len(catalogue.products)} products to {file}.")


# --- orders ---------------------------------------------------------------------------------------


@orders_app.command("import")
def orders_import(
    file: Annotated[Path, typer.Argument(help="orders.csv: one row per order line.")],
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm", help="Confirm each order as well, exploding it into component jobs."
        ),
    ] = False,
) -> None:
    """Create orders from a CSV (see docs/csv-formats.md), as drafts unless --confirm.

    A file with any bad row is rejected whole: every problem is listed and nothing is written.
    """
    text = _read_text(file)

    async def work(factory: Factory) -> list[tuple[str, str, str, int, str, int]]:
        async with factory.store.transaction() as session:
            known = await order_context(session)
            specs = parse_orders_csv(
                text,
                known_skus=known.known_skus,
                today=factory.today(),
                existing_orders=known.existing_orders,
                customer_kinds=known.customer_kinds,
                boms=known.boms,
            )
            imported = await apply_orders(
                session, specs, now=factory.now(), confirm=confirm, zone=factory.zone
            )
            return [
                (
                    item.order.reference,
                    item.customer,
                    item.order.due_date.isoformat(),
                    item.units,
                    str(item.order.status),
                    item.jobs,
                )
                for item in imported
            ]

    rows = _run(work)
    table = Table(title=f"Imported {len(rows)} orders from {file}")
    for column in ("Reference", "Customer", "Due", "Units", "Status", "Jobs"):
        table.add_column(column, justify="right" if column in ("Units", "Jobs") else "left")
    for reference, customer, due, units, status, jobs in rows:
        table.add_row(reference, customer, due, str(units), status, str(jobs))
    _out().print(table)
    if not confirm:
        _say("The orders are drafts: nothing is made until an order is confirmed.", "yellow")


# --- people ---------------------------------------------------------------------------------------


def _identity(whatsapp: str | None, telegram: str | None) -> tuple[Channel, str]:
    if (whatsapp is None) == (telegram is None):
        raise DomainError("give exactly one chat identity: --whatsapp +2547... or --telegram 12345")
    if whatsapp is not None:
        return Channel.WHATSAPP, _phone("--whatsapp", whatsapp)
    assert telegram is not None
    user_id = telegram.strip()
    if not user_id.isdigit():
        raise DomainError(f"{telegram!r} is not a Telegram user id: it is a number, e.g. 123456789")
    return Channel.TELEGRAM, user_id


def _phone(option: str, raw: str) -> str:
    try:
        return normalise_kenyan_mobile(raw)
    except InvalidPhoneNumber as exc:
        raise InvalidPhoneNumber(
            f"{option}: {exc}; type it as 07XX XXX XXX or +2547XX XXX XXX"
        ) from exc


def _skills(pairs: Sequence[str]) -> dict[str, int]:
    skills: dict[str, int] = {}
    for pair in pairs:
        skill, sep, capacity = pair.partition("=")
        if not sep or not skill.strip():
            raise DomainError(
                f"--skill {pair!r} should be skill=weekly capacity, e.g. --skill horn_carving=30"
            )
        try:
            skills[skill.strip()] = whole_number(capacity, most=MAX_WEEKLY_CAPACITY, strict=True)
        except NotAWholeNumber as refused:
            raise DomainError(
                f"--skill {pair!r}: the weekly capacity {refused}; e.g. --skill horn_carving=30"
            ) from None
    return skills


@people_app.command("add")
def people_add(
    role: Annotated[Role, typer.Option("--role", help="artisan, field_agent or admin.")],
    name: Annotated[str, typer.Option("--name", help="Full name, as people know them.")],
    whatsapp: Annotated[
        str | None, typer.Option("--whatsapp", help="WhatsApp number, +2547...")
    ] = None,
    telegram: Annotated[
        str | None, typer.Option("--telegram", help="Telegram user id (a number).")
    ] = None,
    area: Annotated[
        str | None,
        typer.Option("--area", help="Where they work; for a field agent, the area they cover."),
    ] = None,
    language: Annotated[Language, typer.Option("--language", help="en or sw.")] = Language.EN,
    workshop: Annotated[
        str | None, typer.Option("--workshop", help="Artisans: their workshop or group.")
    ] = None,
    mpesa: Annotated[
        str | None, typer.Option("--mpesa", help="Artisans: M-Pesa number, 07XX...")
    ] = None,
    skill: Annotated[
        list[str] | None,
        typer.Option(
            "--skill", help="Artisans: skill=weekly capacity, e.g. horn_carving=30; repeat it."
        ),
    ] = None,
) -> None:
    """Add an artisan, a field agent or an admin, reachable on WhatsApp or Telegram."""

    async def work(factory: Factory) -> Person:
        channel, address = _identity(whatsapp, telegram)
        async with factory.store.transaction() as session:
            if role is Role.ARTISAN:
                missing = [
                    option
                    for option, value in (
                        ("--workshop", workshop),
                        ("--mpesa", mpesa),
                        ("--area", area),
                        ("--skill", skill or None),
                    )
                    if value is None
                ]
                if missing:
                    raise DomainError(f"an artisan also needs {', '.join(missing)}")
                assert workshop is not None
                assert mpesa is not None
                assert area is not None
                return await register_artisan(
                    session,
                    name=name,
                    workshop=workshop,
                    area=area,
                    skills=_skills(skill or []),
                    mpesa_number=_phone("--mpesa", mpesa),
                    language=language,
                    channel=channel,
                    address=address,
                    now=factory.now(),
                )
            if workshop is not None or mpesa is not None or skill:
                raise DomainError("--workshop, --mpesa and --skill are for artisans only")
            return await add_person(
                session,
                role=role,
                name=name,
                channel=channel,
                address=address,
                language=language,
                area=area,
                areas=[area] if role is Role.FIELD_AGENT and area else [],
                now=factory.now(),
            )

    person = _run(work)
    what = str(person.role).replace("_", " ")
    _say(f"Added {what} {person.name} (person {person.id}).")
    if person.role is Role.ARTISAN:
        _say("They stay pending until a field agent visits and verifies them.", "yellow")


# --- status ---------------------------------------------------------------------------------------


async def _read_status(factory: Factory) -> FactoryStatus:
    async with factory.store.read() as session:
        return await read_status(session)


@app.command()
def status() -> None:
    """Orders, open jobs and artisans at a glance."""
    _show_status(_run(_read_status))


def _show_status(factory: FactoryStatus) -> None:
    console = _out()
    if factory.is_empty:
        _say(
            "The factory is empty: run `karakana seed --demo`, or `karakana products import` "
            "and `karakana people add`.",
            "yellow",
        )
        return

    artisans = sum(factory.artisans_by_status.values())
    console.print(
        Text(
            f"Karakana: {factory.products} products, {len(factory.orders)} orders, "
            f"{len(factory.open_jobs)} open jobs, {artisans} artisans",
            style="bold",
        ),
        soft_wrap=True,
    )

    orders = Table(
        title="Orders",
        caption=" · ".join(f"{s}: {n}" for s, n in factory.orders_by_status.items()) or None,
    )
    for column in ("Reference", "Customer", "Status", "Due", "Units", "Value"):
        orders.add_column(column, justify="right" if column in ("Units", "Value") else "left")
    for order in factory.orders:
        orders.add_row(
            order.reference,
            order.customer,
            str(order.status),
            order.due_date.isoformat(),
            str(order.units),
            _kes(order.value_cents),
        )
    console.print(orders)

    jobs = Table(
        title="Open jobs", caption="remainder: pieces no artisan has taken or been offered"
    )
    for column in ("Job", "Order", "Component", "Skill", "Qty", "Due", "Remainder"):
        jobs.add_column(
            column, justify="right" if column in ("Job", "Qty", "Remainder") else "left"
        )
    for job in factory.open_jobs:
        jobs.add_row(
            str(job.job_id),
            job.order_reference,
            job.component,
            job.skill,
            str(job.quantity),
            job.due_date.isoformat(),
            Text(str(job.remainder), style="yellow" if job.remainder else "green"),
        )
    console.print(jobs)

    by_status = " · ".join(f"{s}: {n}" for s, n in factory.artisans_by_status.items())
    skills = Table(title="Artisans by skill", caption=by_status or None)
    for column in ("Skill", "Active", "Pending", "Weekly capacity"):
        skills.add_column(column, justify="left" if column == "Skill" else "right")
    for row in factory.skills:
        skills.add_row(row.skill, str(row.active), str(row.pending), str(row.weekly_capacity))
    console.print(skills)

    areas = Table(title="Artisans by area")
    for column in ("Area", "Active", "Pending", "Paused", "Field agent"):
        areas.add_column(
            column, justify="right" if column in ("Active", "Pending", "Paused") else "left"
        )
    for place in factory.areas:
        areas.add_row(
            place.area,
            str(place.active),
            str(place.pending),
            str(place.paused),
            ", ".join(place.agents),
        )
    console.print(areas)

    for role, title in ((Role.ADMIN, "Admins"), (Role.FIELD_AGENT, "Field agents")):
        if names := factory.staff.get(role):
            console.print(Text(f"{title}: {', '.join(names)}"), soft_wrap=True)


# --- chat ---------------------------------------------------------------------------------------


@app.command()
def chat(
    address: Annotated[
        str,
        typer.Option(
            "--as",
            help="Who you are: a WhatsApp number (0712 345 678), a Telegram id, or a new address "
            "to register from.",
        ),
    ],
) -> None:
    """Chat with Karakana in the terminal as anyone in the database.

    Each line is one message; `photo: /path/to/picture.jpg` sends a photo; /quit leaves.
    """

    async def work(factory: Factory) -> None:
        await run_console(
            factory.store,
            channel_address=address,
            engine=factory.engine(),
            media_dir=factory.settings.media_dir,
            clock=factory.now,
        )

    _run(work)


# --- run ------------------------------------------------------------------------------------------


@app.command()
def run(
    prepare_only: Annotated[
        bool,
        typer.Option(
            "--prepare-only",
            help="Upgrade the database, seed the demo if it is empty, show the status, and exit "
            "without serving (for deployments and CI).",
        ),
    ] = False,
) -> None:
    """Run Karakana: upgrade the database, seed the demo if it is empty, and serve the bot.

    One process serves WhatsApp's and Telegram's webhooks (or long-polls Telegram), the outbox
    dispatcher and /healthz. With no channel accounts configured and a loopback HOST it serves
    the local web chat (no login) at http://HOST:PORT/ instead. Stop it with Ctrl+C or SIGTERM:
    messages in flight are finished first.
    """
    settings = _settings()
    _upgrade(settings)

    async def work(factory: Factory) -> tuple[DemoSummary | None, FactoryStatus]:
        summary, _ = await _seed_if_empty(factory)
        return summary, await _read_status(factory)

    summary, factory_status = _run(work)
    if summary is not None:
        _report_seed(summary, "")
    if prepare_only:
        _show_status(factory_status)
        return
    _serve(settings)


def _serve(settings: Settings) -> None:
    configure_logging(settings.log_level, secrets=settings.secrets)
    url = f"http://{settings.host}:{settings.port}/"
    refusal = webchat_refusal(settings)
    channels = [] if refusal else ["the local web chat at " + url]
    if settings.whatsapp_configured:
        channels.append(f"WhatsApp (webhook {settings.public_base_url}/whatsapp/webhook)")
    if settings.telegram_configured:
        mode = "webhook" if settings.telegram_uses_webhook else "long polling"
        channels.append(f"Telegram ({mode})")
    _say(
        "Karakana is starting: "
        + ("; ".join(channels) or "no chat channel")
        + ". Stop with Ctrl+C."
    )
    if refusal:
        _say(refusal, style="yellow")
    elif not (settings.whatsapp_configured or settings.telegram_configured):
        _say(
            f"No WhatsApp or Telegram account is configured (see .env.example): open {url} "
            "to chat as anyone in the database.",
            style="yellow",
        )
    if not settings.mpesa_configured:
        _say(
            "M-Pesa is not configured (see .env.example): payout batches are prepared and "
            "approved, but nothing is sent until the MPESA_ settings are set.",
            style="yellow",
        )

    async def go() -> None:
        async with main.open_factory(settings) as factory:
            await main.serve(factory)

    # uvicorn catches SIGTERM and SIGINT, shuts down gracefully, then re-raises the signal: let
    # SIGTERM end up where Ctrl+C does, so both finish with the goodbye and exit code 0.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _run_event_loop(go())
    except KeyboardInterrupt:
        pass
    except (DomainError, DatabaseNotCurrent, main.MpesaNotConfigured) as exc:
        _fail(str(exc))
    except (OperationalError, DBAPIError) as exc:
        _fail(_unreachable(settings, exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    _say("Karakana stopped.")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# --- simulate -------------------------------------------------------------------------------------


def _numbers(option: str, raw: str | None, kind: Callable[[str], T]) -> list[T] | None:
    if raw is None:
        return None
    try:
        values = [kind(part.strip()) for part in raw.split(",") if part.strip()]
    except ValueError:
        _fail(f"{option} takes numbers separated by commas, like 1,2,3; not {raw!r}")
    if not values:
        _fail(f"{option} needs at least one number")
    return values


@app.command()
def simulate(
    world: Annotated[
        Path | None,
        typer.Option(
            "--world", help=f"The world file (TOML); default {simulator.DEFAULT_WORLD_FILE.name}."
        ),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Seeds, comma-separated (default: the world's).")
    ] = None,
    weeks: Annotated[
        int | None, typer.Option("--weeks", min=1, help="Simulated weeks (default: the world's).")
    ] = None,
    loads: Annotated[
        str | None,
        typer.Option("--loads", help="Demand as fractions of declared capacity, e.g. 0.5,0.8."),
    ] = None,
    policies: Annotated[
        str | None,
        typer.Option("--policies", help=f"Policies to compare: {', '.join(simulator.POLICIES)}."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the week-by-week PNG here.")
    ] = None,
) -> None:
    """Compare matching policies on a synthetic factory with hidden truth (no database needed).

    Every policy runs on the same worlds and outcome streams per (load, seed); the table shows the
    headline (good pieces on time per piece ordered), fill, quality, fairness and newcomers.
    """
    seed_list = _numbers("--seeds", seeds, int)
    load_list = _numbers("--loads", loads, float)
    policy_list = None if policies is None else [p.strip() for p in policies.split(",") if p]
    try:
        chosen = simulator.load_world(world)
    except ValueError as exc:
        _fail(str(exc))
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err(),
        transient=True,
    ) as bar:
        task = bar.add_task("simulating", total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        try:
            report = simulator.run(
                chosen,
                seeds=seed_list,
                weeks=weeks,
                loads=load_list,
                policies=policy_list,
                progress=progress,
            )
        except ValueError as exc:
            _fail(str(exc))
    header, rows = report.summary_rows()
    table = Table(
        title=f"{len(report.seeds)} seed(s) x {report.weeks} weeks, {report.seconds:.1f} s",
        show_lines=False,
    )
    for name in header:
        table.add_column(name, justify="left" if name in ("load", "policy") else "right")
    for row in rows:
        table.add_row(*row)
    _out().print(table)
    if plot is not None:
        try:
            written = simulator.render_plot(report, plot)
        except ImportError:
            _fail("the plot needs matplotlib: .venv/bin/pip install matplotlib")
        except OSError as exc:
            _fail(f"cannot write the plot to {plot}: {exc.strerror or exc}")
        _say(f"Wrote the week-by-week plot to {written}.")


# --- payouts --------------------------------------------------------------------------------------


@payouts_app.command("reconcile")
def payouts_reconcile(
    stale_after: Annotated[
        int,
        typer.Option(
            "--stale-after-minutes", min=1, help="A payout in doubt longer than this is listed."
        ),
    ] = 60,
) -> None:
    """Compare the ledger with what M-Pesa said for every payout; exit 1 if anything differs."""

    async def work(factory: Factory) -> list[Difference]:
        return await reconcile_payouts(
            factory.store, now=factory.now(), stale_after=timedelta(minutes=stale_after)
        )

    differences = _run(work)
    if not differences:
        _say("The ledger and M-Pesa agree on every payout.")
        return
    table = Table(title=f"{len(differences)} difference(s) between the ledger and M-Pesa")
    for name in RECONCILE_COLUMNS:
        table.add_column(name, justify="right" if name.startswith(("Payout", "Amount")) else "left")
    for difference in differences:
        table.add_row(*difference.as_row())
    _out().print(table)
    raise typer.Exit(1)


@payouts_app.command("run")
def payouts_run() -> None:
    """Send approved payouts to M-Pesa now (and ask about those in doubt), then wait a moment
    for M-Pesa's results; the running bot receives any that come later."""
    settings = _settings()
    try:
        main.daraja_config(settings)
    except main.MpesaNotConfigured as exc:
        _fail(str(exc))

    async def work(factory: Factory) -> list[str]:
        payments = main.build_payments(factory, Catalogue.load(), factory.now)
        assert payments is not None
        try:
            return await payments.waker.send_waiting()
        finally:
            await payments.aclose()

    sent = _run(work)
    if not sent:
        _say("No approved payout is waiting to be sent.")
        return
    _say(
        f"Sent {len(sent)} payout(s) to M-Pesa; their results arrive at the running bot's "
        "M-Pesa callback routes. Check with: karakana payouts reconcile"
    )
