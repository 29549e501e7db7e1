"""The artisan's main menu, in the order shown."""

from __future__ import annotations

from conversations.artisan.earnings import earnings
from conversations.artisan.flows import (
    delivery,
    materials,
    offers,
    optional_answers,
    submit_work,
    talk_to_person,
)
from conversations.artisan.mpesa import mpesa_number
from conversations.artisan.my_jobs import my_jobs
from conversations.artisan.my_score import my_score
from conversations.artisan.statements import statement_menu
from conversations.channel_choice import where_we_message_you
from conversations.flows.menu import MenuItem
from conversations.i18n import N_
from conversations.questions import TALK_MENU_KEY

MENU: tuple[MenuItem, ...] = (
    MenuItem("offers", N_("menu.item.offers"), offers.menu_offers),
    MenuItem("jobs", N_("menu.item.jobs"), my_jobs),
    MenuItem("submit", N_("menu.item.submit"), submit_work.menu_submit),
    MenuItem("delivery", N_("menu.item.delivery"), delivery.menu_delivery),
    MenuItem("earnings", N_("menu.item.earnings"), earnings),
    MenuItem("statement", N_("menu.item.statement"), statement_menu),
    MenuItem("answers", N_("menu.item.optional_answers"), optional_answers.menu_optional_answers),
    MenuItem("materials", N_("menu.item.materials"), materials.menu_materials),
    MenuItem("score", N_("menu.item.score"), my_score),
    MenuItem("mpesa", N_("menu.item.mpesa"), mpesa_number),
    MenuItem("channel", N_("menu.item.channel"), where_we_message_you),
    MenuItem(TALK_MENU_KEY, N_("questions.menu_item"), talk_to_person.menu_talk),
)
