import gc

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
