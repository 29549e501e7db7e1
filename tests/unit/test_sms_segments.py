"""SMS is paid by the segment: GSM 03.38 counting, the compact rendering, and every catalogue
message rendered for SMS in English and Kiswahili, the common ones in one segment."""

from __future__ import annotations

import pytest

from conversations.i18n import default_catalogue, placeholders, read_catalog
from conversations.messages import Choice, Reply
from conversations.registry import REGISTRY
from conversations.sms import (
    Encoding,
    code_for,
    compact,
    count_segments,
    is_gsm7,
    render,
)
from domain.model import Language

WORDS = {n: c.words for n, c in REGISTRY.commands.table.items() if c.words}
CATALOGUE = default_catalogue()

# Long but real values: a component name as long as the catalogue's, big sums, long dates.
SAMPLE = {
    "id": "1234",
    "quantity": "150",
    "component": "Horn pendant, large",
    "rate": "KES 1,250",
    "total": "KES 187,500",
    "due": "Wednesday 16 December",
    "amount": "187,500",
    "receipt": "QK12ABCD34",
    "date": "Wednesday 16 December",
    "name": "Wanjiku Njeri",
    "days": "12",
    "count": "150",
}
# Reminders write their date as numbers (conversations/reminders.py: numeric_date).
NUMERIC_DUE = {"reminders.due_soon", "reminders.overdue"}
# The business messages most people get most often: each must fit one segment.
COMMON = ("sms.offer", "reminders.due_soon", "reminders.overdue", "payouts.receipt")
MOST_SEGMENTS = 3  # the longest help and refusal texts; nothing may grow past this unnoticed


# --- counting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", Encoding.GSM7, 0, 1),
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("€" * 80, Encoding.GSM7, 160, 1),  # extension characters take two septets
        ("€" * 81, Encoding.GSM7, 162, 2),
        ("a" * 152 + "€" + "a" * 10, Encoding.GSM7, 164, 2),  # the escape pair is not split
        ("a" * 152 + "€" + "a" * 152, Encoding.GSM7, 306, 3),
        ("ä@£¥èÑ§¿", Encoding.GSM7, 8, 1),  # the basic table is more than ASCII
        ("ş" * 70, Encoding.UCS2, 70, 1),
        ("ş" * 71, Encoding.UCS2, 71, 2),
        ("ş" * 134, Encoding.UCS2, 134, 2),
        ("ş" * 135, Encoding.UCS2, 135, 3),
        ("a" * 66 + "😀" + "a", Encoding.UCS2, 69, 1),  # a surrogate pair is two units
        ("a" * 66 + "😀" + "a" * 4, Encoding.UCS2, 72, 2),
    ],
)
def test_segments_follow_gsm_03_38(text: str, encoding: str, units: int, count: int) -> None:
    found = count_segments(text)
    assert (found.encoding, found.units, found.count) == (encoding, units, count)


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    # 66 units, then a pair that would straddle the 67th: it starts segment two, so 134 units
    # (two segments' worth) take three.
    assert count_segments("a" * 66 + "😀" + "a" * 65).count == 2
    assert count_segments("a" * 66 + "😀" + "a" * 66).count == 3


def test_one_character_outside_gsm7_makes_the_whole_message_ucs2() -> None:
    assert is_gsm7("Habari [12] {x} ~ | ^ \\")
    assert not is_gsm7("Habari ✅")
    assert count_segments("a" * 100 + "✅").count == 2


# --- rendering -----------------------------------------------------------------------------


def test_compact_drops_decoration_and_keeps_gsm7() -> None:
    text = "*New job offer* ✅\n\n• 30 × Horn pendant — “soon”…\n\n\n_thanks_ 🙏"
    assert compact(text) == 'New job offer\n- 30 x Horn pendant - "soon"...\nthanks'
    assert is_gsm7(compact(text))


def test_command_choices_become_typed_codes_in_the_readers_language() -> None:
    offer = Reply(
        "Offer #12",
        choices=(
            Choice("offer:12:accept", "Accept all"),
            Choice("offer:12:part", "Accept part"),
            Choice("offer:12:decline", "Decline"),
        ),
    )
    assert render(offer, Language.SW, CATALOGUE, WORDS).splitlines()[-1] == (
        "Jibu KUBALI 12, SEHEMU 12 <idadi>, KATAA 12"
    )
    assert render(offer, Language.EN, CATALOGUE, WORDS).splitlines()[-1] == (
        "Reply ACCEPT 12, PART 12 <n>, DECLINE 12"
    )
    assert code_for(Choice("cmd:menu", "Menu"), Language.EN, WORDS) is None


def test_other_choices_are_numbered_lines_and_a_short_form_wins() -> None:
    menu = Reply("Menu", choices=(Choice("menu:offers", "Job offers"), Choice("cmd:x", "Ⓧ Help")))
    assert render(menu, Language.EN, CATALOGUE, WORDS) == "Menu\n1 Job offers\n2 Help"
    short = Reply("a very long text " * 20, short="Offer 12 ✅")
    assert render(short, Language.EN, CATALOGUE, WORDS) == "Offer 12"


def test_the_short_form_survives_the_outbox_json() -> None:
    reply = Reply("long", choices=(Choice("offer:1:accept", "Accept"),), short="short")
    assert Reply.from_json(reply.to_json()) == reply
    assert "short" not in Reply("plain").to_json()


# --- every catalogue message ---------------------------------------------------------------


def _every_message(language: Language) -> list[tuple[str, str]]:
    rendered = []
    for message in read_catalog(language):
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        forms = message.string if isinstance(message.string, tuple | list) else (message.string,)
        for form in forms:
            if form:
                values = {name: SAMPLE.get(name, "1234") for name in placeholders(form)}
                if msgid in NUMERIC_DUE:
                    values["due"] = "16/12/2026"
                rendered.append((msgid, compact(form.format(**values))))
    return rendered


@pytest.mark.parametrize("language", list(Language))
def test_every_catalogue_message_is_gsm7_and_counted(language: Language) -> None:
    rendered = _every_message(language)
    assert len(rendered) > 500
    counts = {msgid: count_segments(text) for msgid, text in rendered}
    not_gsm = sorted(msgid for msgid, segments in counts.items() if segments.encoding != "GSM-7")
    assert not_gsm == []  # one stray character would halve what every segment holds
    too_long = sorted(msgid for msgid, s in counts.items() if s.count > MOST_SEGMENTS)
    assert too_long == []
    for msgid in COMMON:
        assert counts[msgid].count == 1, (msgid, dict(rendered)[msgid])
