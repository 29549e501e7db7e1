"""A fake Telegram Bot API (the methods Karakana uses) and a fake Telegram that calls our webhook.

Every method call is recorded with its parameters. Files are served under ``/file/bot<token>/``,
updates can be queued for getUpdates long polling or delivered to a webhook with the secret token
header, and the next sends can be refused with a 429 ``retry_after`` (flood control) or a 403
(the person blocked the bot).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import serving

DEFAULT_TOKEN = "123456789:AAFakeTelegramTokenForKarakanaTests0"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Karakana",
    "username": "karakana_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Parameters PTB sends JSON-encoded inside a form field.
_JSON_PARAMETERS = {"reply_markup", "allowed_updates", "entities", "caption_entities"}
_SEND_METHODS = {"sendMessage", "sendPhoto", "sendDocument"}
MAX_POLL_WAIT = 0.5  # seconds getUpdates waits for an update before answering []


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: dict[str, Any]


@dataclass
class _File:
    content: bytes
    file_path: str
    file_unique_id: str


@dataclass
class FakeTelegram:
    token: str = DEFAULT_TOKEN
    base_url: str = ""  # set once the server runs
    calls: list[ApiCall] = field(default_factory=list)
    file_downloads: list[str] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    blocked_chats: set[str] = field(default_factory=set)
    _files: dict[str, _File] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(500_001))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _flood: list[int] = field(default_factory=list)  # retry_after for each of the next sends

    def __post_init__(self) -> None:
        self._new_update = asyncio.Condition()
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._call, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeTelegram]:
        async with serving(self.app) as url:
            self.base_url = url
            yield self

    # -- what tests inspect -------------------------------------------------------------------

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method == method]

    # -- what tests arrange -------------------------------------------------------------------

    def flood_next_sends(self, count: int = 1, *, retry_after: int = 3) -> None:
        self._flood.extend([retry_after] * count)

    def add_file(self, content: bytes, *, file_path: str | None = None) -> str:
        file_id = "AgAC" + uuid.uuid4().hex
        path = file_path or f"photos/file_{len(self._files)}.jpg"
        self._files[file_id] = _File(content, path, uuid.uuid4().hex[:16])
        return file_id

    def photo_sizes(
        self, largest: bytes, *, smaller: tuple[bytes, ...] = ()
    ) -> list[dict[str, Any]]:
        """PhotoSize objects, smallest first as Telegram sends them; ``largest`` is full size."""
        sizes = []
        for n, content in enumerate((*smaller, largest), start=1):
            file_id = self.add_file(content)
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": self._files[file_id].file_unique_id,
                    "width": 320 * n,
                    "height": 240 * n,
                    "file_size": len(content),
                }
            )
        return sizes

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "Akinyi", "language_code": "sw"}

    def _message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "from": self._user(chat_id),
            "chat": {"id": chat_id, "type": "private", "first_name": "Akinyi"},
            "date": int(time.time()),
            **content,
        }

    def text_update(self, chat_id: int, text: str) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), "message": self._message(chat_id, text=text)}

    def photo_update(
        self, chat_id: int, sizes: list[dict[str, Any]], *, caption: str | None = None
    ) -> dict[str, Any]:
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return {"update_id": next(self._update_ids), "message": self._message(chat_id, **content)}

    def document_update(
        self, chat_id: int, content: bytes, *, mime_type: str, file_name: str
    ) -> dict[str, Any]:
        file_id = self.add_file(content, file_path=f"documents/{file_name}")
        document = {
            "file_id": file_id,
            "file_unique_id": self._files[file_id].file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content),
        }
        return {
            "update_id": next(self._update_ids),
            "message": self._message(chat_id, document=document),
        }

    def callback_update(
        self, chat_id: int, data: str, *, from_id: int | None = None
    ) -> dict[str, Any]:
        """A button press on a message in ``chat_id``, by ``from_id`` (default: that chat)."""
        presser = from_id if from_id is not None else chat_id
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(uuid.uuid4().int)[:19],
                "from": self._user(presser),
                "message": {**self._message(chat_id, text="…"), "from": BOT_USER},
                "chat_instance": str(chat_id * 7),
                "data": data,
            },
        }

    async def enqueue(self, update: Mapping[str, Any]) -> None:
        """Make ``update`` available to getUpdates (long polling)."""
        async with self._new_update:
            self._updates.append(dict(update))
            self._new_update.notify_all()

    async def deliver(
        self, url: str, update: Mapping[str, Any], *, secret_token: str | None
    ) -> httpx.Response:
        """POST ``update`` to a webhook as Telegram does, with the secret token header if given."""
        headers = {} if secret_token is None else {"X-Telegram-Bot-Api-Secret-Token": secret_token}
        async with httpx.AsyncClient(trust_env=False) as client:
            return await client.post(url, json=dict(update), headers=headers)

    # -- the Bot API --------------------------------------------------------------------------

    @staticmethod
    def _ok(result: Any) -> JSONResponse:
        return JSONResponse({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str, **parameters: Any) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return JSONResponse(body, status_code=code)

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        body = await request.body()
        if content_type.startswith("application/json") and body:
            params.update(json.loads(body))
        elif content_type.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        elif content_type.startswith("multipart/form-data"):
            # The stdlib's MIME parser reads form-data well enough for a fake.
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            for part in parsed.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if part.get_filename() is None:
                    params[str(name)] = payload.decode() if isinstance(payload, bytes) else payload
                else:
                    params[str(name)] = payload
        for key in _JSON_PARAMETERS & params.keys():
            if isinstance(params[key], str):
                params[key] = json.loads(params[key])
        return params

    async def _call(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.path_params["method"]
        params = await self._params(request)
        self.calls.append(ApiCall(method, params))
        if method in _SEND_METHODS:
            if self._flood:
                retry_after = self._flood.pop(0)
                return self._error(
                    429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
                )
            if str(params.get("chat_id")) in self.blocked_chats:
                return self._error(403, "Forbidden: bot was blocked by the user")
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(404, "Not Found")
        result: Response = await handler(params)
        return result

    async def _api_getMe(self, params: dict[str, Any]) -> Response:
        return self._ok(BOT_USER)

    def _sent_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": "Akinyi"},
            "date": int(time.time()),
            **content,
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _api_sendMessage(self, params: dict[str, Any]) -> Response:
        if not params.get("chat_id") or not params.get("text"):
            return self._error(400, "Bad Request: message text is empty")
        return self._ok(self._sent_message(params, text=params["text"]))

    async def _api_sendPhoto(self, params: dict[str, Any]) -> Response:
        photo = params.get("photo")
        if not isinstance(photo, bytes):
            return self._error(400, "Bad Request: there is no photo in the request")
        file_id = self.add_file(photo)
        size = {
            "file_id": file_id,
            "file_unique_id": self._files[file_id].file_unique_id,
            "width": 1280,
            "height": 960,
            "file_size": len(photo),
        }
        return self._ok(self._sent_message(params, photo=[size]))

    async def _api_sendDocument(self, params: dict[str, Any]) -> Response:
        document = params.get("document")
        if not isinstance(document, bytes):
            return self._error(400, "Bad Request: there is no document in the request")
        file_id = self.add_file(document)
        sent = {
            "file_id": file_id,
            "file_unique_id": self._files[file_id].file_unique_id,
            "file_size": len(document),
        }
        return self._ok(self._sent_message(params, document=sent))

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Response:
        return self._ok(True)

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Response:
        return self._ok(self._sent_message(params, text="…"))

    async def _api_getFile(self, params: dict[str, Any]) -> Response:
        file = self._files.get(str(params.get("file_id")))
        if file is None:
            return self._error(400, "Bad Request: invalid file_id")
        return self._ok(
            {
                "file_id": params["file_id"],
                "file_unique_id": file.file_unique_id,
                "file_size": len(file.content),
                "file_path": file.file_path,
            }
        )

    async def _api_setWebhook(self, params: dict[str, Any]) -> Response:
        self.webhook = params
        return self._ok(True)

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Response:
        self.webhook = None
        return self._ok(True)

    async def _api_getUpdates(self, params: dict[str, Any]) -> Response:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), MAX_POLL_WAIT)
        async with self._new_update:
            # An offset confirms every update before it, as in Telegram.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), timeout=wait)
            return self._ok(self._updates[:limit])

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return self._error(401, "Unauthorized")
        path = request.path_params["path"]
        self.file_downloads.append(path)
        for file in self._files.values():
            if file.file_path == path:
                return Response(file.content, media_type="application/octet-stream")
        return self._error(404, "Not Found")
