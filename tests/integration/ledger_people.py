"""Old names of the payees in ``factory_fixtures``, kept while the ledger and payout tests
(test_ledger*.py, test_payout_batch_building.py, test_payouts_domain.py, mpesa_harness.py)
still import them from here."""

from tests.integration.factory_fixtures import bare_person as add_person
from tests.integration.factory_fixtures import payee as add_artisan

__all__ = ["add_artisan", "add_person"]
