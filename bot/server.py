"""The HTTP face of the process: Twilio's and Telegram's webhooks, health, and whatever else the
composition root mounts (the local web chat, M-Pesa callbacks).

Each endpoint only translates: read the body, let the channel gateway verify and accept it, answer.
An unsigned request is 403, a malformed one 400 and an oversized one 413 (bot/request_body.py),
all before anything is stored; an accepted message is persisted before the provider gets its 200,
and processed after.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.dispatcher import Dispatcher, backlog, held
from bot.channels.gateways import (
    MEDIA_PATH,
    BadWebhook,
    Forbidden,
    MediaLinks,
    TelegramGateway,
    WhatsAppGateway,
)
from bot.channels.media import ACCEPTED_IMAGE_TYPES, OUTBOUND_DOCUMENT_TYPES, MediaStore
from bot.channels.telegram import SECRET_TOKEN_HEADER
from bot.request_body import BodyTooLarge, limited_body
from domain.store import Store

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"


@dataclass
class Health:
    """What ``GET /healthz`` reports: 200 when every part works, 503 otherwise."""

    store: Store
    dispatcher: Dispatcher | None = None
    scheduler_running: Callable[[], bool] | None = None
    scheduler_jobs: Callable[[], dict[str, str | None]] | None = None  # job -> next run time

    async def report(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {"process": "ok"}
        healthy = True
        try:
            async with self.store.read() as session:
                await session.exec(text("select 1"))  # type: ignore[call-overload]
            checks["database"] = "ok"
        except Exception as exc:
            healthy = False
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if self.dispatcher is not None:
            running = self.dispatcher.running or not self.dispatcher.channels
            healthy &= running
            checks["dispatcher"] = "ok" if running else "stopped"
            if checks["database"] == "ok":
                checks["outbox"] = await backlog(self.store, sorted(self.dispatcher.channels))
                # Waiting for a template, or for a channel nobody sends on (the local demo).
                checks["outbox"]["held"] = await held(self.store)
        if self.scheduler_running is not None:
            running = self.scheduler_running()
            healthy &= running
            checks["scheduler"] = "ok" if running else "stopped"
            if self.scheduler_jobs is not None:
                checks["next_runs"] = self.scheduler_jobs()
        return healthy, checks


def _bad(exc: Exception, status: int) -> Response:
    log.warning("refused a webhook (%d): %s", status, exc)
    return Response("forbidden" if status == 403 else str(exc), status_code=status)


def _path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _whatsapp_routes(gateway: WhatsAppGateway) -> list[BaseRoute]:
    async def webhook(request: Request) -> Response:
        try:
            body = await limited_body(request)
            await gateway.message(
                _path(request), body, request.headers.get(TWILIO_SIGNATURE_HEADER)
            )
        except Forbidden as exc:
            return _bad(exc, 403)
        except BodyTooLarge as exc:
            return _bad(exc, 413)
        except BadWebhook as exc:
            return _bad(exc, 400)
        # Replies go through the outbox, never in the TwiML answer.
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def status(request: Request) -> Response:
        try:
            body = await limited_body(request)
            await gateway.status(_path(request), body, request.headers.get(TWILIO_SIGNATURE_HEADER))
        except Forbidden as exc:
            return _bad(exc, 403)
        except BodyTooLarge as exc:
            return _bad(exc, 413)
        except BadWebhook as exc:
            return _bad(exc, 400)
        return Response(status_code=204)

    return [
        Route("/whatsapp/webhook", webhook, methods=["POST"]),
        Route("/whatsapp/status", status, methods=["POST"]),
    ]


def _telegram_routes(gateway: TelegramGateway) -> list[BaseRoute]:
    async def webhook(request: Request) -> Response:
        try:
            # The secret first: a stranger learns nothing else about us.
            gateway.check_secret(request.headers.get(SECRET_TOKEN_HEADER))
            body = await limited_body(request)
            try:
                data = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise BadWebhook(f"the body is not JSON: {exc}") from exc
            await gateway.receive(gateway.update_from_json(data))
        except Forbidden as exc:
            return _bad(exc, 403)
        except BodyTooLarge as exc:
            return _bad(exc, 413)
        except BadWebhook as exc:
            return _bad(exc, 400)
        return Response(status_code=200)

    return [Route("/telegram/webhook", webhook, methods=["POST"])]


def media_routes(links: MediaLinks, store: MediaStore) -> list[BaseRoute]:
    """``GET /media/<ref>``: a photo from our media store, for Twilio to fetch when we send it
    on WhatsApp. Only with a valid, unexpired signature from ``links`` and only an image ref the
    store issued; anything else is a bare 404 (no hint whether the file exists)."""
    types = {
        extension: content_type
        for content_type, extension in (ACCEPTED_IMAGE_TYPES | OUTBOUND_DOCUMENT_TYPES).items()
    }

    async def serve(request: Request) -> Response:
        ref: str = request.path_params["ref"]
        content_type = types.get(ref[ref.rfind(".") :]) if "." in ref else None
        query = request.query_params
        if content_type is None or not links.check(
            ref, query.get("expires"), query.get("signature")
        ):
            log.warning("refused a media request: bad, expired or unsigned link")
            return Response("not found", status_code=404)
        try:
            content = await store.load(ref)
        except (OSError, ValueError):
            return Response("not found", status_code=404)
        return Response(
            content, media_type=content_type, headers={"Cache-Control": "private, no-store"}
        )

    return [Route(MEDIA_PATH + "/{ref}", serve, methods=["GET"])]


def create_app(
    *,
    health: Health,
    whatsapp: WhatsAppGateway | None = None,
    telegram: TelegramGateway | None = None,
    telegram_webhook: bool = True,
    extra_routes: Sequence[BaseRoute] = (),
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    """The Starlette app: the channels' webhooks that are configured, ``/healthz``, and
    ``extra_routes`` (the web chat, M-Pesa callbacks) as given."""

    async def healthz(request: Request) -> Response:
        healthy, checks = await health.report()
        return JSONResponse(
            {"status": "ok" if healthy else "unhealthy", "checks": checks},
            status_code=200 if healthy else 503,
        )

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    if whatsapp is not None:
        routes.extend(_whatsapp_routes(whatsapp))
    if telegram is not None and telegram_webhook:
        routes.extend(_telegram_routes(telegram))
    routes.extend(extra_routes)
    return Starlette(routes=routes, lifespan=lifespan)
