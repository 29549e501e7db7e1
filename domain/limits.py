"""The largest quantities, prices and amounts of money the factory accepts, in one place.

Every edge (the CSV files, the chat flows, the command line) refuses a value beyond these with a
clear message, the domain services refuse it again, and the database's CHECK constraints
(domain/model, migration 0006) refuse it a third time, so no path can store what the others would
refuse. Each limit is far above anything a real order of hand-made jewellery needs, and low enough
that the arithmetic done with it (pieces x rate, summed in SQL) fits a PostgreSQL ``INTEGER``.

This module imports nothing of the domain, so the table definitions can use it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

INT32_MAX: Final = 2_147_483_647
"""What a PostgreSQL ``INTEGER`` holds: the ceiling every limit below stays under."""

MAX_PIECES: Final = 100_000
"""Any count of pieces: units on an order line, and the pieces of a job, offer, allocation,
submission, QC review, delivery or visit. The example orders are of 1-150 units, and a job this
size is ten weeks of the largest capacity an artisan may declare (``MAX_WEEKLY_CAPACITY``). A
larger order is split into several. The same limit as /neworder's and the receipt's before."""

MAX_PIECES_PER_UNIT: Final = 1_000
"""Pieces of one component in one unit of a product (a bill-of-materials line): a necklace of a
thousand carved beads is already extraordinary."""

MAX_WEEKLY_CAPACITY: Final = 10_000
"""Pieces of one skill an artisan can make in a week, as they declare it when they register."""

MAX_PRICE_CENTS: Final = 100_000_000
"""A product's wholesale or retail price, an order line's unit price, an assembly cost:
KES 1,000,000 for one piece of jewellery (the demo's dearest is KES 5,000)."""

MAX_PIECE_RATE_CENTS: Final = 10_000_000
"""What an artisan is paid for one good piece: KES 100,000 (the demo pays KES 10-600)."""

MAX_MONEY_CENTS: Final = 2_000_000_000
"""The most a job (or an offer or allocation of it) may pay its artisans in all, pieces x piece
rate: KES 20,000,000. Every earning and ledger transfer is part of one allocation's pay, so none
can go beyond what a PostgreSQL ``INTEGER`` of cents holds (about KES 21.4 million)."""

MAX_DAYS: Final = 365
"""A component's lead time and a product's assembly time, in days: beyond a year it is not a
lead time but a typo, and the back-scheduled due dates would leave the calendar."""

MAX_MATERIAL_PER_PIECE: Final = Decimal("99999999.9999")
"""Material one piece of a component uses: what the ``Numeric(12, 4)`` column holds."""

MAX_MATERIAL_AMOUNT: Final = Decimal("999999999.999")
"""Material in stock or asked for: what the ``Numeric(12, 3)`` columns hold."""

MAX_CARRIER_LENGTH: Final = 60
"""The carrier an order is shipped with (``/ship 12 G4S KE123``): a company's name."""

MAX_TRACKING_LENGTH: Final = 80
"""A shipment's tracking reference, as the carrier writes it."""

MAX_ID: Final = 999_999_999
"""The largest row id a person may type (``ACCEPT 12``, ``/confirm 7``): nine digits."""

MAX_QUESTION_LENGTH: Final = 500
"""A question an artisan puts to a person, and the answer to it: a few sentences, short enough
to read on a phone; the most the chat engine takes in one message (its ``MAX_TEXT_LENGTH``), so
both say the same limit."""

assert MAX_MONEY_CENTS < INT32_MAX  # every earning fits the ledger's INTEGER column
