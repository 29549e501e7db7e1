"""M-Pesa payouts over Daraja: the API client (``daraja``), its callback routes (``routes``), the
runner that sends approved payouts and applies results (``runner``) and its waker (``waker``).
Nothing here knows about the chat channels (an import-linter contract).
"""
