"""aiogram 3 peer: a Router with FSM states in RedisStorage, behind aiogram's aiohttp webhook.

aiogram's own webhook handler (``SimpleRequestHandler``, which checks the secret token and answers
200 before handling the update in the background) on an aiohttp ``web.Application``; the
conversation's state and data in Redis (``RedisStorage``); the Bot API (here the fake Telegram)
through ``TelegramAPIServer.from_base``.

    .venv/bin/python bench/peers/aiogram_bot.py --port 8444 --api http://127.0.0.1:9000 \
        --token 123:ABC --secret s3cret --redis redis://127.0.0.1:6379/7
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for bench.*

from bench.peers import script


class Artisan(StatesGroup):
    menu = State()
    offers = State()
    offer = State()
    photos = State()
    count = State()
    confirm = State()


router = Router()


@router.message(Artisan.menu, F.text == "1")
async def menu_offers(message: Message, state: FSMContext) -> None:
    await state.set_state(Artisan.offers)
    await message.answer(script.OFFERS)


@router.message(Artisan.menu, F.text == "3")
async def menu_submit(message: Message, state: FSMContext) -> None:
    await state.set_state(Artisan.photos)
    await state.update_data(photos=0)
    await message.answer(script.PHOTOS)


@router.message(Artisan.menu, F.text.in_({"2", "5", "7"}))
async def menu_browse(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    if message.text == "5":
        await message.answer(script.EARNINGS.format(earned=data.get("submitted", 0) * 150))
    elif message.text == "2":
        await message.answer(script.JOBS.format(jobs=data.get("accepted", 0)))
    else:
        await message.answer(script.SCORE)


@router.message(Artisan.offers, F.text == "1")
async def offers(message: Message, state: FSMContext) -> None:
    await state.set_state(Artisan.offer)
    await message.answer(script.OFFER)


@router.message(Artisan.offer, F.text == "1")
async def accept(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    await state.set_state(Artisan.menu)
    await state.update_data(accepted=data.get("accepted", 0) + 1)
    await message.answer(script.ACCEPTED)


@router.message(Artisan.photos, F.photo)
async def photo(message: Message, state: FSMContext, bot: Bot) -> None:
    assert message.photo is not None
    content = await bot.download(message.photo[-1].file_id)
    assert content is not None
    data = await state.get_data()
    photos = data.get("photos", 0) + 1
    size = data.get("photo_bytes", 0) + len(content.read())
    await state.update_data(photos=photos, photo_bytes=size)
    await message.answer(script.PHOTO_SAVED.format(n=photos))


@router.message(Artisan.photos, F.text.lower() == "done")
async def photos_done(message: Message, state: FSMContext) -> None:
    await state.set_state(Artisan.count)
    await message.answer(script.HOW_MANY)


@router.message(Artisan.count, F.text.regexp(r"^\d+$"))
async def count(message: Message, state: FSMContext) -> None:
    data = await state.update_data(count=int(message.text or "0"))
    await state.set_state(Artisan.confirm)
    await message.answer(script.CONFIRM.format(count=data["count"], photos=data.get("photos", 0)))


@router.message(Artisan.confirm, F.text == "1")
async def confirm(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    await state.set_state(Artisan.menu)
    await state.update_data(submitted=data.get("submitted", 0) + data.get("count", 0))
    await message.answer(script.SUBMITTED.format(count=data.get("count", 0)))


@router.message(F.text)  # "menu", or anything else, in any state: the menu
async def menu(message: Message, state: FSMContext) -> None:
    await state.set_state(Artisan.menu)
    await message.answer(script.MENU)


def main(args: argparse.Namespace) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(args.api))
    bot = Bot(token=args.token, session=session)
    storage = RedisStorage.from_url(args.redis, key_builder=DefaultKeyBuilder(prefix="peerbench"))
    dispatcher = Dispatcher(storage=storage)
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=args.secret).register(
        app, path="/telegram/webhook"
    )
    setup_application(app, dispatcher, bot=bot)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the Bot API's base URL (no /bot)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    main(parser.parse_args())
