"""The schema: a fresh one equals the migrated one, on both back-ends."""

from __future__ import annotations

import importlib
import re

import orjson
import pytest

from rampwire.storage import Database, migrate, open_database
from rampwire.storage.migrate import migrations, pending

migrate_module = importlib.import_module("rampwire.storage.migrate")  # not the function


def _spaced(sql: str) -> str:
    """SQLite keeps a table's text as written, and ``ALTER TABLE ADD COLUMN`` splices the new
    column in before the closing parenthesis: compare without the whitespace around it."""
    return re.sub(r"\s*([,()])\s*", r"\1 ", re.sub(r"\s+", " ", sql)).strip()


async def describe(db: Database) -> dict[str, object]:
    """Tables, columns, indexes and constraints, normalised for comparison."""
    async with db.connection() as conn:
        if db.dialect == "sqlite":
            rows = await conn.fetch(
                "SELECT type, name, tbl_name, sql FROM sqlite_master"
                " WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
            )
            return {
                row["name"]: (row["type"], row["tbl_name"], _spaced(row["sql"] or ""))
                for row in rows
            }
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY table_name, ordinal_position"
        )
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " ORDER BY indexname"
        )
        constraints = await conn.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace ORDER BY conname"
        )
        return {
            "columns": [tuple(r) for r in columns],
            "indexes": [tuple(r) for r in indexes],
            "constraints": [tuple(r) for r in constraints],
        }


async def test_fresh_schema_equals_migrated_schema(empty_database_urls: tuple[str, str]) -> None:
    fresh, migrated = (open_database(url) for url in empty_database_urls)
    await fresh.open()
    await migrated.open()
    try:
        every = [m.version for m in migrations()]
        assert await pending(fresh) == every
        assert await migrate(fresh) == every
        assert await migrate(migrated, from_scratch=False) == every
        assert await describe(fresh) == await describe(migrated)
        assert await pending(fresh) == [] and await pending(migrated) == []
        assert await migrate(fresh) == []  # a second run applies nothing
    finally:
        await fresh.close()
        await migrated.close()


async def test_order_seq_is_backfilled_from_the_timeline(
    empty_database_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """0006 gives each existing order the seq of its last timeline entry."""
    every = migrations()
    db = open_database(empty_database_urls[0])
    await db.open()
    try:
        monkeypatch.setattr(migrate_module, "migrations", lambda: every[:5])
        assert await migrate(db, from_scratch=False) == [1, 2, 3, 4, 5]
        async with db.transaction() as conn:
            for order_id, entries in (("ord_a", 3), ("ord_b", 1), ("ord_c", 0)):
                await conn.execute(
                    "INSERT INTO orders (id, side, status, version, created_at, updated_at,"
                    " status_at, field_times, body) VALUES ($1, 'buy', 'created', 1, 0, 0, 0,"
                    " '{}', '{}')",
                    order_id,
                )
                for seq in range(1, entries + 1):
                    await conn.execute(
                        "INSERT INTO timeline (order_id, seq, recorded_at, occurred_at, kind,"
                        " body) VALUES ($1, $2, 0, 0, 'changed', '{}')",
                        order_id,
                        seq,
                    )
        monkeypatch.setattr(migrate_module, "migrations", lambda: every)
        assert await migrate(db) == [m.version for m in every[5:]]
        async with db.connection() as conn:
            rows = await conn.fetch("SELECT id, seq FROM orders ORDER BY id")
        assert [(row["id"], row["seq"]) for row in rows] == [
            ("ord_a", 3),
            ("ord_b", 1),
            ("ord_c", 0),
        ]
    finally:
        await db.close()


async def test_an_index_on_a_live_table_is_built_outside_a_transaction(
    empty_database_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """0012 builds ``deliveries_status`` CONCURRENTLY on PostgreSQL (writes go on meanwhile),
    so outside a transaction; an invalid index left by a failed build is replaced, and the
    migration is recorded once its statements have run. SQLite runs it as any other."""
    every = migrations()
    index = next(m for m in every if m.name == "deliveries_status")
    outside = {m.name for m in every if not m.transactional}
    # each builds an index on a table that grows with traffic
    assert outside == {"deliveries_status", "deliveries_status_partial", "inbound_outcome"}
    db = open_database(empty_database_urls[0])
    await db.open()
    try:
        monkeypatch.setattr(migrate_module, "migrations", lambda: every[: index.version - 1])
        await migrate(db, from_scratch=False)
        if db.dialect == "postgresql":
            # What a build that failed half-way leaves: an index by that name, marked invalid.
            async with db.connection() as conn:
                await conn.execute("CREATE TABLE dupes (status text)")
                await conn.execute("INSERT INTO dupes VALUES ('a'), ('a')")
                with pytest.raises(Exception, match="could not create unique index"):
                    await conn.execute(
                        "CREATE UNIQUE INDEX CONCURRENTLY deliveries_status ON dupes (status)"
                    )
                assert await conn.fetchval(
                    "SELECT NOT indisvalid FROM pg_index"
                    " WHERE indexrelid = 'deliveries_status'::regclass"
                )
        monkeypatch.setattr(migrate_module, "migrations", lambda: every)
        assert index.version in await migrate(db)
        async with db.connection() as conn:
            if db.dialect == "postgresql":
                # 0012 replaced the invalid index; 0015 then put a partial one in its place
                row = await conn.fetchrow(
                    "SELECT indisvalid, indrelid::regclass::text AS tbl FROM pg_index"
                    " WHERE indexrelid = 'deliveries_set_aside'::regclass"
                )
                assert (row["indisvalid"], row["tbl"]) == (True, "deliveries")
                assert await conn.fetchval("SELECT to_regclass('deliveries_status')") is None
                # the migration lock is released (session-scoped: the pool would not)
                assert not await conn.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1",
                    0x72616D70,
                )
            else:
                names = await conn.fetch(
                    "SELECT name, tbl_name FROM sqlite_master WHERE name LIKE 'deliveries_s%'"
                )
                assert {(r["name"], r["tbl_name"]) for r in names} == {
                    ("deliveries_set_aside", "deliveries")
                }
        assert await pending(db) == []
    finally:
        await db.close()


async def test_0016_keeps_every_row_and_drops_five_foreign_keys_of_the_delivery_path(
    empty_database_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite rebuilds the four tables (copied aside and back, children first, foreign keys on);
    afterwards an endpoint's, an order's or an event's row can go, an order an
    idempotency key names cannot."""
    every = migrations()
    keys = next(m for m in every if m.name == "delivery_path_foreign_keys")
    db = open_database(empty_database_urls[0])
    await db.open()
    rows = {  # the columns each table must have, in its 0015 shape
        "orders": "(id, side, status, version, created_at, updated_at, status_at, field_times,"
        " body) VALUES ('ord_a', 'buy', 'created', 1, 0, 0, 0, '{}', '{}')",
        "timeline": "VALUES ('ord_a', 1, 0, 0, 'created', '{}')",
        "events": "(id, type, order_id, sequence, created_at, payload)"
        " VALUES ('evt_a', 'order.created', 'ord_a', 1, 0, '{}')",
        "endpoints": "(id, url, event_types, dialect, headers, secrets, max_in_flight, ordering,"
        " created_at, updated_at) VALUES ('ep_a', 'http://x/', '[]', 'standard', '{}', '[]', 4,"
        " 'none', 0, 0)",
        "deliveries": "(id, endpoint_id, event_id, event_type, order_id, status, attempts,"
        " last_status_code, created_at, updated_at) VALUES ('dlv_a', 'ep_a', 'evt_a',"
        " 'order.created', 'ord_a', 'succeeded', 1, 200, 0, 0)",
        "attempts": "VALUES ('att_a', 'dlv_a', 1, 0, 900, 'http://x/', '{}', NULL, 200, '{}',"
        " 'ok', NULL, NULL)",
    }
    try:
        monkeypatch.setattr(migrate_module, "migrations", lambda: every[: keys.version - 1])
        await migrate(db, from_scratch=False)
        async with db.transaction() as conn:
            for table, values in rows.items():
                await conn.execute(f"INSERT INTO {table} {values}")
        before = await _contents(db, rows)
        monkeypatch.setattr(migrate_module, "migrations", lambda: every[: keys.version])
        assert await migrate(db) == [keys.version]
        assert await _contents(db, rows) == before
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM endpoints")
            await conn.execute("DELETE FROM orders")
            await conn.execute("DELETE FROM events")  # its delivery stays
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM deliveries")  # its attempt stays
        async with db.connection() as conn:
            assert await conn.fetchval("SELECT count(*) FROM attempts") == 1
        with pytest.raises(Exception, match=r"(?i)foreign key"):  # the other keys stay
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO idempotency_keys VALUES ('key_a', 'k', 'h', 'ord_a', '{}', 0)"
                )
    finally:
        await db.close()


async def _contents(db: Database, tables: dict[str, str]) -> dict[str, list[tuple[object, ...]]]:
    async with db.connection() as conn:
        return {
            table: [tuple(row) for row in await conn.fetch(f"SELECT * FROM {table}")]
            for table in tables
        }


# A JSON value in a text jsonb would not give back: its own spacing and key order.
_AS_WRITTEN = '{"z":1,  "a":[1,{"b":null}]}'


async def test_0017_keeps_every_json_value_and_then_the_text_as_written(
    empty_database_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the columns the order and delivery paths write become ``json``, each value
    kept; afterwards a value reads back byte for byte (SQLite's TEXT always did), and the
    row-type views of 0014 are there again."""
    every = migrations()
    kept = next(m for m in every if m.name == "json_kept_as_written")
    db = open_database(empty_database_urls[0])
    await db.open()
    rows = {  # a value per JSON column, in its 0016 shape
        "orders": "(id, side, status, version, created_at, updated_at, status_at, field_times,"
        " body) VALUES ('ord_a', 'buy', 'created', 1, 0, 0, 0, '{\"note\": 1}',"
        f" '{_AS_WRITTEN}')",
        "timeline": f"VALUES ('ord_a', 1, 0, 0, 'created', '{_AS_WRITTEN}')",
        "idempotency_keys": f"VALUES ('key_a', 'k', 'h', 'ord_a', '{_AS_WRITTEN}', 0)",
        "attempts": "VALUES ('att_a', 'dlv_a', 1, 0, 900, 'http://x/', '{\"a\": \"b\"}', NULL,"
        f" 200, '{_AS_WRITTEN}', 'ok', NULL, NULL)",
        "sources": "VALUES ('src_a', 'moonpay', 'm', 'sealed', '{}', NULL, NULL, 0, 0, NULL)",
        "inbound": "VALUES ('inb_a', 'src_a', 'moonpay', 'd', 0, 0, 'applied', NULL, NULL, NULL,"
        f" NULL, '[\"evt_a\"]', '{_AS_WRITTEN}', 'body', NULL, 1)",
    }
    try:
        monkeypatch.setattr(migrate_module, "migrations", lambda: every[: kept.version - 1])
        await migrate(db, from_scratch=False)
        async with db.transaction() as conn:
            for table, values in rows.items():
                await conn.execute(f"INSERT INTO {table} {values}")
        before = await _values(db, rows)
        monkeypatch.setattr(migrate_module, "migrations", lambda: every[: kept.version])
        assert await migrate(db) == [kept.version]
        assert await _values(db, rows) == before
        async with db.transaction() as conn:
            await conn.execute("UPDATE orders SET body = $1", _AS_WRITTEN)
            await conn.execute("UPDATE timeline SET body = $1", _AS_WRITTEN)
        async with db.connection() as conn:
            assert await conn.fetchval("SELECT body FROM orders") == _AS_WRITTEN
            assert await conn.fetchval("SELECT body FROM timeline") == _AS_WRITTEN
            if db.dialect == "postgresql":
                types = await conn.fetch(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND data_type IN ('json', 'jsonb')"
                    " AND table_name IN ('orders', 'timeline', 'idempotency_keys', 'attempts',"
                    " 'inbound', 'orders_row', 'timeline_row', 'inbound_row')"
                )
                assert {r["data_type"] for r in types} == {"json"}
                assert len(types) == 13  # eight columns, five of them in the views too
    finally:
        await db.close()


async def _values(db: Database, tables: dict[str, str]) -> dict[str, list[tuple[object, ...]]]:
    """Each table's rows, JSON text parsed (jsonb and json give different texts of a value)."""

    def parsed(value: object) -> object:
        if isinstance(value, str) and value[:1] in ("{", "["):
            return orjson.loads(value)
        return value

    async with db.connection() as conn:
        return {
            table: [
                tuple(parsed(v) for v in row) for row in await conn.fetch(f"SELECT * FROM {table}")
            ]
            for table in tables
        }
