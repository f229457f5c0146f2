import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from rampwire.cache import Loaded
from rampwire.errors import NotFound

log = logging.getLogger("test")


class _Source:
    """Counts loads; each waits for ``release`` and answers ``value`` or raises ``error``."""

    def __init__(self) -> None:
        self.calls = 0
        self.value = "v1"
        self.error: Exception | None = None
        self.release = asyncio.Event()
        self.release.set()

    async def load(self, key: str) -> str:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return f"{key}:{self.value}"


def _cache(source: _Source, *, ttl_s: float = 60.0, refresh_s: float = 0.0) -> Loaded[str, str]:
    return Loaded(source.load, ttl_s=ttl_s, refresh_s=refresh_s, name="thing", log=log)


async def test_callers_of_a_missing_key_share_one_load_and_then_the_cached_value() -> None:
    source = _Source()
    source.release.clear()
    cache = _cache(source)
    callers = [asyncio.create_task(cache.get("a")) for _ in range(100)]
    await asyncio.sleep(0)
    source.release.set()
    assert await asyncio.gather(*callers) == ["a:v1"] * 100
    assert source.calls == 1
    assert await cache.get("a") == "a:v1"
    assert await cache.get("b") == "b:v1"
    assert source.calls == 2


async def test_an_expired_value_is_loaded_again() -> None:
    source = _Source()
    cache = _cache(source, ttl_s=0.01)
    assert await cache.get("a") == "a:v1"
    source.value = "v2"
    await asyncio.sleep(0.02)
    assert await cache.get("a") == "a:v2"
    assert source.calls == 2


async def _get(cache: Loaded[str, str], key: str) -> str | None:
    return await cache.get(key)


async def _fresh(cache: Loaded[str, str], key: str) -> str | None:
    return cache.fresh(key)  # a plain call: nothing awaited


@pytest.mark.parametrize("read", [_get, _fresh], ids=["get", "fresh"])
async def test_a_value_about_to_expire_is_served_while_it_is_reloaded(
    read: Callable[[Loaded[str, str], str], Awaitable[str | None]],
) -> None:
    """By get(), and by fresh() as get() does."""
    source = _Source()
    cache = _cache(source, ttl_s=60.0, refresh_s=61.0)  # always in its refresh window
    assert await cache.get("a") == "a:v1"
    source.value = "v2"
    source.release.clear()
    assert await read(cache, "a") == "a:v1"  # served at once; the reload waits
    assert await read(cache, "a") == "a:v1"  # one reload at a time
    await asyncio.sleep(0)
    assert source.calls == 2
    source.release.set()
    await asyncio.sleep(0.01)
    assert await read(cache, "a") == "a:v2"


async def test_forget_reads_again_and_a_load_in_progress_does_not_cache_its_answer() -> None:
    source = _Source()
    cache = _cache(source)
    assert await cache.get("a") == "a:v1"
    source.release.clear()
    source.value = "v2"
    cache.forget("a")
    stale = asyncio.create_task(cache.get("a"))
    await asyncio.sleep(0)
    cache.forget("a")  # the source changed again while it was being read
    source.value = "v3"
    source.release.set()
    assert await stale == "a:v3"  # its caller gets what the load read
    assert await cache.get("a") == "a:v3"
    assert source.calls == 3  # ... but nothing read before the second forget was kept


async def test_an_error_reaches_every_waiting_caller_and_is_not_cached() -> None:
    source = _Source()
    source.error = NotFound("no thing 'a'")
    source.release.clear()
    cache = _cache(source)
    callers = [asyncio.create_task(cache.get("a")) for _ in range(3)]
    await asyncio.sleep(0)
    source.release.set()
    for result in await asyncio.gather(*callers, return_exceptions=True):
        assert isinstance(result, NotFound)
    assert source.calls == 1
    source.error = None
    assert await cache.get("a") == "a:v1"
    assert source.calls == 2


async def test_a_cancelled_caller_does_not_cancel_the_load_others_wait_for() -> None:
    source = _Source()
    source.release.clear()
    cache = _cache(source)
    first = asyncio.create_task(cache.get("a"))
    second = asyncio.create_task(cache.get("a"))
    await asyncio.sleep(0)
    first.cancel()
    source.release.set()
    assert await second == "a:v1"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert source.calls == 1


async def test_close_cancels_the_loads_in_progress() -> None:
    source = _Source()
    source.release.clear()
    cache = _cache(source)
    waiting = asyncio.create_task(cache.get("a"))
    await asyncio.sleep(0)
    cache.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_the_cache_never_holds_more_than_max_entries_the_oldest_loads_going_first() -> None:
    source = _Source()
    cache = Loaded(source.load, ttl_s=60.0, refresh_s=0.0, name="thing", log=log, max_entries=8)
    for number in range(1_000):
        assert await cache.get(f"k{number}") == f"k{number}:v1"
        assert len(cache) <= 8
    calls = source.calls
    assert await cache.get("k999") == "k999:v1"  # among the newest: still cached
    assert source.calls == calls
    assert await cache.get("k0") == "k0:v1"  # dropped long ago: loaded again
    assert source.calls == calls + 1


async def test_expired_values_are_dropped_when_another_value_is_stored() -> None:
    source = _Source()
    cache = _cache(source, ttl_s=0.01)
    for number in range(5):
        await cache.get(f"k{number}")
    await asyncio.sleep(0.02)  # all five expired; nothing reads them again
    await cache.get("new")
    assert len(cache) == 1


def test_max_entries_must_be_positive() -> None:
    source = _Source()
    with pytest.raises(ValueError, match="max_entries"):
        Loaded(source.load, ttl_s=1.0, refresh_s=0.0, name="thing", log=log, max_entries=0)


async def test_fresh_is_what_get_answers_without_waiting_and_none_when_get_would_load() -> None:
    source = _Source()
    cache = _cache(source, ttl_s=0.05, refresh_s=0.0)
    assert cache.fresh("a") is None  # not kept: get() loads it
    assert source.calls == 0
    assert await cache.get("a") == "a:v1"
    assert cache.fresh("a") == "a:v1"
    await asyncio.sleep(0.06)
    assert cache.fresh("a") is None  # expired: get() loads it again
    assert source.calls == 1
