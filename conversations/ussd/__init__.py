"""USSD: the menu an artisan without a smartphone dials (Africa's Talking), screen by screen.

``menu.py`` takes one step of a session in one transaction and says how that maps onto the
conversation engine; ``screens.py`` is what each screen shows and does; ``menu.mmd`` draws it.
"""
