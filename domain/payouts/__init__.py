"""Payout batches: the domain half of exactly-once M-Pesa payouts.

A batch takes every active artisan's available balance above a minimum and makes one payout per
artisan. Each payout reserves its money at once with a *pending* transfer (artisan payable ->
M-Pesa float) and gets its M-Pesa ``OriginatorConversationID`` at once, before anything is sent,
so every retry of the same payout reuses the same id and M-Pesa can refuse a duplicate.

The M-Pesa adapter (in bot/) drives a payout through :data:`PAYOUT_TRANSITIONS` with these
functions: :func:`mark_sending` before each request, :func:`mark_unknown` when no answer comes,
then exactly one of :func:`settle_success` (posts the pending transfer: the money is paid) or
:func:`settle_failure` (voids it: the money is available again for the next batch). A duplicate
callback changes nothing; a contradictory one (success after failure, or the reverse) is refused
and leaves the ledger as it was, for a person to look into.

The modules, in the order a payout meets them: :mod:`~domain.payouts.building` makes a batch,
:mod:`~domain.payouts.batches` approves or cancels it, :mod:`~domain.payouts.sending` sends each
payout, :mod:`~domain.payouts.settlement` records what M-Pesa said (its result codes in
:mod:`~domain.payouts.result_codes`), and :mod:`~domain.payouts.reconcile` compares it all with
the ledger and M-Pesa's statement; :mod:`~domain.payouts.payees` guards whom the money goes
to (a changed M-Pesa number confirmed by a second person, the receiver's name checked). A
payout step that cannot be taken raises :class:`domain.errors.PayoutError`. The names below
are those callers import from here.
"""

from domain.payouts._common import UNRESOLVED_PAYOUT_STATUSES
from domain.payouts.batches import (
    ApprovalCheck,
    MakerCannotApprove,
    OverBatchLimit,
    approve_batch,
    auto_approve_batch,
    batch_count_and_total,
    batch_payouts,
    batch_total_cents,
    cancel_batch,
    check_approval,
)
from domain.payouts.building import (
    BATCH_CHUNK,
    FinishBatch,
    Transactions,
    build_payout_batch,
    create_payout_batch,
)
from domain.payouts.mpesa_float import (
    FloatTooLow,
    FloatUnknown,
    KnownFloat,
    begin_balance_query,
    current_float,
    float_shortfall,
    float_wanted,
    known_float,
    queries_to_retry,
    query_in_flight,
    record_balance,
)
from domain.payouts.payees import (
    HoldReason,
    SameNumber,
    check_payee,
    check_payees,
    clear_payee_holds,
    confirm_number_change,
    names_match,
    number_changes,
    payout_holds,
    pending_number_change,
    request_number_change,
)
from domain.payouts.result_codes import (
    B2C_RESULT_REASONS,
    TEMPORARY_RESULT_CODES,
    result_code_number,
    result_reason,
)
from domain.payouts.sending import (
    claim_for_sending,
    mark_sending,
    mark_unknown,
    payouts_in_doubt,
    payouts_to_send,
    record_conversation_id,
    record_conversation_ids,
)
from domain.payouts.settlement import (
    PaymentOutcome,
    Settlement,
    Verdict,
    settle_failure,
    settle_outcomes,
    settle_success,
)

__all__ = [
    "B2C_RESULT_REASONS",
    "BATCH_CHUNK",
    "TEMPORARY_RESULT_CODES",
    "UNRESOLVED_PAYOUT_STATUSES",
    "ApprovalCheck",
    "FinishBatch",
    "FloatTooLow",
    "FloatUnknown",
    "HoldReason",
    "KnownFloat",
    "MakerCannotApprove",
    "OverBatchLimit",
    "PaymentOutcome",
    "SameNumber",
    "Settlement",
    "Transactions",
    "Verdict",
    "approve_batch",
    "auto_approve_batch",
    "batch_count_and_total",
    "batch_payouts",
    "batch_total_cents",
    "begin_balance_query",
    "build_payout_batch",
    "cancel_batch",
    "check_approval",
    "check_payee",
    "check_payees",
    "claim_for_sending",
    "clear_payee_holds",
    "confirm_number_change",
    "create_payout_batch",
    "current_float",
    "float_shortfall",
    "float_wanted",
    "known_float",
    "mark_sending",
    "mark_unknown",
    "names_match",
    "number_changes",
    "payout_holds",
    "payouts_in_doubt",
    "payouts_to_send",
    "pending_number_change",
    "queries_to_retry",
    "query_in_flight",
    "record_balance",
    "record_conversation_id",
    "record_conversation_ids",
    "request_number_change",
    "result_code_number",
    "result_reason",
    "settle_failure",
    "settle_outcomes",
    "settle_success",
]
