"""Reading the M-Pesa organisation statement, as the M-Pesa org portal exports it to CSV.

The export is not a plain table. What this reader copes with:

- lines before the table (account holder, short code, account, time period, report date...):
  everything up to the header row, the first whose first cell is ``Receipt No.`` (or
  ``Receipt No``), is skipped;
- the columns by name, in any order, case and spacing ignored: ``Receipt No.``, ``Completion
  Time``, ``Initiation Time``, ``Details``, ``Transaction Status``, ``Paid In``, ``Withdrawn``,
  ``Balance`` and whatever else the portal adds (``Reason Type``, ``Other Party Info``...);
- amounts with thousands separators and quotes (``"1,200.00"``), a withdrawal written negative
  (``-1,200.00``) or positive, an empty cell for none;
- a byte-order mark, blank lines, and lines after the table (totals) that have no receipt.

Only completed withdrawals that are payments to a person are B2C payouts (``Details`` such as
``Business Payment to 254712345678 - JANE DOE``, or the same in ``Other Party Info``); charges,
top-ups and reversals are other rows and are left out. The recipient is the number (possibly
masked by the portal, ``2547******678``) and name in those details.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from domain.errors import DomainError

PAYMENT_DETAILS = re.compile(
    r"(?:business|salary|promotion)\s+payment\s+to\s+(?P<party>.+)", re.IGNORECASE
)
NUMBER = re.compile(r"(?P<number>\+?[0-9*]{9,15})(?:\s*-\s*(?P<name>.*))?")
REQUIRED = ("receipt no", "details", "transaction status", "withdrawn")


class StatementError(DomainError):
    """The file is not an M-Pesa organisation statement this reader understands."""


@dataclass(frozen=True, slots=True)
class StatementPayment:
    """One completed B2C payment on the statement."""

    line: int  # in the file, from 1
    receipt: str
    amount_cents: int
    recipient_number: str  # digits as the statement shows them; '*' where the portal masked
    recipient_name: str
    completed: str


def _key(header: str) -> str:
    return " ".join(header.strip().strip(".").casefold().replace(".", " ").split())


def _amount(text: str, line: int, column: str) -> int:
    cleaned = text.replace(",", "").replace("KES", "").replace("Ksh", "").strip()
    if not cleaned:
        return 0
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise StatementError(f"line {line}, {column}: {text!r} is not an amount") from None
    return int(abs(value) * 100)


def _recipient(details: str) -> tuple[str, str] | None:
    payment = PAYMENT_DETAILS.search(details)
    party = payment.group("party") if payment else details
    found = NUMBER.search(party)
    if found is None:
        return None
    return found.group("number").lstrip("+"), (found.group("name") or "").strip()


def read_statement(text: str) -> list[StatementPayment]:
    """The B2C payments of a statement export (the file's text). Raises :class:`StatementError`
    naming the line for a file that is not one, or an amount that cannot be read."""
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    header_at = next(
        (n for n, row in enumerate(rows) if row and _key(row[0]).startswith("receipt no")), None
    )
    if header_at is None:
        raise StatementError(
            "no table found: an M-Pesa statement export has a header row starting 'Receipt No.'"
        )
    columns = {_key(name): index for index, name in enumerate(rows[header_at])}
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise StatementError(
            f"line {header_at + 1}: the statement has no column {', '.join(missing)}"
        )

    def cell(row: list[str], name: str) -> str:
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    payments: list[StatementPayment] = []
    for offset, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        receipt = cell(row, "receipt no")
        if not receipt or not any(ch.isalnum() for ch in receipt):
            continue  # a blank line, or the totals under the table
        if cell(row, "transaction status").casefold() != "completed":
            continue
        withdrawn = _amount(cell(row, "withdrawn"), offset, "Withdrawn")
        details = cell(row, "details")
        if not withdrawn or not PAYMENT_DETAILS.search(details):
            continue  # money in, a charge, a reversal: not a payout
        recipient = _recipient(details) or _recipient(cell(row, "other party info"))
        number, name = recipient if recipient is not None else ("", "")
        payments.append(
            StatementPayment(
                line=offset,
                receipt=receipt,
                amount_cents=withdrawn,
                recipient_number=number,
                recipient_name=name,
                completed=cell(row, "completion time"),
            )
        )
    return payments


def same_number(statement_number: str, msisdn: str) -> bool:
    """Whether the statement's (possibly masked) number is ``msisdn`` (E.164): every digit the
    portal shows must be the payout's, in place."""
    ours = msisdn.lstrip("+")
    theirs = statement_number.lstrip("+")
    if not theirs:
        return True  # the statement does not say: nothing to compare
    if len(theirs) != len(ours):
        return False
    return all(t == "*" or t == o for t, o in zip(theirs, ours, strict=True))
