"""python-telegram-bot peer: ConversationHandler + PicklePersistence behind a Starlette webhook.

The pattern of python-telegram-bot's ``examples/customwebhookbot/starlettebot.py``: our own
Starlette app receives the update, puts it on ``application.update_queue``, and answers 200; the
Application's handlers run the conversation and call the Bot API (here the fake Telegram, through
``base_url``). The conversation state and the artisan's data live in a PicklePersistence file.

    .venv/bin/python bench/peers/ptb_bot.py --port 8443 --api http://127.0.0.1:9000 \
        --token 123:ABC --secret s3cret --data /tmp/ptb.pickle
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import (
    Application,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for bench.*

from bench.peers import script

MENU, OFFERS, OFFER, PHOTOS, COUNT, CONFIRM = range(6)
Context = ContextTypes.DEFAULT_TYPE


async def reply(update: Update, text: str) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(text)


async def menu(update: Update, context: Context) -> int:
    await reply(update, script.MENU)
    return MENU


async def menu_choice(update: Update, context: Context) -> int:
    assert update.effective_message is not None
    assert context.user_data is not None
    choice = (update.effective_message.text or "").strip()
    data = context.user_data
    if choice == "1":
        await reply(update, script.OFFERS)
        return OFFERS
    if choice == "3":
        data["photos"] = 0
        await reply(update, script.PHOTOS)
        return PHOTOS
    if choice == "5":
        await reply(update, script.EARNINGS.format(earned=data.get("submitted", 0) * 150))
    elif choice == "2":
        await reply(update, script.JOBS.format(jobs=data.get("accepted", 0)))
    elif choice == "7":
        await reply(update, script.SCORE)
    else:
        await reply(update, script.NOT_UNDERSTOOD)
    return MENU


async def offers(update: Update, context: Context) -> int:
    await reply(update, script.OFFER)
    return OFFER


async def accept(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data["accepted"] = context.user_data.get("accepted", 0) + 1
    await reply(update, script.ACCEPTED)
    return MENU


async def photo(update: Update, context: Context) -> int:
    assert update.effective_message is not None
    assert context.user_data is not None
    largest = update.effective_message.photo[-1]
    file = await largest.get_file()
    content = await file.download_as_bytearray()
    context.user_data["photos"] = context.user_data.get("photos", 0) + 1
    context.user_data["photo_bytes"] = context.user_data.get("photo_bytes", 0) + len(content)
    await reply(update, script.PHOTO_SAVED.format(n=context.user_data["photos"]))
    return PHOTOS


async def photos_done(update: Update, context: Context) -> int:
    await reply(update, script.HOW_MANY)
    return COUNT


async def count(update: Update, context: Context) -> int:
    assert update.effective_message is not None
    assert context.user_data is not None
    context.user_data["count"] = int(update.effective_message.text or "0")
    await reply(
        update,
        script.CONFIRM.format(
            count=context.user_data["count"], photos=context.user_data.get("photos", 0)
        ),
    )
    return CONFIRM


async def confirm(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data["submitted"] = context.user_data.get("submitted", 0) + context.user_data.get(
        "count", 0
    )
    await reply(update, script.SUBMITTED.format(count=context.user_data.get("count", 0)))
    return MENU


def conversation() -> ConversationHandler[Context]:
    text = filters.TEXT & ~filters.COMMAND
    is_menu = filters.Regex(r"(?i)^menu$")
    return ConversationHandler(
        entry_points=[MessageHandler(text, menu)],
        states={
            MENU: [MessageHandler(is_menu, menu), MessageHandler(text, menu_choice)],
            OFFERS: [MessageHandler(filters.Regex(r"^1$"), offers)],
            OFFER: [MessageHandler(filters.Regex(r"^1$"), accept)],
            PHOTOS: [
                MessageHandler(filters.PHOTO, photo),
                MessageHandler(filters.Regex(r"(?i)^done$"), photos_done),
            ],
            COUNT: [MessageHandler(filters.Regex(r"^\d+$"), count)],
            CONFIRM: [MessageHandler(filters.Regex(r"^1$"), confirm)],
        },
        fallbacks=[MessageHandler(text, menu)],
        name="artisan",
        persistent=True,
    )


async def main(args: argparse.Namespace) -> None:
    persistence = PicklePersistence(filepath=args.data)
    application = (
        Application.builder()
        .token(args.token)
        .base_url(f"{args.api}/bot")
        .base_file_url(f"{args.api}/file/bot")
        .updater(None)
        .persistence(persistence)
        # Each artisan has one message in flight at a time, as with Karakana's load; without
        # this PTB handles the whole bot's updates one after another.
        .concurrent_updates(args.concurrent)
        .build()
    )
    application.add_handler(conversation())

    async def telegram(request: Request) -> Response:
        header = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(header.encode(), args.secret.encode()):
            return Response(status_code=403)
        await application.update_queue.put(
            Update.de_json(data=await request.json(), bot=application.bot)
        )
        return Response()

    app = Starlette(routes=[Route("/telegram/webhook", telegram, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    )
    async with application:
        await application.start()
        await server.serve()
        await application.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the Bot API's base URL (no /bot)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--data", required=True, help="the PicklePersistence file")
    parser.add_argument("--concurrent", type=int, default=64, help="concurrent_updates (0: off)")
    arguments = parser.parse_args()
    arguments.concurrent = arguments.concurrent or False
    asyncio.run(main(arguments))
