"""The replies both peer bots give: the same chat as Karakana's benchmark script.

The menu, the offers, one offer, ACCEPT, the menu, submitting finished work (photos, ``done``, a
count, a confirmation), then browsing (earnings, jobs, score). Texts are short English stand-ins
for Karakana's; what matters for the benchmark is one reply for each message, with the state of
the conversation kept between messages by the peer's own persistence.
"""

from __future__ import annotations

MENU = (
    "Karakana menu\n1 Job offers\n2 My jobs\n3 Submit finished work\n4 Help\n"
    "5 My earnings\n6 Language\n7 My score"
)
OFFERS = "Your offers:\n1 Horn crescent x10, KES 150 each, due in 28 days"
OFFER = "Horn crescent x10 for Bench Retail Ltd.\n1 Accept all\n2 Accept some\n3 Decline"
ACCEPTED = "Accepted: 10 horn crescents. Reply menu for the menu."
PHOTOS = "Send photos of the finished pieces, then reply done."
PHOTO_SAVED = "Photo {n} saved. Send another or reply done."
HOW_MANY = "How many pieces are finished?"
CONFIRM = "Submit {count} pieces with {photos} photo(s)?\n1 Yes\n2 No"
SUBMITTED = "Submitted: {count} pieces. An agent will check them."
EARNINGS = "Earnings: KES {earned} this month."
JOBS = "Your jobs: {jobs} open."
SCORE = "Your score: 4.8"
NOT_UNDERSTOOD = "Sorry, I did not understand. Reply menu for the menu."
