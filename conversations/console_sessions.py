"""``/logout_all``: a field agent or an admin ends every web console session of theirs, from
chat (a lost phone, a shared computer). The console (bot/console/) checks its sessions on every
request, so the next click in any browser they were signed in on goes back to the login page.
"""

from __future__ import annotations

import logging

from conversations.flow import Command, Context
from conversations.formatting import me
from conversations.i18n import N_
from conversations.messages import Reply
from domain.model import Role
from domain.services.console_login import end_all_sessions

log = logging.getLogger(__name__)

STAFF = frozenset({Role.FIELD_AGENT, Role.ADMIN})


async def _logout_all(ctx: Context, _argument: str) -> list[Reply]:
    ended = await end_all_sessions(ctx.session, person_id=me(ctx), now=ctx.now)
    log.info("person %s ended %s console session(s) from chat", me(ctx), ended)
    if not ended:
        return [Reply(ctx.t("console.logout_all_none"))]
    return [Reply(ctx.t("console.logout_all_done", count=ended))]


# The words of the web console's pages (bot/console/: its templates and page handlers, in the
# signed-in person's language), listed here where the catalogue tests look for every message id;
# tests/integration/test_staff_console.py checks this list against the templates both ways.
CONSOLE_WORDS: tuple[str, ...] = (
    N_("console.all"),
    N_("console.amount"),
    N_("console.approve"),
    N_("console.approve_alone"),
    N_("console.approve_float_short"),
    N_("console.approve_float_unknown"),
    N_("console.approve_maker"),
    N_("console.approve_no"),
    N_("console.approve_not_waiting"),
    N_("console.approve_over_limit"),
    N_("console.approve_question"),
    N_("console.approve_refused"),
    N_("console.approve_title"),
    N_("console.approve_yes"),
    N_("console.area"),
    N_("console.artisan"),
    N_("console.available"),
    N_("console.back"),
    N_("console.batch"),
    N_("console.batch_approved"),
    N_("console.batch_title"),
    N_("console.chart_on_time"),
    N_("console.chart_qc"),
    N_("console.code_wrong"),
    N_("console.component"),
    N_("console.customer"),
    N_("console.dead_letters"),
    N_("console.dead_letters_hint"),
    N_("console.difference"),
    N_("console.due"),
    N_("console.earned"),
    N_("console.earnings"),
    N_("console.export_jobs"),
    N_("console.export_ledger_transfers"),
    N_("console.export_orders"),
    N_("console.export_payouts"),
    N_("console.export_qc_results"),
    N_("console.export_receipts"),
    N_("console.exports_intro"),
    N_("console.filter"),
    N_("console.float_against"),
    N_("console.float_known"),
    N_("console.float_short_by"),
    N_("console.float_unknown"),
    N_("console.form_refused"),
    N_("console.history"),
    N_("console.impact_empty"),
    N_("console.impact_suppressed_rule"),
    N_("console.impact_people"),
    N_("console.impact_people_column"),
    N_("console.impact_suppressed"),
    N_("console.in_flight"),
    N_("console.job_not_found"),
    N_("console.job_title"),
    N_("console.jobs_late"),
    N_("console.jobs_late_only"),
    N_("console.jobs_open"),
    N_("console.login_again"),
    N_("console.login_code"),
    N_("console.login_code_message"),
    N_("console.login_code_sent"),
    N_("console.login_enter"),
    N_("console.login_intro"),
    N_("console.login_number"),
    N_("console.login_send_code"),
    N_("console.login_title"),
    N_("console.logout"),
    N_("console.lot"),
    N_("console.made_by"),
    N_("console.month"),
    N_("console.mpesa_off"),
    N_("console.mpesa_receipt"),
    N_("console.name"),
    N_("console.nav_artisans"),
    N_("console.nav_exports"),
    N_("console.nav_factory"),
    N_("console.nav_impact"),
    N_("console.nav_jobs"),
    N_("console.nav_orders"),
    N_("console.nav_payouts"),
    N_("console.no_lots"),
    N_("console.none"),
    N_("console.not_for_your_role"),
    N_("console.not_found"),
    N_("console.opted_out"),
    N_("console.order"),
    N_("console.order_confirm"),
    N_("console.order_confirmed"),
    N_("console.order_not_draft"),
    N_("console.order_refused"),
    N_("console.order_title"),
    N_("console.orders_by_status"),
    N_("console.outbox"),
    N_("console.outbox_held"),
    N_("console.outbox_queued"),
    N_("console.outbox_sending"),
    N_("console.outbox_failed"),
    N_("console.outbox_dead"),
    N_("console.paid"),
    N_("console.payments"),
    N_("console.payout"),
    N_("console.payouts_count"),
    N_("console.phone"),
    N_("console.pieces"),
    N_("console.pieces_accepted"),
    N_("console.pieces_in_qc"),
    N_("console.pieces_offered"),
    N_("console.pieces_received"),
    N_("console.pieces_this_week"),
    N_("console.qc_history"),
    N_("console.qc_line"),
    N_("console.quantity"),
    N_("console.receipt_line"),
    N_("console.receipts"),
    N_("console.reconcile_agrees"),
    N_("console.reconcile_title"),
    N_("console.reference"),
    N_("console.rep_acceptance"),
    N_("console.rep_explained"),
    N_("console.rep_on_time"),
    N_("console.rep_qc"),
    N_("console.rep_response"),
    N_("console.rep_volume"),
    N_("console.reputation"),
    N_("console.result"),
    N_("console.results"),
    N_("console.session_over"),
    N_("console.shown_of"),
    N_("console.skill"),
    N_("console.skills"),
    N_("console.status"),
    N_("console.the_schedule"),
    N_("console.title"),
    N_("console.too_many_codes"),
    N_("console.too_many_tries"),
    N_("console.total"),
    N_("console.why_ask"),
    N_("console.why_job"),
    N_("console.why_title"),
    N_("console.your_areas"),
)

COMMANDS: dict[str, Command] = {
    "logout_all": Command(STAFF, _logout_all, N_("console.help_logout_all")),
}
