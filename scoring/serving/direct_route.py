"""A FastAPI route that answers the usual request directly and leaves every other one to FastAPI.

FastAPI's request handler solves the dependency graph on every call (bearer scheme, query
parameters, body field, caches), reads the body into a dict with `json.loads` and then validates
the dict: about 110 µs more per scorer request than a bare endpoint, against 10-15 µs with the
shortcut (in-process, docs/benchmarks.md "Where a request's time goes"). The route
keeps FastAPI's declaration, so the OpenAPI schema, the 401s and the 422s stay exactly FastAPI's,
and puts a shortcut in front of its handler:

    request --> shortcut(request) --> Response ---------------------------------> answered
                        |
                        +--> None (anything unusual) --> FastAPI's handler -------> answered

The shortcut only claims requests it can answer exactly as FastAPI would, and returns None for
the rest. FastAPI's handler then runs on the same `Request`, whose body Starlette has cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

Shortcut = Callable[[Request], Awaitable[Response | None]]


def direct_route(shortcut: Shortcut) -> type[APIRoute]:
    """An APIRoute class whose handler tries `shortcut` first; None from it means FastAPI's way."""

    class DirectRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            standard = super().get_route_handler()

            async def handler(request: Request) -> Response:
                response = await shortcut(request)
                return response if response is not None else await standard(request)

            return handler

    return DirectRoute
