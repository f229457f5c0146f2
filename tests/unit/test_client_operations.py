"""The client and the API cannot drift: every operation of ``/openapi.json`` (read at run
time from the app) has a client method in ``OPERATIONS``, every entry there is still an
operation, and both clients have every method named; the sync client mirrors every public
method of the async resources."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from rampwire.api import create_app
from rampwire.client import OPERATIONS, AsyncClient, Client
from rampwire.client.blocking import SyncResource
from rampwire.settings import Settings

_METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def operations(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    data = Path(tmp_path_factory.mktemp("openapi"))
    app = create_app(Settings.from_env({"RAMPWIRE_DATA_DIR": str(data)}))
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in _METHODS
    }


def test_every_operation_has_a_client_method(operations: set[tuple[str, str]]) -> None:
    assert sorted(operations - OPERATIONS.keys()) == []


def test_every_mapped_operation_still_exists(operations: set[tuple[str, str]]) -> None:
    assert sorted(OPERATIONS.keys() - operations) == []


def test_both_clients_have_every_mapped_method() -> None:
    missing = []
    async_client = AsyncClient("http://127.0.0.1:9", api_key="k")
    sync_client = Client("http://127.0.0.1:9", api_key="k")
    try:
        for name in sorted(set(OPERATIONS.values())):
            resource, method = name.split(".")
            for client in (async_client, sync_client):
                if not callable(getattr(getattr(client, resource, None), method, None)):
                    missing.append(f"{type(client).__name__}.{name}")
    finally:
        sync_client.close()
    assert missing == []


def test_the_sync_client_mirrors_every_async_method() -> None:
    sync_client = Client("http://127.0.0.1:9", api_key="k")
    try:
        missing = []
        for name, resource in vars(sync_client).items():
            if not isinstance(resource, SyncResource):
                continue
            inner = resource._inner
            for method, _ in inspect.getmembers(type(inner), inspect.isfunction):
                if not method.startswith("_") and not hasattr(type(resource), method):
                    missing.append(f"{name}.{method}")
    finally:
        sync_client.close()
    assert missing == []


def test_the_client_package_exports_what_its_all_says() -> None:
    import rampwire.client as package

    assert all(hasattr(package, name) for name in package.__all__)
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }  # annotations: the __future__ import
    assert public == set(package.__all__) - {"records"}
