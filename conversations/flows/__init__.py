"""Every conversation flow, by name. Adding a flow: write its module and diagram, list it here."""

from __future__ import annotations

from collections.abc import Mapping

from conversations.flow import Flow
from conversations.flows import menu, registration

FLOWS: Mapping[str, Flow] = {flow.name: flow for flow in (registration.FLOW, menu.FLOW)}
