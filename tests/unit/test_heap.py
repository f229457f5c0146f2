import asyncio
import gc

import pytest

from rampwire import heap


def test_settled_freezes_the_heap_and_raises_the_thresholds_until_it_closes() -> None:
    before = gc.get_threshold()
    kept = object()
    with heap.settled():
        assert gc.get_threshold() == heap.THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert kept is not None
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_settled_restores_the_collector_when_the_body_raises() -> None:
    before = gc.get_threshold()
    try:
        with heap.settled():
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_trim_returns_freed_pages_where_glibc_is_the_allocator() -> None:
    assert heap.trim() is (heap._malloc_trim() is not None)


async def test_keep_trimmed_returns_as_soon_as_it_is_stopped() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(heap.keep_trimmed(stop, interval_s=3600.0))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, timeout=5.0)


async def test_keep_trimmed_trims_on_each_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = asyncio.Event()
    calls: list[int] = []

    def counted() -> bool:  # the seam: no real trim needed to see the loop's rhythm
        calls.append(1)
        if len(calls) == 3:
            stop.set()
        return True

    monkeypatch.setattr(heap, "trim", counted)
    await asyncio.wait_for(heap.keep_trimmed(stop, interval_s=0.001), timeout=5.0)
    assert len(calls) == 3
