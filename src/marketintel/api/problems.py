"""RFC 9457 problem details: every error the gateway returns says what was wrong, with which parameter.

Handlers turn our `Problem`, Starlette's HTTPException, request validation errors and anything unexpected
into `application/problem+json` bodies with `type`, `title`, `status`, `detail` and `instance`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://254carbon.com/problems/"

# What the OpenAPI promises for every problem body (extensions such as `errors` or `market` come on top).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
WHY = {
    400: "The request body cannot be read (not UTF-8 JSON)",
    401: "No credentials, or credentials that are not (or no longer) valid",
    403: "Not entitled to this market, product or channel, or not allowed to do this",
    404: "No such instrument, series, curve, key or route",
    422: "A parameter is invalid; `detail` and `errors` name it",
    429: "Over the tenant's request budget; `Retry-After` says when to come back",
}


class Problem(Exception):
    """An error to answer with; `kind` names it in the type URI (e.g. 'not-entitled')."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    request: Request,
    status: int,
    detail: str,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    title = HTTPStatus(status).phrase
    body = {
        "type": TYPE_BASE + (kind or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extensions,
    }
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries of problems an endpoint may answer with."""
    return {
        status: {"description": WHY[status], "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}
        for status in statuses
    }


def _where(location: tuple[Any, ...]) -> str:
    """'query parameter start', 'body field tenant', from a validation error's location."""
    if not location:
        return "request"
    kind, *path = location
    if kind == "body" and not path:
        return "request body"
    name = ".".join(str(p) for p in path) or "value"
    return {
        "query": "query parameter",
        "path": "path parameter",
        "header": "header",
        "body": "body field",
    }.get(str(kind), str(kind)) + f" '{name}'"


def validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [
        {"parameter": _where(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "input": e.get("input")}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
    return detail, [
        {k: v for k, v in e.items() if k != "input" or isinstance(v, str | int | float)} for e in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc.status, exc.detail, exc.kind, exc.headers, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        detail, errors = validation_detail(exc)
        return problem_response(request, 422, detail, "invalid-parameter", errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such route: {request.method} {request.url.path}"
        return problem_response(request, exc.status_code, detail, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, f"internal error ({type(exc).__name__}); it has been logged")
