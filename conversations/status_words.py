"""Payout and payout-batch states in the reader's language (the staff console's Payouts pages
show them; ``bot/console/app.py`` ``STATUS_WORDS`` looks them up), never as raw codes."""

from __future__ import annotations

from conversations.i18n import N_
from domain.model import PayoutBatchStatus, PayoutStatus

PAYOUT_STATUS = {
    PayoutStatus.PENDING: N_("status.payout.pending"),
    PayoutStatus.SENDING: N_("status.payout.sending"),
    PayoutStatus.UNKNOWN: N_("status.payout.unknown"),
    PayoutStatus.SUCCEEDED: N_("status.payout.succeeded"),
    PayoutStatus.FAILED: N_("status.payout.failed"),
    PayoutStatus.CANCELLED: N_("status.payout.cancelled"),
}
PAYOUT_BATCH_STATUS = {
    PayoutBatchStatus.BUILDING: N_("status.batch.building"),
    PayoutBatchStatus.AWAITING_APPROVAL: N_("status.batch.awaiting_approval"),
    PayoutBatchStatus.APPROVED: N_("status.batch.approved"),
    PayoutBatchStatus.PROCESSING: N_("status.batch.processing"),
    PayoutBatchStatus.COMPLETED: N_("status.batch.completed"),
    PayoutBatchStatus.CANCELLED: N_("status.batch.cancelled"),
}
