"""The ``karakana`` command line, run in-process against a real SQLite database per test."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.db.database import upgrade_database
from domain.explosion import FACTORY_ZONE
from domain.model import Channel, ChannelIdentity, Customer, Job, Order, Person, Product, Role
from domain.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Karakana = Callable[..., Result]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}"


@pytest.fixture
def karakana(database_url: str) -> Karakana:
    """Run ``karakana ARGS...`` on the test's database, wide enough that tables do not wrap."""
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "COLUMNS": "200", "NO_COLOR": "1"}

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


def _template(folder: Path, *, seed: bool) -> Path:
    url = f"sqlite+aiosqlite:///{folder / 'factory.db'}"
    upgrade_database(url)
    if seed:
        result = CliRunner().invoke(app, ["seed", "--demo"], env={"DATABASE_URL": url})
        assert result.exit_code == 0, result.output
    return folder / "factory.db"


@pytest.fixture(scope="session")
def upgraded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _template(tmp_path_factory.mktemp("upgraded"), seed=False)


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeding takes a few seconds, so tests start from a copy of one seeded database."""
    return _template(tmp_path_factory.mktemp("seeded"), seed=True)


def _copy(template: Path, database_url: str) -> str:
    target = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
    for suffix in ("", "-wal"):  # the write-ahead log, if SQLite left one behind
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copyfile(source, target.with_name(target.name + suffix))
    return database_url


@pytest.fixture
def upgraded(upgraded_template: Path, database_url: str) -> str:
    return _copy(upgraded_template, database_url)


@pytest.fixture
def seeded(seeded_template: Path, database_url: str) -> str:
    return _copy(seeded_template, database_url)


def count(url: str, model: type[SQLModel], *where: Any) -> int:
    async def go() -> int:
        store = Store.from_url(url)
        try:
            async with store.transaction() as session:
                statement = select(func.count()).select_from(model)
                for condition in where:
                    statement = statement.where(condition)
                return (await session.exec(statement)).one()
        finally:
            await store.close()

    return asyncio.run(go())


def failed_politely(result: Result) -> bool:
    """Exit code 1 with a message, and no traceback: the person made a mistake, not the code."""
    return (
        result.exit_code == 1
        and isinstance(result.exception, SystemExit)
        and "Traceback" not in result.output
    )


def nairobi_today_plus(days: int) -> str:
    from datetime import UTC, datetime

    return (datetime.now(UTC).astimezone(FACTORY_ZONE).date() + timedelta(days=days)).isoformat()


# --- the database ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["seed", "--demo"],
        ["products", "export"],
        ["products", "import", str(EXAMPLES / "products.csv")],
        ["orders", "import", str(EXAMPLES / "orders.csv")],
        ["people", "add", "--role", "admin", "--name", "Grace", "--whatsapp", "0712345678"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_command_on_a_database_behind_its_migrations_names_karakana_db_upgrade(
    karakana: Karakana, command: list[str]
) -> None:
    result = karakana(*command)

    assert failed_politely(result)
    assert "has no migrations applied" in result.output
    assert "`karakana db upgrade`" in result.output


def test_db_upgrade_creates_the_database_and_is_safe_to_run_again(
    karakana: Karakana, database_url: str
) -> None:
    first = karakana("db", "upgrade")
    again = karakana("db", "upgrade")

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    assert "is up to date" in again.output
    assert karakana("status").exit_code == 0


def test_status_of_an_empty_factory_says_how_to_fill_it(karakana: Karakana, upgraded: str) -> None:
    result = karakana("status")

    assert result.exit_code == 0
    assert "karakana seed --demo" in result.output


def test_a_database_url_without_an_async_driver_is_explained(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["status"], env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    )

    assert failed_politely(result)
    assert "DATABASE_URL" in result.output
    assert "sqlite+aiosqlite" in result.output


# --- seed and status ------------------------------------------------------------------------------


def test_seeding_the_demo_then_status_shows_the_demo_factory(
    karakana: Karakana, upgraded: str
) -> None:
    seeded = karakana("seed", "--demo")
    status = karakana("status")

    assert seeded.exit_code == 0, seeded.output
    assert "60 artisans" in seeded.output
    assert status.exit_code == 0, status.output
    for expected in (
        "8 products",
        "60 artisans",
        "Marula Home & Gifts",  # a retailer's purchase order
        "Karakana web shop",  # and a web-shop order
        "Horn crescent pendant",  # an open job
        "horn_carving",
        "Kibera",
        "Kariobangi",
        "Peter Ouma Okoth",  # a field agent
        "Grace Wanjiku Mwangi",  # the admin
        "pending: 6",
    ):
        assert expected in status.output, expected


def test_status_shows_the_pieces_of_a_job_accepted_on_offer_and_not_taken(
    karakana: Karakana, seeded: str
) -> None:
    status = karakana("status")

    pendant = next(line for line in status.output.splitlines() if "Horn crescent pendant" in line)
    _job, _order, component, _skill, quantity, _due, accepted, on_offer, not_taken = (
        cell.strip() for cell in pendant.split("│")[1:-1]
    )
    # 30 of the 40 taken or on offer in the demo (the old "Remainder" 10); never negative.
    assert (component, quantity) == ("Horn crescent pendant", "40")
    assert int(accepted) + int(on_offer) == 30
    assert int(not_taken) == 40 - int(accepted) >= 0
    assert "on offer: pieces in open offers" in status.output


def test_seeding_an_already_seeded_database_says_so_and_adds_nobody(
    karakana: Karakana, seeded: str
) -> None:
    people_before = count(seeded, Person)

    again = karakana("seed", "--demo")

    assert again.exit_code == 0
    assert "already seeded" in again.output
    assert count(seeded, Person) == people_before


def test_the_demo_is_not_seeded_over_an_imported_catalogue(
    karakana: Karakana, upgraded: str, tmp_path: Path
) -> None:
    own = tmp_path / "own.csv"
    own.write_text(
        (EXAMPLES / "products.csv").read_text(encoding="utf-8").splitlines()[0]
        + "\nHRN-PND-01,Our own pendant,1000,2000,1,own_pendant,Pendant,horn_carving,1,300,5,\n",
        encoding="utf-8",
    )
    assert karakana("products", "import", str(own)).exit_code == 0

    result = karakana("seed", "--demo")

    assert result.exit_code == 0
    assert "already has data (1 product)" in result.output
    assert count(upgraded, Person) == 0
    assert "Our own pendant" in karakana("products", "export").stdout


def test_seed_without_demo_asks_for_it(karakana: Karakana, upgraded: str) -> None:
    result = karakana("seed")

    assert failed_politely(result)
    assert "karakana seed --demo" in result.output
    assert count(upgraded, Person) == 0


def test_run_upgrades_a_fresh_database_seeds_the_demo_and_shows_the_status(
    karakana: Karakana, database_url: str
) -> None:
    first = karakana("run", "--prepare-only")
    second = karakana("run", "--prepare-only")

    assert first.exit_code == 0, first.output
    assert "Seeded the demo factory" in first.output
    assert "Open jobs" in first.output
    assert second.exit_code == 0, second.output
    assert "Seeded" not in second.output
    assert count(database_url, Person) == 63


# --- products -------------------------------------------------------------------------------------


def test_exporting_the_catalogue_and_importing_it_elsewhere_gives_the_same_catalogue(
    karakana: Karakana, seeded: str, tmp_path: Path
) -> None:
    exported = tmp_path / "catalogue.csv"
    assert karakana("products", "export", str(exported)).exit_code == 0

    elsewhere = f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}"
    upgrade_database(elsewhere)
    runner, env = CliRunner(), {"DATABASE_URL": elsewhere}
    imported = runner.invoke(app, ["products", "import", str(exported)], env=env)
    again = runner.invoke(app, ["products", "export"], env=env)

    assert imported.exit_code == 0, imported.output
    assert "8 products (8 new, 0 updated)" in imported.output
    assert again.exit_code == 0
    assert again.stdout == exported.read_text(encoding="utf-8")
    assert again.stdout == (EXAMPLES / "products.csv").read_text(encoding="utf-8")


def test_importing_the_exported_catalogue_into_its_own_database_changes_nothing(
    karakana: Karakana, seeded: str, tmp_path: Path
) -> None:
    before = karakana("products", "export").stdout
    (tmp_path / "same.csv").write_text(before, encoding="utf-8")

    result = karakana("products", "import", str(tmp_path / "same.csv"))

    assert result.exit_code == 0, result.output
    assert "0 new, 8 updated" in result.output
    assert karakana("products", "export").stdout == before


def test_importing_a_product_whose_piece_rates_fall_outside_the_band_warns_but_imports(
    karakana: Karakana, upgraded: str, tmp_path: Path
) -> None:
    cheap = tmp_path / "cheap.csv"
    cheap.write_text(
        (EXAMPLES / "products.csv").read_text(encoding="utf-8").splitlines()[0]
        + "\nWIR-RNG-09,Wire ring,1000,2000,1,wire_ring,Wire ring,wire_work,1,50,2,\n",
        encoding="utf-8",
    )

    result = karakana("products", "import", str(cheap))

    assert result.exit_code == 0, result.output
    assert "WIR-RNG-09 at its wholesale price: artisans get 5.0% of revenue, below" in (
        result.output
    )
    assert count(upgraded, Product) == 1


def test_an_imported_price_change_is_exported_back(
    karakana: Karakana, seeded: str, tmp_path: Path
) -> None:
    text = karakana("products", "export").stdout.replace(
        "Carved bone bangle,900,1800", "Carved bone bangle,950.50,1900"
    )
    (tmp_path / "new-prices.csv").write_text(text, encoding="utf-8")

    result = karakana("products", "import", str(tmp_path / "new-prices.csv"))

    assert result.exit_code == 0, result.output
    assert "Carved bone bangle,950.50,1900" in karakana("products", "export").stdout


def test_a_bad_products_csv_is_rejected_with_each_bad_rows_line_and_nothing_is_written(
    karakana: Karakana, upgraded: str, tmp_path: Path
) -> None:
    lines = (EXAMPLES / "products.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",2500,5000,", ",lots,5000,")  # line 3: price not a number
    lines[5] = lines[5].replace(",bone_carving,", ",Bone Carving,")  # line 6: bad skill name
    bad = tmp_path / "bad-products.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = karakana("products", "import", str(bad))

    assert failed_politely(result)
    assert "2 problems, nothing was imported" in result.output
    assert "line 3, wholesale_kes: 'lots' is not a number" in result.output
    assert "line 6, skill: 'Bone Carving' is not a skill name" in result.output
    assert count(upgraded, Product) == 0


def test_a_bad_csv_leaves_an_existing_catalogue_untouched(
    karakana: Karakana, seeded: str, tmp_path: Path
) -> None:
    before = karakana("products", "export").stdout
    changed = before.replace("Carved bone bangle,900,1800", "Carved bone bangle,990,1980")
    bad = tmp_path / "half-good.csv"
    bad.write_text(changed + "NEW-SKU,New thing,100,50,1,x,X,wire_work,1,10,1,\n", "utf-8")

    result = karakana("products", "import", str(bad))

    assert failed_politely(result)
    assert "line 20, retail_kes: retail price is below the wholesale price" in result.output
    assert karakana("products", "export").stdout == before


def test_a_file_that_is_not_utf8_is_refused_with_advice(
    karakana: Karakana, upgraded: str, tmp_path: Path
) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("sku,product_name\nX,Café\n".encode("latin-1"))

    result = karakana("products", "import", str(latin))

    assert failed_politely(result)
    assert "not UTF-8" in result.output


def test_a_missing_file_is_refused_with_its_name(
    karakana: Karakana, upgraded: str, tmp_path: Path
) -> None:
    result = karakana("products", "import", str(tmp_path / "nowhere.csv"))

    assert failed_politely(result)
    assert "nowhere.csv" in result.output


# --- orders ---------------------------------------------------------------------------------------


def test_importing_orders_with_confirm_explodes_them_into_jobs(
    karakana: Karakana, upgraded: str, tmp_path: Path
) -> None:
    assert karakana("products", "import", str(EXAMPLES / "products.csv")).exit_code == 0
    orders = tmp_path / "orders.csv"
    due = nairobi_today_plus(30)
    orders.write_text(
        "customer,customer_kind,reference,due_date,sku,quantity\n"
        f"Marula Home & Gifts,retailer,PO-77,{due},HRN-PND-01,10\n"
        f"Marula Home & Gifts,retailer,PO-77,{due},BNE-BNG-02,5\n"
        f"Karakana web shop,web_shop,WEB-1,{due},BRS-KEY-08,1\n",
        encoding="utf-8",
    )

    result = karakana("orders", "import", str(orders), "--confirm")

    assert result.exit_code == 0, result.output
    assert "Imported 2 orders" in result.output
    assert count(upgraded, Order) == 2
    assert count(upgraded, Job) == 3 + 1 + 2  # pendant: 3 components, bangle: 1, key ring: 2
    assert "PO-77" in karakana("status").output


def test_importing_orders_without_confirm_leaves_drafts_and_no_jobs(
    karakana: Karakana, seeded: str, tmp_path: Path
) -> None:
    jobs_before = count(seeded, Job)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "customer,customer_kind,reference,due_date,sku,quantity\n"
        f"New Shop,retailer,NS-1,{nairobi_today_plus(21)},WIR-EAR-04,30\n",
        encoding="utf-8",
    )

    result = karakana("orders", "import", str(orders))

    assert result.exit_code == 0, result.output
    assert "draft" in result.output
    assert count(seeded, Job) == jobs_before


def test_a_bad_orders_csv_lists_every_bad_line_and_creates_nothing(
    karakana: Karakana, seeded: str, tmp_path: Path
) -> None:
    orders_before, customers_before = count(seeded, Order), count(seeded, Customer)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "customer,customer_kind,reference,due_date,sku,quantity\n"
        f"Fine Shop,retailer,FS-1,{nairobi_today_plus(30)},HRN-PND-01,10\n"
        f"Fine Shop,retailer,FS-2,{nairobi_today_plus(-1)},HRN-PND-01,10\n"
        f"Fine Shop,retailer,FS-3,{nairobi_today_plus(30)},NO-SUCH-SKU,10\n"
        f"Marula Home & Gifts,retailer,PO-2026-014,{nairobi_today_plus(30)},BNE-BNG-02,1\n",
        encoding="utf-8",
    )

    result = karakana("orders", "import", str(orders), "--confirm")

    assert failed_politely(result)
    assert "3 problems" in result.output
    assert "line 3, due_date:" in result.output
    assert "is in the past" in result.output
    assert "line 4, sku: unknown sku 'NO-SUCH-SKU'" in result.output
    assert "line 5, reference: order PO-2026-014 for Marula Home & Gifts already exists" in (
        result.output
    )
    assert count(seeded, Order) == orders_before
    assert count(seeded, Customer) == customers_before


def test_an_orders_csv_with_quantities_beyond_the_limit_names_each_line_and_creates_nothing(
    karakana: Karakana, seeded: str, tmp_path: Path
) -> None:
    orders_before, jobs_before = count(seeded, Order), count(seeded, Job)
    orders = tmp_path / "orders.csv"
    due = nairobi_today_plus(30)
    orders.write_text(
        "customer,customer_kind,reference,due_date,sku,quantity\n"
        f"Fine Shop,retailer,FS-1,{due},HRN-PND-01,10\n"
        f"Fine Shop,retailer,FS-2,{due},HRN-PND-01,99999999999999999999\n"
        f"Fine Shop,retailer,FS-3,{due},HRN-PND-01,1000000000000\n",
        encoding="utf-8",
    )

    result = karakana("orders", "import", str(orders), "--confirm")

    assert failed_politely(result)
    assert "2 problems" in result.output
    for line, quantity in ((3, "99999999999999999999"), (4, "1000000000000")):
        assert (
            f"line {line}, quantity: {quantity} is more than 100,000, the most allowed: split a "
            "larger order into several"
        ) in result.output
    assert "something went wrong" not in result.output.lower()
    assert (count(seeded, Order), count(seeded, Job)) == (orders_before, jobs_before)


# --- people ---------------------------------------------------------------------------------------


def test_people_add_with_a_bad_mpesa_number_is_refused_politely(
    karakana: Karakana, seeded: str
) -> None:
    people_before = count(seeded, Person)

    result = karakana(
        "people", "add", "--role", "artisan", "--name", "Zawadi Atieno",
        "--whatsapp", "+254712000111", "--area", "Kibera", "--workshop", "Zawadi's workshop",
        "--mpesa", "0812 34", "--skill", "beadwork=20",
    )  # fmt: skip

    assert failed_politely(result)
    assert "--mpesa: '0812 34' is not a valid Kenyan number" in result.output
    assert count(seeded, Person) == people_before


def test_people_add_registers_an_artisan_as_pending(karakana: Karakana, seeded: str) -> None:
    result = karakana(
        "people", "add", "--role", "artisan", "--name", "Zawadi Atieno",
        "--whatsapp", "0712 000 111", "--area", "Kibera", "--workshop", "Zawadi's workshop",
        "--mpesa", "0712000111", "--skill", "beadwork=20", "--skill", "wire_work=40",
        "--language", "sw",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Added artisan Zawadi Atieno" in result.output
    assert "pending" in result.output
    assert "pending: 7" in karakana("status").output
    assert (
        count(
            seeded,
            ChannelIdentity,
            ChannelIdentity.channel == Channel.WHATSAPP,
            ChannelIdentity.address == "+254712000111",
        )
        == 1
    )


def test_people_add_keeps_a_telegram_agents_phone_for_the_console_login(
    karakana: Karakana, upgraded: str
) -> None:
    result = karakana(
        "people", "add", "--role", "field_agent", "--name", "Baraka", "--telegram", "777001",
        "--phone", "0711 222 333", "--area", "Mathare",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    number = (ChannelIdentity.channel == Channel.SMS, ChannelIdentity.address == "+254711222333")
    assert count(upgraded, ChannelIdentity, *number) == 1
    # Their messages stay on Telegram, where they chat: the number only identifies them.
    assert count(upgraded, Person, Person.preferred_channel == Channel.TELEGRAM) == 1
    refused = karakana(
        "people", "add", "--role", "admin", "--name", "Grace", "--whatsapp", "0712345678",
        "--phone", "0712345678",
    )  # fmt: skip
    assert failed_politely(refused)
    assert "--phone is for people on --telegram" in refused.output


def test_people_add_a_field_agent_on_telegram_who_covers_an_area(
    karakana: Karakana, upgraded: str
) -> None:
    result = karakana(
        "people", "add", "--role", "field_agent", "--name", "Brian Kiprono",
        "--telegram", "123456789", "--area", "Dandora",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert count(upgraded, Person, Person.role == Role.FIELD_AGENT) == 1
    status = karakana("status").output
    assert "Field agents: Brian Kiprono" in status
    assert "Dandora" in status


def test_people_add_a_field_agent_who_works_at_the_central_workshop(
    karakana: Karakana, upgraded: str
) -> None:
    result = karakana(
        "people", "add", "--role", "field_agent", "--name", "Halima Noor",
        "--whatsapp", "0712345679", "--at-workshop",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert count(upgraded, Person, Person.at_workshop) == 1
    refused = karakana(
        "people", "add", "--role", "admin", "--name", "Grace",
        "--whatsapp", "0712345670", "--at-workshop",
    )  # fmt: skip
    assert failed_politely(refused)
    assert "--at-workshop is for field agents only" in refused.output
    assert count(upgraded, Person) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "admin", "--name", "Grace"], "give exactly one chat identity"),
        (
            ["--role", "admin", "--name", "Grace", "--whatsapp", "0712345678", "--telegram", "1"],
            "give exactly one chat identity",
        ),
        (["--role", "admin", "--name", "Grace", "--telegram", "@grace"], "not a Telegram user id"),
        (
            ["--role", "artisan", "--name", "Juma", "--telegram", "42"],
            "an artisan also needs --workshop, --mpesa, --area, --skill",
        ),
        (
            ["--role", "admin", "--name", "Grace", "--telegram", "42", "--mpesa", "0712345678"],
            "for artisans only",
        ),
        (
            [
                "--role",
                "artisan",
                "--name",
                "Juma",
                "--telegram",
                "42",
                "--area",
                "Kibera",
                "--workshop",
                "W",
                "--mpesa",
                "0712345678",
                "--skill",
                "beadwork",
            ],
            "should be skill=weekly capacity",
        ),
        (
            [
                "--role",
                "artisan",
                "--name",
                "Juma",
                "--telegram",
                "42",
                "--area",
                "Kibera",
                "--workshop",
                "W",
                "--mpesa",
                "0712345678",
                "--skill",
                f"beadwork={'9' * 20}",
            ],
            "the weekly capacity 99999999999999999999 is more than 10,000, the most allowed",
        ),
        (
            [
                "--role",
                "artisan",
                "--name",
                "Juma",
                "--telegram",
                "42",
                "--area",
                "Kibera",
                "--workshop",
                "W",
                "--mpesa",
                "0712345678",
                "--skill",
                "beadwork=-5",
            ],
            "the weekly capacity -5 is negative",
        ),
        (["--role", "admin", "--name", "G", "--whatsapp", "12"], "--whatsapp: '12' is not"),
    ],
)
def test_people_add_explains_what_is_missing_or_wrong(
    karakana: Karakana, upgraded: str, args: list[str], message: str
) -> None:
    result = karakana("people", "add", *args)

    assert failed_politely(result)
    assert message.lower() in result.output.lower()
    assert count(upgraded, Person) == 0


def test_a_whatsapp_number_that_already_belongs_to_someone_is_refused(
    karakana: Karakana, upgraded: str
) -> None:
    first = karakana("people", "add", "--role", "admin", "--name", "A", "--whatsapp", "0712345678")
    second = karakana(
        "people", "add", "--role", "admin", "--name", "B", "--whatsapp", "+254 712 345 678"
    )

    assert first.exit_code == 0, first.output
    assert failed_politely(second)
    assert "already registered" in second.output
    assert count(upgraded, Person) == 1


# --- chat -----------------------------------------------------------------------------------------


def test_chat_lets_a_new_sender_start_registering_in_the_terminal(
    seeded: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        ["chat", "--as", "0799000111"],
        input="hello\n2\n/quit\n",
        env={"DATABASE_URL": seeded, "MEDIA_DIR": str(tmp_path / "media"), "NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.output
    assert "Welcome to Karakana" in result.output
    assert "Karibu Karakana" in result.output
    # Choosing Kiswahili (option 2) moves the registration on, in Kiswahili.
    after_choice = result.output.split("you> 2", 1)[1]
    assert "jina" in after_choice.lower()


def test_chat_as_an_admin_opens_the_admin_menu(seeded: str, tmp_path: Path) -> None:
    admin_address = asyncio.run(_address_of_role(seeded, Role.ADMIN))
    result = CliRunner().invoke(
        app,
        ["chat", "--as", admin_address],
        input="menu\n/quit\n",
        env={"DATABASE_URL": seeded, "MEDIA_DIR": str(tmp_path / "media"), "NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.output
    menu = result.output.split("you> menu", 1)[1]
    for item in ("Artisans to verify", "Orders", "Payouts", "Statistics"):
        assert item in menu


async def _address_of_role(url: str, role: Role) -> str:
    store = Store.from_url(url)
    try:
        async with store.read() as session:
            statement = (
                select(ChannelIdentity.address)
                .join(Person, Person.id == ChannelIdentity.person_id)  # type: ignore[arg-type]
                .where(Person.role == role)
            )
            return (await session.exec(statement)).first() or ""
    finally:
        await store.close()


# --- simulate -----------------------------------------------------------------------------------

TINY_WORLD = """
[world]
artisans = 16
weeks = 2
drain_weeks = 1
seeds = [1]
loads = [0.5]
rounds_per_week = 1
policies = ["random", "ours"]
"""


def test_simulate_compares_policies_in_a_table_and_writes_the_plot(
    karakana: Karakana, tmp_path: Path
) -> None:
    world = tmp_path / "tiny.toml"
    world.write_text(TINY_WORLD)
    plot = tmp_path / "weekly.png"

    result = karakana(
        "simulate", "--world", str(world), "--seeds", "1,2", "--weeks", "2", "--plot", str(plot)
    )

    assert result.exit_code == 0, result.output
    assert "2 seed(s) x 2 weeks" in result.output
    rows = [line for line in result.output.splitlines() if "50%" in line]
    assert [row.split()[3] for row in rows] == ["random", "ours"]
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_simulate_writes_every_runs_metrics_as_json(karakana: Karakana, tmp_path: Path) -> None:
    world = tmp_path / "tiny.toml"
    world.write_text(TINY_WORLD)
    written = tmp_path / "runs.json"

    result = karakana("simulate", "--world", str(world), "--json", str(written))

    assert result.exit_code == 0, result.output
    runs = json.loads(written.read_text())["runs"]
    assert [(r["load"], r["seed"], r["policy"]) for r in runs] == [
        (0.5, 1, "random"),
        (0.5, 1, "ours"),
    ]
    names = set(runs[1]["metrics"])
    assert {
        "good_on_time_per_ordered",
        "income_gini",
        "no_income_4w",
        "newcomer_accepted_lot_2w",
        "ece_accept",
        "ece_on_time",
        "ece_qc",
    } <= names


def test_simulate_explains_a_bad_world_file_and_bad_seeds(
    karakana: Karakana, tmp_path: Path
) -> None:
    world = tmp_path / "odd.toml"
    world.write_text("[world]\nartisan_count = 3\n")
    unknown = karakana("simulate", "--world", str(world))
    seeds = karakana("simulate", "--seeds", "one,two")
    assert unknown.exit_code == 1
    assert "unknown settings: artisan_count" in unknown.output
    assert seeds.exit_code == 1
    assert "--seeds takes numbers separated by commas" in seeds.output


# --- payouts ------------------------------------------------------------------------------------


def _payout_in_doubt(database_url: str, *, since: datetime) -> None:
    """One approved payout marked as sent at ``since`` and never answered by M-Pesa."""
    from domain import events, payouts
    from tests.integration.factory_fixtures import hire_staff, owed_earnings

    async def go() -> None:
        store = Store.from_url(database_url)
        try:
            async with store.transaction() as session:
                staff = await hire_staff(session, now=since)
                await owed_earnings(
                    session, verified_by=staff.agent, now=since, owed={"Wanjiru": 75_000}
                )
                batch = await payouts.create_payout_batch(session, minimum_cents=100, now=since)
                assert batch is not None
                assert batch.id is not None
                await payouts.approve_batch(
                    session, batch_id=batch.id, admin_id=staff.admin, now=since
                )
                [payout] = await payouts.payouts_to_send(session)
                await payouts.mark_sending(
                    session, originator_conversation_id=payout.originator_conversation_id, now=since
                )
                events.drain(session)
        finally:
            await store.close()

    asyncio.run(go())


def test_payouts_reconcile_on_a_clean_ledger_says_so_and_exits_0(
    karakana: Karakana, upgraded: str
) -> None:
    result = karakana("payouts", "reconcile")
    assert result.exit_code == 0, result.output
    assert "agree on every payout" in result.output


def test_payouts_reconcile_lists_a_payout_left_in_doubt_and_exits_1(
    karakana: Karakana, upgraded: str
) -> None:
    _payout_in_doubt(upgraded, since=datetime.now(UTC) - timedelta(hours=3))

    result = karakana("payouts", "reconcile")

    assert result.exit_code == 1, result.output
    assert "1 difference(s) between the ledger and M-Pesa" in result.output
    assert "Wanjiru" in result.output
    assert "750.00" in result.output
    assert "no result from M-Pesa" in result.output


def test_payouts_run_without_mpesa_says_what_to_configure(
    karakana: Karakana, upgraded: str
) -> None:
    result = karakana("payouts", "run")
    assert result.exit_code == 1
    assert "M-Pesa is not configured" in result.output
    assert "MPESA_CONSUMER_KEY" in result.output


def test_names_are_exported_filled_in_and_imported(
    karakana: Karakana, seeded: str, tmp_path: Path
) -> None:
    exported = karakana("names", "export")
    assert exported.exit_code == 0
    assert exported.stdout == (EXAMPLES / "names.csv").read_text(encoding="utf-8")
    names = tmp_path / "names.csv"
    names.write_text(
        "kind,code,name_en,name_sw\narea,Kitengela,,\nskill,wire_work,wire work,ususi wa waya\n",
        encoding="utf-8",
    )
    imported = karakana("names", "import", str(names))
    assert imported.exit_code == 0
    assert "1 new known area" in imported.output
    assert "skill,wire_work,wire work,ususi wa waya" in karakana("names", "export").stdout
    names.write_text("kind,code,name_en,name_sw\ncolour,red,red,nyekundu\n", encoding="utf-8")
    refused = karakana("names", "import", str(names))
    assert failed_politely(refused)
    assert "line 2, kind: 'colour' is not one of skill, component, material, area, product" in (
        refused.output
    )
