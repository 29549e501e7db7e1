"""Artisans report stock, ask for material and read their own score, through the engine."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import select

from conversations.i18n import t
from domain.model import Delivery, MaterialRequest, MaterialStock
from tests.integration.factory_fixtures import Floor


async def test_reporting_stock_with_a_typed_material_and_unit(floor: Floor) -> None:
    await floor.wanjiru.send("hi")
    [what] = await floor.wanjiru.send("Materials")
    assert [c.payload for c in what.choices] == ["mat:stock", "mat:request", "mat:mine"]
    await floor.wanjiru.send("1")
    [how_much] = await floor.wanjiru.send("Brass  Wire")
    assert how_much.text == t("en", "artisan.materials_stock_how_much_unit", material="brass wire")
    assert await floor.wanjiru.say("lots") == t("en", "artisan.materials_amount_invalid")
    assert await floor.wanjiru.say("2.5 kg") == t(
        "en", "artisan.materials_stock_saved", material="brass wire", quantity="2.5", unit="kg"
    )
    async with floor.store.transaction() as session:
        stock = await session.get(MaterialStock, (floor.factory.wanjiru, "brass wire"))
    assert stock is not None
    assert (stock.quantity, stock.unit) == (Decimal("2.5"), "kg")


async def test_requesting_material_for_a_job_offers_that_jobs_materials(floor: Floor) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send("Materials")
    [which_job] = await floor.wanjiru.send("2")  # ask for material
    assert [c.payload for c in which_job.choices] == [f"job:{allocation}", "job:none"]
    [which] = await floor.wanjiru.send("1")
    assert [c.label for c in which.choices] == ["cattle horn"]
    [how_much] = await floor.wanjiru.send("1")
    assert how_much.text == t(
        "en", "artisan.materials_request_how_much", material="cattle horn", unit="kg"
    )
    assert await floor.wanjiru.say("0") == t("en", "artisan.materials_amount_invalid")
    assert await floor.wanjiru.say("0.5") == t(
        "en", "artisan.materials_requested", material="cattle horn", quantity="0.5", unit="kg"
    )
    async with floor.store.transaction() as session:
        [request] = (await session.exec(select(MaterialRequest))).all()
    assert (request.allocation_id, request.material, request.quantity, request.unit) == (
        allocation,
        "cattle horn",
        Decimal("0.5"),
        "kg",
    )


async def test_kiswahili_stock_report(floor: Floor) -> None:
    await floor.otieno.send("habari")
    await floor.otieno.send("Malighafi")
    await floor.otieno.send("1")
    await floor.otieno.send("shaba")
    assert await floor.otieno.say("3 kg") == t(
        "sw", "artisan.materials_stock_saved", material="shaba", quantity="3", unit="kg"
    )


async def test_a_newcomers_score_is_explained_kindly(floor: Floor) -> None:
    await floor.wanjiru.send("hi")
    [score] = await floor.wanjiru.send("My score")
    assert t("en", "artisan.score_on_time_none", rate=80) in score.text
    assert t("en", "artisan.score_quality_none", rate=90) in score.text
    assert score.text.endswith(t("en", "artisan.score_newcomer"))


async def test_the_score_shows_the_real_counts_behind_each_rate(floor: Floor) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.otieno, 10)
    submission = await floor.submitted(allocation, floor.factory.otieno, 10)
    await floor.review(submission, 10)
    await floor.otieno.send("habari")
    for answer in ("4", "1", "Vyote 10", "1"):
        await floor.otieno.send(answer)
    async with floor.store.transaction() as session:
        [delivery] = (await session.exec(select(Delivery))).all()
    assert delivery.id is not None
    await floor.receive(delivery.id, 10)

    await floor.otieno.send("menyu")
    [score] = await floor.otieno.send("Alama zangu")
    # Plain ratios that add up: one job on time out of one, ten pieces of ten passed...
    assert t("sw", "artisan.score_on_time_plain", on_time=1, due=1, rate=100) in score.text
    assert t("sw", "artisan.score_quality_plain", passed=10, checked=10, rate=100) in score.text
    # ...and, said to be smoothed, what matching uses: on time (1 + 0.8 x 4) / (1 + 4) = 84%,
    # quality (10 + 0.9 x 20) / (10 + 20) = 93%.
    # The one offer accepted of one reads 100%; the smoothed answering rate, 83%, is labelled.
    assert t("sw", "artisan.score_offers_plain", accepted=1, offers=1, rate=100, answered=1) in (
        score.text
    )
    assert t("sw", "artisan.score_smoothed", on_time=84, quality=93, offers=83) in score.text
    assert t("sw", "artisan.score_volume", count=10) in score.text
    assert score.text.endswith(t("sw", "artisan.score_explained"))
