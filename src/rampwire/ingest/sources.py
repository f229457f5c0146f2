"""Sources: the providers rampwire receives webhooks from, each with its own credentials.

A source is a provider, its credentials and its options; it has its own inbound URL,
``/ingest/{source_id}``. What each provider needs to be verified:

==========  ===================================================================================
revolut     ``secrets``: the webhook signing secrets (``wsk_...``), newest first
saber       ``mode`` (``hmac``, ``token``, ``ip_allowlist``) and what it needs: ``secrets``,
            ``url_token`` or ``allowed_networks``
fireblocks  ``jwks`` (a JWKS document) and/or ``public_keys`` (PEM); no network is needed
koywe       ``secret``: the secret the partner chose
transak     ``access_token`` and, during a rotation, ``previous_access_token``
==========  ===================================================================================

Credentials are validated by building the dialect's credentials from them, so a source that is
stored can always verify; they are stored encrypted with the master key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ..dialects import (
    FireblocksCredentials,
    KoyweCredentials,
    RevolutCredentials,
    SaberAuth,
    SaberCredentials,
    TransakCredentials,
)
from ..dialects.errors import DialectError
from ..dialects.jose import PublicKey, load_jwks, load_public_pem
from ..dialects.saber import networks
from ..domain.orders import Provider, Side
from ..domain.serde import error_reason
from ..settings import Secret

SOURCE_ID_PREFIX = "src"
MAX_SECRETS = 5
MAX_TOLERANCE_S = 3600

SecretText = Annotated[str, StringConstraints(min_length=8, max_length=4096, strip_whitespace=True)]


class SourceError(ValueError):
    """A source setting is invalid; ``field`` names it."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RevolutIn(_Strict):
    secrets: list[SecretText] = Field(min_length=1, max_length=MAX_SECRETS)


class SaberIn(_Strict):
    mode: SaberAuth = SaberAuth.HMAC
    secrets: list[SecretText] = Field(default_factory=list, max_length=MAX_SECRETS)
    url_token: SecretText | None = None
    allowed_networks: list[str] = Field(default_factory=list, max_length=100)


class FireblocksIn(_Strict):
    jwks: dict[str, Any] | None = None
    public_keys: list[Annotated[str, StringConstraints(max_length=16384)]] = Field(
        default_factory=list, max_length=MAX_SECRETS
    )


class KoyweIn(_Strict):
    secret: SecretText


class TransakIn(_Strict):
    access_token: SecretText
    previous_access_token: SecretText | None = None


class Options(_Strict):
    """Per-source options; each applies only where the provider has the matching check."""

    tolerance_seconds: int | None = Field(None, ge=1, le=MAX_TOLERANCE_S)  # signed-time window
    accept_legacy_signature: bool = False  # Fireblocks' older Fireblocks-Signature header
    default_side: Side | None = None  # for orders first seen in an event that names no side


CREDENTIAL_MODELS: Mapping[Provider, type[_Strict]] = {
    Provider.REVOLUT: RevolutIn,
    Provider.SABER: SaberIn,
    Provider.FIREBLOCKS: FireblocksIn,
    Provider.KOYWE: KoyweIn,
    Provider.TRANSAK: TransakIn,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestSource:
    """A provider account rampwire receives from. ``credentials`` hold secrets: never log it."""

    id: str
    provider: Provider
    name: str
    credentials: Mapping[str, Any]
    options: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None = None
    partner_id: str | None = None  # the partner whose orders it receives; None: the operator's

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    @property
    def default_side(self) -> Side | None:
        """The side of an order first seen in an event that names none (``None``: such an event
        cannot create it)."""
        side = self.options.get("default_side")
        return None if side is None else Side(side)


def _location(error: Mapping[str, Any], prefix: str) -> str:
    parts = [str(part) for part in error["loc"]]
    return ".".join([prefix, *parts]) if parts else prefix


def check_credentials(
    provider: Provider, credentials: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validated credentials and options as plain JSON values; raise :class:`SourceError`."""
    model = CREDENTIAL_MODELS[provider]
    try:
        creds = model.model_validate(credentials)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SourceError(_location(first, "credentials"), error_reason(first)) from exc
    try:
        opts = Options.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SourceError(_location(first, "options"), error_reason(first)) from exc
    plain = creds.model_dump(mode="json", exclude_defaults=True)
    options_plain = opts.model_dump(mode="json", exclude_defaults=True)
    build_credentials(provider, plain, options_plain)  # the dialect must accept them
    return plain, options_plain


def build_credentials(
    provider: Provider, credentials: Mapping[str, Any], options: Mapping[str, Any]
) -> Any:
    """The dialect's credentials for a stored source; raise :class:`SourceError`."""
    opts = Options.model_validate(options)
    tolerance = (
        None if opts.tolerance_seconds is None else timedelta(seconds=opts.tolerance_seconds)
    )
    window: dict[str, Any] = {} if tolerance is None else {"tolerance": tolerance}
    try:
        match provider:
            case Provider.REVOLUT:
                secrets = tuple(Secret(s) for s in credentials["secrets"])
                return RevolutCredentials(secrets=secrets, **window)
            case Provider.SABER:
                saber = SaberIn.model_validate(credentials)
                token = None if saber.url_token is None else Secret(saber.url_token)
                return SaberCredentials(
                    mode=saber.mode,
                    secrets=tuple(Secret(s) for s in saber.secrets),
                    url_token=token,
                    allowed_networks=networks(saber.allowed_networks),
                    **window,
                )
            case Provider.FIREBLOCKS:
                keys: list[PublicKey] = []
                if credentials.get("jwks") is not None:
                    keys.extend(load_jwks(credentials["jwks"]))
                keys.extend(load_public_pem(pem) for pem in credentials.get("public_keys", ()))
                if not keys:
                    raise SourceError("credentials", "give a jwks document or public_keys (PEM)")
                return FireblocksCredentials(
                    verify_keys=tuple(keys),
                    accept_legacy_signature=opts.accept_legacy_signature,
                )
            case Provider.KOYWE:
                return KoyweCredentials(secrets=(Secret(credentials["secret"]),), **window)
            case Provider.TRANSAK:
                tokens = [credentials["access_token"]]
                if credentials.get("previous_access_token"):
                    tokens.append(credentials["previous_access_token"])
                return TransakCredentials(access_tokens=tuple(Secret(t) for t in tokens), **window)
    except DialectError as exc:
        raise SourceError("credentials", exc.message) from exc
    raise SourceError("provider", f"{provider.value} has no credentials schema")  # pragma: no cover
