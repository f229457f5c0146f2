"""Errors of the authorization callback, placed under rampwire's own HTTP errors::

    rampwire.errors.BadRequest
    └── InvalidAuthorizationConfig   400: the configuration cannot be used as given
    rampwire.errors.Unauthorized
    └── InvalidSignature             401: a callback request's HMAC signature does not verify
    rampwire.errors.Forbidden
    └── UserNotAllowed               403: the partner did not allow this user

A refused user is a decision, not an error, until the caller asks for one with
:meth:`rampwire.authorization.Decision.raise_if_refused`.
"""

from __future__ import annotations

from ..errors import BadRequest, Forbidden, Unauthorized


class InvalidAuthorizationConfig(BadRequest):
    """The authorization callback configuration is invalid."""

    code = "invalid_authorization_config"


class InvalidSignature(Unauthorized):
    """The X-Rampwire-Signature header does not verify."""

    code = "invalid_signature"


class UserNotAllowed(Forbidden):
    """The partner's authorization callback did not allow this user."""

    code = "user_not_allowed"
