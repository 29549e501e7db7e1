"""One number per thing for everyone: a job is known by its own number to the artisan (offers,
My jobs, submitting work), the field agent (QC) and the admin (/jobs, /offers); an offer by its
number on the artisan's message, in what they type ("nakubali 44") and in the admin's /offers.
Through the engine, in English and Kiswahili."""

from __future__ import annotations

from conversations.i18n import t
from tests.integration.factory_fixtures import Floor, payloads


async def test_the_artisan_and_the_admin_see_the_same_job_and_offer_numbers(floor: Floor) -> None:
    # Other work first, so offers, allocations and jobs are numbered differently.
    await floor.allocation("BRASS-BANGLE", floor.factory.otieno, 2)
    await floor.offer("BRASS-HOOK", floor.factory.otieno, 4)
    job = floor.order.jobs["HORN-PENDANT"]
    offer = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    assert len({job, offer}) == 2

    [*_, offered] = await floor.told(floor.wanjiru)
    assert f"Offer #{offer} (job #{job}): 10 × Carved horn pendant" in offered.text
    # The buttons carry the offer; their labels are words, not numbers.
    assert payloads(offered) == [
        f"offer:{offer}:accept",
        f"offer:{offer}:part",
        f"offer:{offer}:decline",
    ]
    assert not any(any(ch.isdigit() for ch in choice.label) for choice in offered.choices)

    listed = await floor.admin.say(f"/offers {job}")
    assert listed.startswith(
        t("en", "admin.offers_title", job=job, component="Carved horn pendant")
    )
    assert f"Offer #{offer} to “Wanjiru”" in listed

    # What the artisan types is the number they were shown.
    accepted = await floor.wanjiru.say(f"accept {offer}")
    assert accepted.startswith(f"Thank you! Offer #{offer} accepted")
    await floor.wanjiru.send("menu")
    mine = await floor.wanjiru.say("My jobs")
    assert f"#{job} Carved horn pendant: 10 pieces" in mine
    assert "accepted" in await floor.admin.say(f"/offers {job}")

    # Submitting: the job is named by the same number; the agent's QC shows it too.
    [ask] = await floor.wanjiru.send("Submit finished work")
    assert f"(job #{job})" in ask.text
    await floor.submitted(await _allocation_of(floor, offer), floor.factory.wanjiru, 10)
    assert f"(job #{job}," in await floor.agent.say("/qc")
    # ...and the admin's list of jobs.
    assert f"Job #{job} " in await floor.admin.say("/jobs")


async def test_kiswahili_offer_typed_by_its_number_and_the_job_in_kazi_zangu(floor: Floor) -> None:
    await floor.allocation("BRASS-BANGLE", floor.factory.wanjiru, 2)
    job = floor.order.jobs["BRASS-HOOK"]
    offer = await floor.offer("BRASS-HOOK", floor.factory.otieno, 8)
    [*_, offered] = await floor.told(floor.otieno)
    assert f"Ofa #{offer} (kazi #{job}): 8 × " in offered.text
    assert (await floor.otieno.say(f"nakubali {offer}")).startswith(
        f"Asante! Umekubali ofa #{offer}"
    )
    await floor.otieno.send("menyu")
    assert f"#{job} " in await floor.otieno.say("Kazi zangu")
    # Njeri, visiting in Kiswahili, reads the same job number (her /visit takes the lot's).
    lot = await _allocation_of(floor, offer)
    await floor.far_agent.say("lugha sw")
    visiting = await floor.far_agent.say(f"/visit {lot}")
    assert f"Kazi #{job}, fungu #{lot}: “Otieno”" in visiting
    assert await floor.admin.say("/offers kesho") == t("en", "admin.offers_usage")
    assert await floor.admin.say("/offers 999") == t("en", "admin.job_not_found", id=999)


async def _allocation_of(floor: Floor, offer_id: int) -> int:
    from sqlmodel import select

    from domain.model import Allocation

    async with floor.store.transaction() as session:
        allocation = (
            await session.exec(select(Allocation).where(Allocation.offer_id == offer_id))
        ).one()
    assert allocation.id is not None
    return allocation.id
