"""Every artisan flow after registration; each module has its Mermaid diagram(s) beside it.

Adding a flow: write its module and diagram, list its ``Flow`` here, and start it from the
artisan's menu (``conversations/artisan/menu.py``) or a command (``commands.py``) with
``Start(<module>.NAME)``.
"""

from __future__ import annotations

from conversations.artisan.flows import (
    delivery,
    materials,
    offers,
    optional_answers,
    submit_work,
    talk_to_person,
)
from conversations.flow import Flow

FLOWS: tuple[Flow, ...] = (
    offers.FLOW,
    offers.PART_FLOW,
    offers.DECLINE_FLOW,
    submit_work.FLOW,
    submit_work.SUBMIT_PHOTOS_FLOW,
    submit_work.BETTER_PHOTOS_FLOW,
    delivery.FLOW,
    materials.FLOW,
    talk_to_person.FLOW,
    optional_answers.FLOW,  # issue 19: the optional impact answers, changed or withdrawn
)
