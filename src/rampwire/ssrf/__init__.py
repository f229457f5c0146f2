"""The SSRF guard: which hosts a webhook may be delivered to, checked again at connect time.

One :class:`~.policy.TargetPolicy` and the places that apply it (:mod:`.policy`,
:mod:`.names`, :mod:`.wire`; addresses are classed in :mod:`.addresses`):

* :func:`check_url`, static and before DNS, when an endpoint is created and before each attempt:
  scheme, userinfo, port, length, fragment, IP-literal hosts (non-canonical numeric forms such as
  ``127.1`` or ``0x7f000001`` are refused outright) and ``localhost`` names.
* :func:`resolve_and_check` resolves a name and refuses it if *any* address is not public.
* :class:`~.wire.WireClient`, the one HTTP/1.1 client of every outbound call under a policy
  (deliveries, the simulator, the authorization callback): every URL passes :func:`check_url`,
  every new connection is opened to an address :func:`resolve_and_check` checked, so a name
  that re-binds to 127.0.0.1 after the static check is refused. It follows no redirect and
  knows no proxy, so nothing it connects to escapes the checks.

Addresses are classified by explicit tables (:func:`classify`), not by ``ipaddress.is_private``,
whose answers differ between Python releases. IPv6 forms that embed an IPv4 address (mapped,
translated, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the embedded address.

Refusals raise :class:`ForbiddenTarget`. It is a ``BadRequest`` (the API renders a 400 problem
``forbidden_target``) and an ``OSError``, which :class:`~.wire.WireClient` raises as it is::

    RampwireError
    └── ClientError
        └── BadRequest
            └── ForbiddenTarget      also an OSError
"""

from .addresses import AddressClass, ForbiddenTarget, IPAddress, IPNetwork, classify, embedded_ipv4
from .names import resolve_and_check
from .policy import (
    ALLOW_PRIVATE_ENV,
    ALLOWLIST_ENV,
    HTTPS_ONLY_ENV,
    MAX_URL_LENGTH,
    PORTS_ENV,
    ParsedTarget,
    TargetPolicy,
    check_address,
    check_request_url,
    check_url,
)
from .wire import Answer, AnswerError, WireClient

__all__ = [
    "ALLOWLIST_ENV",
    "ALLOW_PRIVATE_ENV",
    "HTTPS_ONLY_ENV",
    "MAX_URL_LENGTH",
    "PORTS_ENV",
    "AddressClass",
    "Answer",
    "AnswerError",
    "ForbiddenTarget",
    "IPAddress",
    "IPNetwork",
    "ParsedTarget",
    "TargetPolicy",
    "WireClient",
    "check_address",
    "check_request_url",
    "check_url",
    "classify",
    "embedded_ipv4",
    "resolve_and_check",
]
