"""The chat channels: WhatsApp, Telegram, the local web chat and the console.

Inbound messages come in through ``inbound`` (accept-then-process, in order per address); the
outbox goes out through ``dispatcher`` to the channel adapters (``whatsapp``, ``telegram``), whose
HTTP faces are in ``gateways``. Nothing here knows about payments (an import-linter contract).
"""
