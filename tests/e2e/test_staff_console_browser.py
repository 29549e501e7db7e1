"""The staff console in a real browser: Debian's headless Chromium driven by Selenium, against the
real process (``bot.main.build_bot`` under uvicorn, as ``karakana run`` serves it) on the demo
factory, with fake Twilio and Telegram on loopback.

One browser session walks the whole story: the admin asks for a code, the code arrives on their
WhatsApp (read from the fake Twilio), they log in, see every page with the demo's data, confirm a
draft order, approve a payout batch through its confirmation page, and download an export that is
then parsed. Screenshots go to ``KARAKANA_CONSOLE_SCREENSHOTS`` (a folder) or the test's tmp dir.
Without /usr/bin/chromium and /usr/bin/chromedriver the test skips, except in CI.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.demo import seed_demo
from conversations.i18n import t
from domain import ledger
from domain.model import (
    ArtisanProfile,
    ArtisanStatus,
    ChannelIdentity,
    Order,
    OrderStatus,
    PayoutBatch,
    PayoutBatchStatus,
    Person,
    Role,
)
from domain.payouts import create_payout_batch
from domain.store import Store
from tests.e2e.harness import eventually, running_karakana
from tests.e2e.test_webchat_browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, _chromium_or_skip
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:  # a dev dependency; CI installs it, so there it must be present
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("selenium is not installed", allow_module_level=True)

WAIT_SECONDS = 15
SECRET = "console-secret-key-for-the-browser-test-0123456789"
CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("KARAKANA_CONSOLE_SCREENSHOTS", tmp_path / "shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(
    tmp_path: Path, downloads: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WebDriver]:
    _chromium_or_skip()
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    service = Service(
        executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")
    )
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _ask_for_a_code(driver: WebDriver, base: str, number: str) -> str:
    driver.get(f"{base}/console/")
    wait = WebDriverWait(driver, WAIT_SECONDS)
    wait.until(lambda d: d.find_elements(By.ID, "number"))
    assert "/console/login" in driver.current_url
    driver.find_element(By.ID, "number").send_keys(number)
    driver.find_element(By.ID, "send-code").click()
    wait.until(lambda d: d.find_elements(By.ID, "code-sent"))
    return driver.find_element(By.ID, "code-sent").text


def _walk_the_console(
    driver: WebDriver, base: str, code: str, draft_id: int, batch_id: int, shots: Path
) -> dict[str, str]:
    wait = WebDriverWait(driver, WAIT_SECONDS)
    seen: dict[str, str] = {}
    driver.find_element(By.ID, "code").send_keys(code)
    driver.find_element(By.ID, "log-in").click()
    wait.until(lambda d: d.current_url.endswith("/console/factory"))
    seen["factory"] = driver.find_element(By.TAG_NAME, "main").text
    assert driver.find_elements(By.CSS_SELECTOR, "#qc-chart svg")
    driver.save_screenshot(str(shots / "factory-phone.png"))
    driver.set_window_size(1280, 900)
    driver.save_screenshot(str(shots / "factory-laptop.png"))

    for name in ("orders", "jobs", "artisans", "payouts", "impact", "exports"):
        driver.get(f"{base}/console/{name}")
        wait.until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
        seen[name] = driver.find_element(By.TAG_NAME, "main").text

    # The impact figures and their chart (a PNG drawn on the server), on a laptop's screen.
    driver.get(f"{base}/console/impact")
    wait.until(
        lambda d: d.execute_script(
            "const i = document.getElementById('impact-chart'); return i && i.complete"
            " && i.naturalWidth > 0"
        )
    )
    seen["impact"] = driver.find_element(By.TAG_NAME, "main").text
    driver.save_screenshot(str(shots / "impact.png"))

    # One artisan's page, from the list.
    driver.get(f"{base}/console/artisans")
    driver.find_element(By.CSS_SELECTOR, "#artisans td a").click()
    wait.until(lambda d: d.find_elements(By.ID, "reputation"))
    seen["artisan"] = driver.find_element(By.TAG_NAME, "main").text
    driver.save_screenshot(str(shots / "artisan.png"))

    # Confirm a draft order.
    driver.get(f"{base}/console/orders/{draft_id}")
    seen["order"] = driver.find_element(By.TAG_NAME, "main").text
    driver.find_element(By.ID, "confirm-order").click()
    wait.until(lambda d: d.find_elements(By.ID, "done"))
    seen["confirmed"] = driver.find_element(By.ID, "order-status").text

    # Approve the batch through its confirmation page.
    driver.get(f"{base}/console/payouts")
    driver.find_element(By.LINK_TEXT, str(batch_id)).click()
    wait.until(lambda d: d.find_elements(By.ID, "approve"))
    driver.find_element(By.ID, "approve").click()
    wait.until(lambda d: d.find_elements(By.ID, "approve-yes"))
    seen["question"] = driver.find_element(By.ID, "question").text
    driver.save_screenshot(str(shots / "approve.png"))
    driver.find_element(By.ID, "approve-yes").click()
    wait.until(lambda d: d.find_elements(By.ID, "done"))
    seen["approved"] = driver.find_element(By.ID, "batch-status").text

    # Download an export.
    driver.get(f"{base}/console/exports")
    driver.find_element(By.ID, "export-orders").click()
    return seen


async def test_an_admin_logs_in_with_a_code_from_whatsapp_and_works_the_console_in_chromium(
    browser: WebDriver,
    store: Store,
    tmp_path: Path,
    twilio: FakeTwilio,
    telegram: FakeTelegram,
    downloads: Path,
    shots: Path,
) -> None:
    now = datetime.now(UTC)
    async with store.transaction() as session:
        await seed_demo(session, now=now)
        admin = (await session.exec(select(Person).where(Person.role == Role.ADMIN))).first()
        assert admin is not None
        number = (
            await session.exec(
                select(ChannelIdentity.address).where(ChannelIdentity.person_id == admin.id)
            )
        ).one()
        paid = (
            await session.exec(
                select(ArtisanProfile.person_id)
                .where(ArtisanProfile.status == ArtisanStatus.ACTIVE)
                .order_by(col(ArtisanProfile.person_id))
                .limit(2)
            )
        ).all()
        for artisan, cents in zip(paid, (240_000, 90_000), strict=True):
            # As received work earns it (a receipt records the same earning).
            await ledger.record_earning(
                session,
                artisan_id=artisan,
                amount_cents=cents,
                reference=f"demo:{artisan}",
                now=now,
            )
        batch = await create_payout_batch(session, minimum_cents=50_000, now=now)  # the schedule
        assert batch is not None
        batch_id = batch.id or 0
        draft_id = (
            await session.exec(
                select(Order.id).where(Order.status == OrderStatus.DRAFT).order_by(col(Order.id))
            )
        ).first()
        assert draft_id is not None
        orders = len((await session.exec(select(Order.id))).all())

    async with running_karakana(
        store, tmp_path, twilio, telegram, extra_settings={"console_secret_key": SECRET}
    ) as running:
        await running.whatsapp(number, "menu")  # the admin chats with the bot as usual
        said = await asyncio.to_thread(_ask_for_a_code, browser, running.url, number)
        assert "code is on its way" in said

        def code_on_whatsapp() -> str | None:
            texts = [text for text in running.texts_to(number) if "console" in text]
            found = CODE.search(texts[-1]) if texts else None
            return None if found is None else found.group(1)

        code = await eventually(code_on_whatsapp)
        seen = await asyncio.to_thread(
            _walk_the_console, browser, running.url, code, draft_id, batch_id, shots
        )
        exported = await eventually(lambda: next(iter(downloads.glob("*.csv")), None))

    assert admin.name in browser.page_source or seen["factory"]
    assert "Orders by status" in seen["factory"]
    assert t("en", "admin.status_shipped") in seen["factory"]
    assert "Maasai" in seen["orders"] or "PO-" in seen["orders"]
    assert "Job" in seen["jobs"] or "Component" in seen["jobs"]
    assert "Reputation" in seen["artisan"]
    assert "Rests on" in seen["impact"]
    # A small factory: groups under 5 people are suppressed and said to be, never "None".
    assert "<5" in seen["impact"]
    assert "None" not in seen["impact"]
    assert f"{batch_id}" in seen["payouts"]
    assert seen["confirmed"] == t("en", "admin.status_confirmed")
    assert seen["question"] == "Pay KES 3,300 to 2 artisans through M-Pesa?"
    assert seen["approved"] == "approved"
    rows = list(csv.reader(exported.read_text(encoding="utf-8").splitlines()))
    assert rows[0][:3] == ["order_id", "reference", "customer"]
    assert len(rows) == orders + 1
    async with store.read() as session:
        approved = await session.get(PayoutBatch, batch_id)
        assert approved is not None
        assert approved.status is PayoutBatchStatus.APPROVED
        assert approved.approved_by == admin.id
    assert (shots / "factory-phone.png").read_bytes().startswith(b"\x89PNG")
