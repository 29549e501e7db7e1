"""APScheduler jobs: matching rounds, offer expiry, reminders, payouts. Plain async functions."""
