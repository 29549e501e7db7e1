"""Approving payouts in chat as admins do: the float M-Pesa last reported, and the command with
its confirmation answered (the question is checked to be the confirmation, not a refusal)."""

from __future__ import annotations

from datetime import datetime

from conversations.i18n import t
from domain.payouts import begin_balance_query, current_float, record_balance
from domain.store import Store
from tests.integration.conversation_driver import Chat

PLENTY = 100_000_000  # KES 1,000,000: a float no test batch comes near


async def mpesa_said_float(store: Store, now: datetime, cents: int = PLENTY) -> None:
    """M-Pesa answered an Account Balance query: the float holds ``cents``."""
    async with store.transaction() as session:
        query_id = await begin_balance_query(session, now=now)
        await record_balance(session, query_id=query_id, available_cents=cents, now=now)


async def approve_in_chat(chat: Chat, argument: str = "", *, answer: str = "yes") -> str:
    """``/approve_payouts [argument]``, then ``answer`` to its question; the last reply's text.

    The question must be the confirmation (its yes button offered); any other reply (a refusal)
    fails here, naming it."""
    [*_, asked] = await chat.send(f"/approve_payouts {argument}".strip())
    payloads = [choice.payload for choice in asked.choices]
    assert "payapprove:yes" in payloads, f"no confirmation was asked: {asked.text!r}"
    return await chat.say(answer)


def confirmation_asked(language: str, text: str) -> bool:
    """Whether ``text`` ends with the yes/no question of a confirmation."""
    return text.rstrip().endswith(t(language, "admin.confirm_yes_no"))


async def float_known(store: Store) -> bool:
    """Whether approval may rely on a float M-Pesa told us (for e2e tests to wait on)."""
    async with store.read() as session:
        return await current_float(session) is not None
