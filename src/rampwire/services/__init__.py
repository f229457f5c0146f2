"""The processes' parts that put repositories and the engine to work: the delivery worker, the
ingestor, the stuck-order sweeper, the supervisor of background tasks, and
:mod:`.background`, the one place they are put together for ``serve`` and ``worker``."""
