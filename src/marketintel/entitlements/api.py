"""Admin endpoints for entitlements (and the caller's own view of theirs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, Field

from marketintel.api import problems
from marketintel.api.params import NO_NUL
from marketintel.api.problems import Problem
from marketintel.api.responses import FastJSON
from marketintel.api.security import admin, gate_of
from marketintel.auth.models import Principal
from marketintel.entitlements import service
from marketintel.entitlements.models import CHANNELS, PRODUCTS

router = APIRouter(tags=["admin"])
Admin = Annotated[Principal, Depends(admin())]


# Each named once: a repeat would otherwise be granted twice in one transaction (a unique-key violation).
Names = Annotated[list[str], AfterValidator(lambda names: list(dict.fromkeys(names)))]


class GrantRequest(BaseModel):
    tenant: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    markets: Names = Field(min_length=1)
    products: Names = Field(default=list(PRODUCTS), min_length=1)
    channels: Names = Field(default=list(CHANNELS), min_length=1)


def _sessions(request: Request) -> Any:
    return request.app.state.sessions


@router.get("/admin/entitlements", response_class=FastJSON)
def list_entitlements(
    request: Request,
    caller: Admin,
    tenant: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
) -> Any:
    with _sessions(request)() as session:
        return FastJSON({"items": [g.__dict__ for g in service.list_grants(session, tenant)]})


def _change(request: Request, body: GrantRequest, caller: Principal, granting: bool) -> FastJSON:
    with _sessions(request)() as session:
        try:
            if granting:
                n = service.grant(
                    session, body.tenant, body.markets, body.products, body.channels, caller.subject
                )
            else:
                n = service.revoke(session, body.tenant, body.markets, body.products, body.channels)
        except ValueError as exc:
            raise Problem(422, str(exc), kind="invalid-parameter") from None
        session.commit()
    gate_of(request).entitlements.reload()
    return FastJSON({"granted" if granting else "revoked": n})


@router.post("/admin/entitlements", response_class=FastJSON, responses=problems.responses(400))
def grant(request: Request, body: GrantRequest, caller: Admin) -> Any:
    """Grant every combination of the markets, products and channels to a tenant."""
    return _change(request, body, caller, granting=True)


@router.post("/admin/entitlements/revoke", response_class=FastJSON, responses=problems.responses(400))
def revoke(request: Request, body: GrantRequest, caller: Admin) -> Any:
    """Revoke every combination of the markets, products and channels from a tenant."""
    return _change(request, body, caller, granting=False)
