"""Storage: one narrow interface, on SQLite (embedded default) and PostgreSQL.

:mod:`.database` defines the interface and opens a database from its URL; :mod:`.sqlite` and
:mod:`.postgres` implement it; :mod:`.migrate` applies the versioned schema. SQL is written once,
with ``$1`` placeholders; the SQLite back-end rewrites them to ``?1``.
"""

from .database import Connection, Database, Row, open_database
from .migrate import migrate

__all__ = ["Connection", "Database", "Row", "migrate", "open_database"]
