"""M-Pesa B2C result codes: what Daraja's ``ResultCode`` means, in words an admin can act on."""

from __future__ import annotations

from domain.errors import PayoutError

B2C_RESULT_REASONS: dict[int, str] = {
    0: "paid",
    1: "the M-Pesa float does not have enough money (insufficient funds): top up the B2C "
    "account, the payout will be retried",
    2: "the amount is below M-Pesa's minimum for one payment",
    3: "the amount is above M-Pesa's maximum for one payment",
    4: "the payment would go over the daily transfer limit",
    5: "the payment would take the float below its minimum balance: top up the B2C account",
    6: "M-Pesa could not identify our paying organisation (unresolved primary party)",
    7: "M-Pesa could not identify the recipient (unresolved receiver party): check the number",
    8: "the recipient's M-Pesa wallet would go over its maximum balance",
    11: "our B2C account is in a state that cannot pay (debit party invalid): call Safaricom",
    12: "the recipient's M-Pesa account cannot receive money (credit party invalid)",
    13: "M-Pesa could not find our paying account (unresolved debit account)",
    14: "M-Pesa could not find the recipient's account (unresolved credit account)",
    15: "M-Pesa saw this request before (duplicate detected): check the first one's result",
    17: "M-Pesa failed internally; the payout will be retried",
    20: "M-Pesa could not identify the initiator (unresolved initiator)",
    26: "M-Pesa was too busy (system busy); the payout will be retried",
    2001: "the initiator name or password is wrong (invalid initiator information): fix the "
    "M-Pesa settings",
    2028: "our shortcode may not make this kind of payment (not permitted by product "
    "assignment): ask Safaricom to enable B2C",
    2040: "the number is not a registered M-Pesa customer (unregistered recipient): ask the "
    "artisan for a registered M-Pesa number",
    8006: "the initiator's security credential is locked: reset it on the M-Pesa portal",
}
"""Daraja B2C ``ResultCode`` -> a reason an admin can act on."""

TEMPORARY_RESULT_CODES = frozenset({1, 5, 17, 26})
"""Failures that go away by themselves or with a top-up; the next batch simply retries."""


def result_code_number(code: int | str) -> int:
    """Daraja sends ``ResultCode`` as a number or a string of digits, depending on the API."""
    if isinstance(code, bool):
        raise PayoutError(f"{code!r} is not an M-Pesa result code")
    if isinstance(code, int):
        return code
    text = str(code).strip()
    if not text.lstrip("-").isdigit():
        raise PayoutError(f"{code!r} is not an M-Pesa result code")
    return int(text)


def result_reason(code: int | str) -> str:
    """A clear reason for a Daraja B2C result code, also for codes we do not know."""
    number = result_code_number(code)
    known = B2C_RESULT_REASONS.get(number)
    if known is not None:
        return known
    return f"M-Pesa refused the payment with result code {number}, which we do not know"
