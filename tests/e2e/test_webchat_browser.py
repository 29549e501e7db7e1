"""The local web chat in a real browser: Debian's headless Chromium driven by Selenium.

The app is served by uvicorn on a free loopback port from the demo factory in SQLite. Only the
browser and driver the machine's packages installed are used (``/usr/bin/chromium`` and
``/usr/bin/chromedriver``); Selenium Manager is never asked to find or download one. Without them
the test skips with a message, except in CI (``CI=true``), where it must run and so fails.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from sqlmodel import col, select
from starlette.applications import Starlette

from bot.channels.media import LocalMediaStore, MediaDocuments
from bot.channels.webchat import webchat_routes
from bot.demo import seed_demo
from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import Choice, Incoming, Reply
from conversations.outbox import notify_person
from conversations.registry import REGISTRY
from domain.explosion import factory_today
from domain.model import (
    ArtisanProfile,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    InboundMessage,
    Order,
    OrderStatus,
    Person,
    Product,
    Role,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.server import serving
from tests.integration.test_webchat_api import kept_files, png

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:  # a dev dependency; CI installs it, so there it must be present
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(
        "selenium is not installed: `pip install -e '.[dev]'` to run the browser test",
        allow_module_level=True,
    )

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# As this machine runs Chromium: no sandbox (we are root in a container), and nothing that
# phones home, which the closed network would refuse over and over.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=412,860",  # a phone's screen
)
WAIT_SECONDS = 15


def _chromium_or_skip() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if not missing:
        return
    message = (
        f"headless Chromium is not installed ({' and '.join(missing)} missing); "
        "install Debian's packages with `apt-get install chromium chromium-driver` "
        "(.ci/run does this in CI)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}. CI must run the browser test.")
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    _chromium_or_skip()
    monkeypatch.setenv("SE_OFFLINE", "true")  # belt and braces: Selenium Manager stays offline
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    # An explicit driver path is what keeps Selenium from looking for (or fetching) a driver.
    service = Service(
        executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")
    )
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _replies(driver: WebDriver) -> list[str]:
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#log li.them")]


def _wait_for_reply(driver: WebDriver, starting: str, after: int) -> str:
    """The first reply after the ``after`` already shown that starts with ``starting``."""

    def found(d: WebDriver) -> str | bool:
        fresh = _replies(d)[after:]
        return next((text for text in fresh if text.startswith(starting)), False)

    return str(WebDriverWait(driver, WAIT_SECONDS).until(found))


def _chat_in_the_browser(
    driver: WebDriver,
    base: str,
    admin: Person,
    admin_address: str,
    files: tuple[Path, Path],
    shot: Path,
) -> None:
    photo, orders = files
    driver.get(f"{base}/")
    wait = WebDriverWait(driver, WAIT_SECONDS)
    who = driver.find_element(By.ID, "who")
    wait.until(lambda _: who.is_enabled())
    new_person = Select(who).first_selected_option
    assert new_person.text == "A new person (try registering)"

    # Pick the admin, say "menu" from the keyboard, and see the menu's buttons.
    Select(who).select_by_value(admin_address)
    wait.until(lambda d: d.find_element(By.ID, "chatting-as").text.startswith("Chatting as"))
    assert admin.name in driver.find_element(By.ID, "chatting-as").text
    message = driver.find_element(By.ID, "text")
    message.send_keys("menu", Keys.ENTER)
    title = t("en", "menu.title", name=admin.name)
    assert _wait_for_reply(driver, title, 0).startswith(title)
    pending_label = t("en", "menu.item.pending")

    def pending_button(d: WebDriver) -> WebElement | Literal[False]:
        buttons = d.find_elements(By.CSS_SELECTOR, "#log .choices button")
        return next((b for b in buttons if b.text.endswith(f". {pending_label}")), False)

    button = wait.until(pending_button)
    assert button.get_attribute("data-payload") == "menu:pending"
    numbers = [
        b.text.split(".")[0] for b in driver.find_elements(By.CSS_SELECTOR, ".choices button")
    ]
    assert numbers == [str(n) for n in range(1, len(numbers) + 1)]

    # Press a choice: its payload goes to the engine, which lists the artisans awaiting a visit.
    shown = len(_replies(driver))
    button.click()
    pending = _wait_for_reply(driver, t("en", "agent.pending_title"), shown)
    assert "/verify" in pending
    mine = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#log li.me")]
    assert mine == ["menu", pending_label]

    # Attach a photo and send it with no caption: it shows in the chat and the engine answers it.
    shown = len(_replies(driver))
    driver.find_element(By.ID, "file").send_keys(str(photo))
    wait.until(lambda d: d.find_element(By.ID, "attachment").is_displayed())
    assert photo.name in driver.find_element(By.ID, "attachment-name").text
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log li.me img")) == 1)
    wait.until(lambda d: len(_replies(d)) > shown)
    assert not driver.find_element(By.ID, "attachment").is_displayed()

    # Attach the orders CSV, caption it /import_orders, send: the import summary comes back.
    shown = len(_replies(driver))
    driver.find_element(By.ID, "file").send_keys(str(orders))
    wait.until(lambda d: d.find_element(By.ID, "attachment").is_displayed())
    message.send_keys("/import_orders", Keys.ENTER)
    summary = _wait_for_reply(driver, t("en", "admin.imported", count=1, pieces=12), shown)
    assert "PO-BROWSER-1" in summary
    sent = driver.find_elements(By.CSS_SELECTOR, "#log li.me")[-1]
    assert sent.find_element(By.CSS_SELECTOR, ".file").text.startswith(orders.name)
    assert sent.find_element(By.CSS_SELECTOR, ".caption").text == "/import_orders"
    assert driver.find_element(By.ID, "problem").get_attribute("hidden") is not None
    driver.save_screenshot(str(shot))


async def test_someone_chats_presses_a_choice_sends_a_photo_and_imports_a_csv_in_chromium(
    browser: WebDriver, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    async with store.transaction() as session:
        await seed_demo(session, now=clock.now())
        admin = (await session.exec(select(Person).where(Person.role == Role.ADMIN))).first()
        assert admin is not None
        whatsapp = (
            await session.exec(select(ChannelIdentity).where(ChannelIdentity.person_id == admin.id))
        ).one()
        sku = (await session.exec(select(Product.sku).order_by(col(Product.sku)))).first()
    photo = tmp_path / "necklace.png"
    photo_bytes = png(width=64, height=48)
    photo.write_bytes(photo_bytes)
    due = factory_today(clock.now()) + timedelta(days=30)
    orders = tmp_path / "orders.csv"
    orders_bytes = (
        "customer,customer_kind,reference,due_date,sku,quantity\n"
        f"Maasai Market Crafts,retailer,PO-BROWSER-1,{due.isoformat()},{sku},12\n"
    ).encode()
    orders.write_bytes(orders_bytes)
    media_dir = tmp_path / "media"
    media = LocalMediaStore(media_dir)
    shot = Path(os.environ.get("KARAKANA_WEBCHAT_SCREENSHOT", tmp_path / "webchat.png"))
    engine = Engine(store, registry=REGISTRY, documents=MediaDocuments(media))
    app = Starlette(routes=webchat_routes(store, engine, media, clock=clock.now))

    async with serving(app) as base:
        await asyncio.to_thread(
            _chat_in_the_browser, browser, base, admin, whatsapp.address, (photo, orders), shot
        )

    kept = {content: ref for ref, content in kept_files(media_dir).items()}
    assert set(kept) == {photo_bytes, orders_bytes}
    async with store.transaction() as session:
        inbound = [
            Incoming.from_json(row.payload)
            for row in await session.exec(
                select(InboundMessage)
                .where(InboundMessage.channel == Channel.WEB)
                .order_by(col(InboundMessage.id))
            )
        ]
    assert [m.button_payload for m in inbound] == [None, "menu:pending", None, None]
    assert [(m.text, m.media[0].ref, m.media[0].content_type) for m in inbound if m.media] == [
        ("", kept[photo_bytes], "image/png"),
        ("/import_orders", kept[orders_bytes], "text/csv"),
    ]
    async with store.read() as session:
        imported = (
            await session.exec(select(Order.status).where(Order.reference == "PO-BROWSER-1"))
        ).all()
    assert list(imported) == [OrderStatus.DRAFT]
    assert {m.address for m in inbound} == {whatsapp.address}
    assert (await asyncio.to_thread(shot.read_bytes)).startswith(b"\x89PNG")


# --- someone whose messages wait for WhatsApp ---------------------------------------------------

OFFER = Reply(
    "A new offer: *12 horn pendants* by Friday. Reply 1 to take it.",
    choices=(Choice("menu:offers", "See offers"),),
)


def _log(driver: WebDriver) -> list[tuple[str, str]]:
    """Each bubble on the page: (its classes, its text)."""
    return [
        (str(item.get_attribute("class")), item.text)
        for item in driver.find_elements(By.CSS_SELECTOR, "#log li")
    ]


def _last_choices(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#log li.them")[-1].find_elements(
        By.CSS_SELECTOR, ".choices button"
    )


def _chat_as_a_whatsapp_artisan(
    driver: WebDriver, base: str, artisan: Person, address: str, admin_address: str
) -> None:
    driver.get(f"{base}/")
    wait = WebDriverWait(driver, WAIT_SECONDS)
    who = driver.find_element(By.ID, "who")
    wait.until(lambda _: who.is_enabled())

    # Choosing them shows what they said on WhatsApp, and what waits for WhatsApp, marked held.
    Select(who).select_by_value(address)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log li.held")) == 2)
    before = _log(driver)
    assert before[0] == ("me", "sent on WhatsApp\nhello")
    assert [kind for kind, _ in before] == ["me", "them held", "them held"]
    notes = [n.text for n in driver.find_elements(By.CSS_SELECTOR, "#log li.held .via")]
    assert notes == ["held: would go by WhatsApp"] * 2
    offer = driver.find_elements(By.CSS_SELECTOR, "#log li.held")[-1]
    assert [b.text for b in offer.find_elements(By.CSS_SELECTOR, "strong")] == ["12 horn pendants"]
    assert "*" not in offer.text
    assert offer.find_element(By.CSS_SELECTOR, ".choices button").text == "1. See offers"

    # The menu's choices are numbered; typing "2" picks the second, as pressing it does.
    message = driver.find_element(By.ID, "text")
    message.send_keys("menu", Keys.ENTER)
    lang = str(artisan.language)
    title = t(lang, "menu.title", name=artisan.name)
    _wait_for_reply(driver, title, 2)
    menu = _last_choices(driver)
    labels = [b.text for b in menu]
    assert labels[:2] == [f"1. {t(lang, 'menu.item.offers')}", f"2. {t(lang, 'menu.item.jobs')}"]
    assert [label.split(". ", 1)[0] for label in labels] == [
        str(n) for n in range(1, len(labels) + 1)
    ]
    shown = len(_replies(driver))
    message.send_keys("2", Keys.ENTER)
    wait.until(lambda d: len(_replies(d)) > shown)
    typed = _replies(driver)[-1]
    shown = len(_replies(driver))
    menu[1].click()
    wait.until(lambda d: len(_replies(d)) > shown)
    assert _replies(driver)[-1] == typed != ""
    during = _log(driver)

    # Away to someone else and back: the whole conversation again, their own words included.
    Select(who).select_by_value(admin_address)
    wait.until(lambda d: d.find_element(By.ID, "chatting-as").text != f"Chatting as {artisan.name}")
    Select(who).select_by_value(address)
    wait.until(lambda d: len(_log(d)) == len(during))
    after = _log(driver)
    mine = [text for kind, text in after if kind == "me"]
    assert mine == [
        "sent on WhatsApp\nhello",
        "menu",
        "2",
        t(str(artisan.language), "menu.item.jobs"),
    ]
    assert [kind for kind, _ in after] == [kind for kind, _ in during]
    assert [text for _, text in after] == [text for _, text in during]


async def test_a_whatsapp_artisans_conversation_shows_held_messages_numbered_choices_and_bold(
    browser: WebDriver, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    engine = Engine(store, registry=REGISTRY)
    async with store.transaction() as session:
        await seed_demo(session, now=clock.now())
        whatsapp = {
            identity.person_id: identity.address
            for identity in await session.exec(select(ChannelIdentity))
        }
        channels: dict[int, set[Channel]] = {}
        for identity in await session.exec(select(ChannelIdentity)):
            channels.setdefault(identity.person_id, set()).add(identity.channel)
        active = [
            profile.person_id
            for profile in await session.exec(
                select(ArtisanProfile).order_by(col(ArtisanProfile.person_id))
            )
            if profile.status is ArtisanStatus.ACTIVE
            and channels[profile.person_id] == {Channel.WHATSAPP}
        ]
        artisan = await session.get(Person, active[0])
        admin = (await session.exec(select(Person).where(Person.role == Role.ADMIN))).first()
        assert artisan is not None
        assert admin is not None
        assert artisan.id is not None
        assert admin.id is not None
    address = whatsapp[artisan.id]
    # Earlier, on WhatsApp: they said hello (answered, but nobody sends WhatsApp here), and an
    # offer was queued for them. Both wait in the outbox.
    await engine.handle(
        Incoming(
            channel=Channel.WHATSAPP,
            address=address,
            provider_message_id="SM-hello",
            text="hello",
            received_at=clock.now(),
        ),
        now=clock.now(),
    )
    async with store.transaction() as session:
        person = await session.get(Person, artisan.id)
        assert person is not None
        assert await notify_person(session, person, OFFER, now=clock.now()) is not None
    clock.advance(minutes=5)
    app = Starlette(
        routes=webchat_routes(store, engine, LocalMediaStore(tmp_path / "media"), clock=clock.now)
    )
    async with serving(app) as base:
        await asyncio.to_thread(
            _chat_as_a_whatsapp_artisan, browser, base, artisan, address, whatsapp[admin.id]
        )
