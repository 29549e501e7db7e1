"""Every artisan flow after registration, and the menu actions that start them or answer at once.

Listed here so the shared registries (``flows.FLOWS``, ``menu.ACTIONS``) each take the artisans'
flows in one line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from conversations.flow import Context, Flow, Start
from conversations.flows import delivery, materials, offers, submit_work
from conversations.flows.earnings import earnings
from conversations.flows.my_jobs import my_jobs
from conversations.flows.my_score import my_score
from conversations.messages import Reply

FLOWS: tuple[Flow, ...] = (
    offers.FLOW,
    offers.PART_FLOW,
    offers.DECLINE_FLOW,
    submit_work.FLOW,
    submit_work.SUBMIT_PHOTOS_FLOW,
    submit_work.BETTER_PHOTOS_FLOW,
    delivery.FLOW,
    materials.FLOW,
)

MENU_ACTIONS: dict[str, Callable[[Context], Awaitable[list[Reply] | Start]]] = {
    "offers": offers.menu_offers,
    "jobs": my_jobs,
    "submit": submit_work.menu_submit,
    "delivery": delivery.menu_delivery,
    "earnings": earnings,
    "materials": materials.menu_materials,
    "score": my_score,
}
