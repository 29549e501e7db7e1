"""The console's routes under ``/console``: the login pages, then every page behind the guard
(``app.guarded``) with the roles that may see it. Field agents see the artisans of their areas;
everything else is for admins."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot.console import exports, money, pages
from bot.console.app import (
    STAFF,
    STATIC,
    Console,
    ask_for_code,
    enter_code,
    guarded,
    login_page,
    logout,
)
from bot.console.auth import Staff
from domain.model import Role

STYLE = (STATIC / "console.css").read_bytes()


async def _start(console: Console, request: Request, staff: Staff) -> Response:
    """The first page: the factory for admins, the artisans of their areas for field agents."""
    target = "/console/factory" if staff.person.role is Role.ADMIN else "/console/artisans"
    return RedirectResponse(target, status_code=303)


def console_routes(console: Console) -> list[BaseRoute]:
    async def home(request: Request) -> Response:
        return RedirectResponse("/console/", status_code=307)

    async def style(request: Request) -> Response:
        return Response(
            STYLE, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    def admins(path: str, page: object, method: str = "GET") -> Route:
        return Route(path, guarded(console, page), methods=[method])  # type: ignore[arg-type]

    routes: list[BaseRoute] = [
        Route("/", guarded(console, _start, STAFF), methods=["GET"]),
        Route("/static/console.css", style, methods=["GET"]),
        Route("/login", partial(login_page, console), methods=["GET"]),
        Route("/login", partial(ask_for_code, console), methods=["POST"]),
        Route("/login/code", partial(enter_code, console), methods=["POST"]),
        Route("/logout", guarded(console, logout, STAFF), methods=["POST"]),
        admins("/factory", pages.factory),
        admins("/orders", pages.orders),
        admins("/orders/{order_id}", pages.order),
        admins("/orders/{order_id}/confirm", pages.confirm, "POST"),
        admins("/jobs", pages.jobs),
        Route("/artisans", guarded(console, pages.artisans, STAFF), methods=["GET"]),
        Route("/artisans/{artisan_id}", guarded(console, pages.artisan, STAFF), methods=["GET"]),
        admins("/payouts", money.payouts),
        admins("/payouts/{batch_id}", money.batch),
        admins("/payouts/{batch_id}/approve", money.confirm_approval),
        admins("/payouts/{batch_id}/approve", money.approve, "POST"),
        admins("/impact", money.impact),
        admins("/impact/chart.png", money.impact_chart),
        admins("/exports", exports.index),
        admins("/exports/{name}.csv", exports.download),
    ]
    return [Route("/console", home, methods=["GET"]), Mount("/console", routes=routes)]
