"""Admin endpoints for entitlements (and the caller's own view of theirs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from marketintel.api.problems import Problem
from marketintel.api.responses import FastJSON
from marketintel.api.security import admin, gate_of
from marketintel.auth.models import Principal
from marketintel.entitlements import service
from marketintel.entitlements.models import CHANNELS, PRODUCTS

router = APIRouter(tags=["admin"])
Admin = Annotated[Principal, Depends(admin())]


class GrantRequest(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    markets: list[str] = Field(min_length=1)
    products: list[str] = Field(default=list(PRODUCTS), min_length=1)
    channels: list[str] = Field(default=list(CHANNELS), min_length=1)


def _sessions(request: Request) -> Any:
    return request.app.state.sessions


@router.get("/admin/entitlements", response_class=FastJSON)
def list_entitlements(request: Request, caller: Admin, tenant: str | None = None) -> Any:
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


@router.post("/admin/entitlements", response_class=FastJSON)
def grant(request: Request, body: GrantRequest, caller: Admin) -> Any:
    """Grant every combination of the markets, products and channels to a tenant."""
    return _change(request, body, caller, granting=True)


@router.post("/admin/entitlements/revoke", response_class=FastJSON)
def revoke(request: Request, body: GrantRequest, caller: Admin) -> Any:
    """Revoke every combination of the markets, products and channels from a tenant."""
    return _change(request, body, caller, granting=False)
