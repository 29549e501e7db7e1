"""Artisans report stock, ask for material and read their own score, through the engine."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import select

from conversations.i18n import t
from domain.model import Delivery, MaterialRequest, MaterialStock
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.artisan_world import World, build_world


@pytest.fixture
async def world(store: Store, clock: FakeClock) -> World:
    return await build_world(store, clock)


async def test_reporting_stock_with_a_typed_material_and_unit(world: World) -> None:
    await world.wanjiru.send("hi")
    [what] = await world.wanjiru.send("Materials")
    assert [c.payload for c in what.choices] == ["mat:stock", "mat:request"]
    await world.wanjiru.send("1")
    [how_much] = await world.wanjiru.send("Brass  Wire")
    assert how_much.text == t("en", "artisan.materials_stock_how_much_unit", material="brass wire")
    assert await world.wanjiru.say("lots") == t("en", "artisan.materials_amount_invalid")
    assert await world.wanjiru.say("2.5 kg") == t(
        "en", "artisan.materials_stock_saved", material="brass wire", quantity="2.5", unit="kg"
    )
    async with world.store.transaction() as session:
        stock = await session.get(MaterialStock, (world.factory.wanjiru, "brass wire"))
    assert stock is not None
    assert (stock.quantity, stock.unit) == (Decimal("2.5"), "kg")


async def test_requesting_material_for_a_job_offers_that_jobs_materials(world: World) -> None:
    allocation = await world.allocation("HORN-PENDANT", world.factory.wanjiru, 10)
    await world.wanjiru.send("hi")
    await world.wanjiru.send("6")
    [which_job] = await world.wanjiru.send("2")  # ask for material
    assert [c.payload for c in which_job.choices] == [f"job:{allocation}", "job:none"]
    [which] = await world.wanjiru.send("1")
    assert [c.label for c in which.choices] == ["cattle horn"]
    [how_much] = await world.wanjiru.send("1")
    assert how_much.text == t(
        "en", "artisan.materials_request_how_much", material="cattle horn", unit="kg"
    )
    assert await world.wanjiru.say("0") == t("en", "artisan.materials_amount_invalid")
    assert await world.wanjiru.say("0.5") == t(
        "en", "artisan.materials_requested", material="cattle horn", quantity="0.5", unit="kg"
    )
    async with world.store.transaction() as session:
        [request] = (await session.exec(select(MaterialRequest))).all()
    assert (request.allocation_id, request.material, request.quantity, request.unit) == (
        allocation,
        "cattle horn",
        Decimal("0.5"),
        "kg",
    )


async def test_kiswahili_stock_report(world: World) -> None:
    await world.otieno.send("habari")
    await world.otieno.send("Malighafi")
    await world.otieno.send("1")
    await world.otieno.send("shaba")
    assert await world.otieno.say("3 kg") == t(
        "sw", "artisan.materials_stock_saved", material="shaba", quantity="3", unit="kg"
    )


async def test_a_newcomers_score_is_explained_kindly(world: World) -> None:
    await world.wanjiru.send("hi")
    [score] = await world.wanjiru.send("My score")
    assert t("en", "artisan.score_on_time_none", rate=80) in score.text
    assert t("en", "artisan.score_quality_none", rate=90) in score.text
    assert score.text.endswith(t("en", "artisan.score_newcomer"))


async def test_the_score_shows_the_real_counts_behind_each_rate(world: World) -> None:
    allocation = await world.allocation("HORN-PENDANT", world.factory.otieno, 10)
    submission = await world.submitted(allocation, world.factory.otieno, 10)
    await world.review(submission, 10)
    await world.otieno.send("habari")
    for answer in ("4", "1", "Vyote 10", "1"):
        await world.otieno.send(answer)
    async with world.store.transaction() as session:
        [delivery] = (await session.exec(select(Delivery))).all()
    assert delivery.id is not None
    await world.receive(delivery.id, 10)

    await world.otieno.send("menyu")
    [score] = await world.otieno.send("Alama zangu")
    # One job on time out of one: (1 + 0.8 x 4) / (1 + 4) = 84%.
    assert t("sw", "artisan.score_on_time", on_time=1, due=1, rate=84) in score.text
    # Ten pieces passed: (10 + 0.9 x 20) / (10 + 20) = 93%.
    assert t("sw", "artisan.score_quality", passed=10, checked=10, rate=93) in score.text
    assert t("sw", "artisan.score_volume", count=10) in score.text
    assert score.text.endswith(t("sw", "artisan.score_explained"))
