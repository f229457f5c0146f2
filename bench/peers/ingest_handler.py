"""The ingest peer: a webhook handler as a team would write it by hand with FastAPI and asyncpg,
for the two providers ``bench/ingest.py``'s load generator sends (Revolut: an HMAC header;
Transak: an HS256 JWT in the body). Per request: verify, then in one transaction insert the raw
request and upsert the order. Runs in its own virtualenv (``venvs.FASTAPI_HANDLER``) on the same
server stack as ``rampwire serve`` (uvicorn, uvloop, httptools), imports nothing from rampwire.

    python ingest_handler.py DSN PORT REVOLUT_SECRET TRANSAK_TOKEN   # prints READY
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException, Request

WINDOW_MS = 5 * 60 * 1000  # a signed timestamp older or newer than this is refused
POOL_MAX = 10  # asyncpg's default
START_S = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_requests (
    id bigserial PRIMARY KEY, provider text NOT NULL, headers jsonb NOT NULL, body text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS orders (
    provider text NOT NULL, provider_order_id text NOT NULL, status text NOT NULL,
    data jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_order_id));
"""


def b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def revolut(request_headers: Any, body: bytes, secret: bytes) -> tuple[str, str, Any]:
    timestamp = request_headers.get("revolut-request-timestamp", "")
    offered = request_headers.get("revolut-signature", "")
    if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > WINDOW_MS:
        raise HTTPException(400, "Revolut-Request-Timestamp missing or out of the window")
    expected = hmac.new(secret, f"v1.{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(
        hmac.compare_digest(part.strip().removeprefix("v1="), expected)
        for part in offered.split(",")
    ):
        raise HTTPException(401, "bad signature")
    data = json.loads(body)
    return data["order_id"], data["event"], data


def transak(body: bytes, token: bytes) -> tuple[str, str, Any]:
    try:
        header, payload, signature = json.loads(body)["data"].split(".")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HTTPException(400, "no JWT in the data field") from exc
    expected = hmac.new(token, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(b64url(signature), expected):
        raise HTTPException(401, "bad signature")
    claims = json.loads(b64url(payload))
    order = claims["webhookData"]
    return order["id"], order["status"], claims


def make_app(dsn: str, revolut_secret: bytes, transak_token: bytes) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=POOL_MAX, max_size=POOL_MAX)
        async with app.state.pool.acquire() as conn:
            await conn.execute(SCHEMA)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/ingest/{provider}")
    async def ingest(provider: str, request: Request) -> dict[str, bool]:
        body = await request.body()
        if provider == "revolut":
            order_id, status, data = revolut(request.headers, body, revolut_secret)
        elif provider == "transak":
            order_id, status, data = transak(body, transak_token)
        else:
            raise HTTPException(404, "unknown provider")
        async with app.state.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO raw_requests (provider, headers, body) VALUES ($1, $2, $3)",
                provider,
                json.dumps(dict(request.headers)),
                body.decode(),
            )
            await conn.execute(
                "INSERT INTO orders (provider, provider_order_id, status, data)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (provider, provider_order_id) DO UPDATE"
                " SET status = excluded.status, data = excluded.data, updated_at = now()",
                provider,
                order_id,
                status,
                json.dumps(data),
            )
        return {"received": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dsn")
    parser.add_argument("port", type=int)
    parser.add_argument("revolut_secret")
    parser.add_argument("transak_token")
    args = parser.parse_args()
    app = make_app(args.dsn, args.revolut_secret.encode(), args.transak_token.encode())
    config = uvicorn.Config(  # as `rampwire serve` runs rampwire (cli.server.server_config)
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)

    def announce() -> None:
        deadline = time.monotonic() + START_S
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        print("READY" if server.started else "NOT READY", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


if __name__ == "__main__":
    main()
