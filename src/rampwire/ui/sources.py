"""Sources: the providers rampwire receives webhooks from, each with its refusal counters, and
a new source with that provider's own credential form (Revolut's signing secrets, Saber's mode
and what it needs, Fireblocks' JWKS or PEM keys, Koywe's secret, Transak's access tokens).

The form becomes the API's ``SourceIn`` and is stored by the API's own ``create``, so the
credentials are checked by the dialect exactly as a ``POST /v1/sources`` is; a refused form is
shown again with the reason (400), its secrets left blank, nothing stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..api.partners import partner_id
from ..api.sources import SourceIn, create, source_id
from ..dialects.saber import SaberAuth
from ..domain.apikeys import Scope
from ..domain.orders import Provider, Side
from ..errors import BadRequest
from ..types import utcnow
from .context import Dashboard, to_login
from .forms import REFUSED, checked, json_object, lines, model, text
from .pages import choice
from .sessions import Session


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str  # secret (one line, hidden), lines (one per line), json, pem, choice
    help: str = ""
    choices: tuple[str, ...] = ()


CREDENTIAL_FIELDS: dict[Provider, tuple[Field, ...]] = {
    Provider.REVOLUT: (
        Field("secrets", "Signing secrets", "lines", "wsk_..., newest first, one per line"),
    ),
    Provider.SABER: (
        Field(
            "mode",
            "Authentication",
            "choice",
            "how Saber proves a webhook is its own",
            tuple(m.value for m in SaberAuth),
        ),
        Field("secrets", "HMAC secrets", "lines", "mode hmac: one per line"),
        Field("url_token", "URL token", "secret", "mode token"),
        Field(
            "allowed_networks",
            "Allowed networks",
            "lines",
            "mode ip_allowlist: addresses or CIDR networks, one per line",
        ),
    ),
    Provider.FIREBLOCKS: (
        Field("jwks", "JWKS", "json", "Fireblocks' published JSON Web Key Set"),
        Field("public_keys", "Public keys (PEM)", "pem", "one or more PEM blocks"),
    ),
    Provider.KOYWE: (Field("secret", "Secret", "secret", "the secret chosen for Koywe"),),
    Provider.TRANSAK: (
        Field("access_token", "Access token", "secret", "signs the webhook's JWT"),
        Field("previous_access_token", "Previous access token", "secret", "during a rotation only"),
    ),
}


def _pems(raw: str) -> list[str]:
    """PEM blocks pasted one after the other, each kept whole."""
    blocks, current = [], []
    for line in raw.strip().splitlines():
        current.append(line)
        if line.startswith("-----END"):
            blocks.append("\n".join(current) + "\n")
            current = []
    if any(line.strip() for line in current):
        blocks.append("\n".join(current))  # not a whole block: the dialect names what is wrong
    return blocks


def credentials_from(provider: Provider, fields: dict[str, str]) -> dict[str, Any]:
    """The provider's credentials as the API takes them; blank fields are not given."""
    found: dict[str, Any] = {}
    for f in CREDENTIAL_FIELDS[provider]:
        key = f"c_{f.name}"
        value: Any
        match f.kind:
            case "lines":
                value = lines(fields, key) or None
            case "json":
                value = json_object(fields, key)
            case "pem":
                value = _pems(fields.get(key, "")) or None
            case _:
                value = text(fields, key)
        if value is not None:
            found[f.name] = value
    return found


def options_from(fields: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if (tolerance := text(fields, "tolerance_seconds")) is not None:
        options["tolerance_seconds"] = tolerance
    if (side := text(fields, "default_side")) is not None:
        options["default_side"] = side
    if checked(fields, "accept_legacy_signature"):
        options["accept_legacy_signature"] = True
    return options


def add_sources(router: APIRouter, ui: Dashboard) -> None:
    async def page(
        request: Request,
        session: Session,
        *,
        error: str | None = None,
        fields: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        app = ui.app(request)
        q = request.query_params
        whose = q.get("partner") or None
        provider = choice("provider", q.get("provider"), Provider)
        sent = (fields or {}).get("provider")
        if provider is None and sent in set(Provider):
            provider = Provider(sent)  # a refused form is shown again for its provider
        found = await app.sources.all(limit=200, partner_id=partner_id(whose) if whose else None)
        partners = await app.partners.find(limit=200)
        shown = {k: v for k, v in (fields or {}).items() if k == "c_mode" or not k.startswith("c_")}
        return ui.pages.render(
            request,
            "sources.html",
            session=session,
            sources=found,
            stats=app.ingestor.stats,
            names={p.id: p.name for p in partners},
            partners=partners,
            providers=[p.value for p in Provider],
            provider=provider,
            credential_fields=CREDENTIAL_FIELDS.get(provider, ()) if provider else (),
            sides=[s.value for s in Side],
            form=shown,
            q=dict(q),
            error=error,
            notice=q.get("done"),
            status=status,
        )

    @router.get("/ui/sources", include_in_schema=False)
    async def sources(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        return await page(request, session)

    @router.post("/ui/sources", include_in_schema=False)
    async def new_source(request: Request) -> Response:
        session, fields = await ui.writer(request, Scope.WRITE)
        if session is None:
            return to_login(request)
        try:
            provider = choice("provider", fields.get("provider"), Provider)
            if provider is None:
                raise BadRequest("provider: choose the provider first")
            owner = fields.get("partner") or None
            if owner is not None:
                owner = (await ui.app(request).partners.get(partner_id(owner))).id
            body = model(
                SourceIn,
                {
                    "provider": provider.value,
                    "name": fields.get("name", "").strip(),
                    "credentials": credentials_from(provider, fields),
                    "options": options_from(fields),
                    "enabled": not checked(fields, "disabled"),
                },
            )
            made = await create(request, body, owner)
        except REFUSED as exc:
            return await page(request, session, error=exc.message, fields=fields, status=400)
        return RedirectResponse(f"/ui/sources?done=source+{made.id}+created", status_code=303)

    @router.post("/ui/sources/{source_ref}/enabled", include_in_schema=False)
    async def toggle(request: Request, source_ref: str) -> Response:
        session, fields = await ui.writer(request, Scope.WRITE)
        if session is None:
            return to_login(request)
        app = ui.app(request)
        enabled = fields.get("enabled") == "true"
        updated = await app.sources.update(source_id(source_ref), now=utcnow(), enabled=enabled)
        app.ingestor.forget(updated.id)
        state = "enabled" if enabled else "disabled"
        return RedirectResponse(f"/ui/sources?done={updated.id}+{state}", status_code=303)


__all__ = ["CREDENTIAL_FIELDS", "add_sources"]
