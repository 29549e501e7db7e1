"""What went wrong when a channel refused or failed to deliver a message.

The channel adapters translate their providers' errors into one ``SendError`` so the outbox can
decide what to do without knowing Twilio's or Telegram's vocabulary: retry later (and how much
later), stop messaging an opted-out person, or show a window/template problem to an admin.
"""

from __future__ import annotations

from enum import StrEnum


class SendFailure(StrEnum):
    RATE_LIMITED = "rate_limited"  # the provider asked us to slow down; retry after a delay
    TRANSIENT = "transient"  # network trouble or a provider-side 5xx; retry with backoff
    OPTED_OUT = "opted_out"  # the person unsubscribed or blocked the bot; stop sending
    WINDOW_CLOSED = "window_closed"  # WhatsApp 24-hour window closed: a template is needed
    TEMPLATE_REJECTED = "template_rejected"  # the template or its variables were refused
    BAD_RECIPIENT = "bad_recipient"  # the address cannot receive messages on this channel
    REJECTED = "rejected"  # any other refusal; retrying the same request will not help


_RETRYABLE = frozenset({SendFailure.RATE_LIMITED, SendFailure.TRANSIENT})


class SendError(Exception):
    """A message was not accepted by the provider.

    ``code`` is the provider's own error code when it gave one (Twilio's 63016, Telegram's HTTP
    status), ``retry_after`` the delay in seconds the provider asked for, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        failure: SendFailure,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.channel = channel
        self.failure = failure
        self.code = code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.failure in _RETRYABLE

    def __repr__(self) -> str:
        return (
            f"SendError({self.args[0]!r}, channel={self.channel!r}, failure={self.failure.value!r},"
            f" code={self.code!r}, retry_after={self.retry_after!r})"
        )
