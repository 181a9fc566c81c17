"""Python drivers against a running Strata server (STRATA_PORT).

psycopg 3 with server-side binding in text and binary, and asyncpg's named
prepared statements with binary results: every type the foundation promises
goes in as a parameter and must come back equal.
"""
import asyncio
import datetime
import decimal
import json
import os
import uuid

import asyncpg
import psycopg
import pytest
from psycopg.types.json import Json, Jsonb

PORT = int(os.environ["STRATA_PORT"])
DSN = f"host=127.0.0.1 port={PORT} user=strata dbname=lake"

UTC = datetime.timezone.utc
VALUES = [
    True,
    False,
    7,
    2**40,
    -1.5,
    decimal.Decimal("12.345"),
    decimal.Decimal("-0.001"),
    "héllo wörld",
    "",
    b"\x00\xffbytes",
    datetime.date(2024, 2, 29),
    datetime.time(13, 45, 6, 500000),
    datetime.datetime(2024, 6, 1, 12, 34, 56, 123456),
    datetime.datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
    datetime.timedelta(days=1, hours=2, microseconds=5),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Json({"a": 1, "b": [True, None]}),
    Jsonb({"c": "d"}),
    [1, 2, 3],
    [1.5, None],
    [datetime.date(2024, 1, 1)],
]


def plain(value):
    return value.obj if isinstance(value, (Json, Jsonb)) else value


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_psycopg_parameters_round_trip(value, binary):
    with psycopg.connect(DSN, autocommit=True) as conn:
        got = conn.execute("SELECT %s AS v", [value], binary=binary).fetchone()[0]
    assert got == plain(value)


def test_psycopg_null_of_unknown_type_keeps_its_position():
    with psycopg.connect(DSN, autocommit=True) as conn:
        row = conn.execute("SELECT %s AS a, %s AS b, %s AS c", [1, None, "x"]).fetchone()
    assert row == (1, None, "x")


ASYNCPG_CASTS = [
    ("bool", True),
    ("int2", 5),
    ("int4", -7),
    ("int8", 2**40),
    ("float4", 1.5),
    ("float8", 2.25),
    ("text", "héllo"),
    ("varchar", "x"),
    ("bytea", b"\x00\xff"),
    ("date", datetime.date(2024, 2, 29)),
    ("time", datetime.time(13, 45, 6, 500000)),
    ("timestamp", datetime.datetime(2024, 6, 1, 12, 34, 56, 123456)),
    ("timestamptz", datetime.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)),
    ("interval", datetime.timedelta(days=1, hours=2)),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("json", '{"a": 1}'),
    ("jsonb", '{"b": [1, 2]}'),
    ("text[]", ["a", None, "b c"]),
    ("int4[]", [1, None, 3]),
    ("int8[]", [2**40]),
    ("float8[]", [1.5, -2.0]),
    ("bool[]", [True, False]),
    ("date[]", [datetime.date(2024, 1, 1)]),
    ("timestamptz[]", [datetime.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)]),
    ("uuid[]", [uuid.UUID("12345678-1234-5678-1234-567812345678")]),
    ("numeric[]", [decimal.Decimal("1.5")]),
]


@pytest.mark.parametrize("sql_type,value", ASYNCPG_CASTS, ids=[c[0] for c in ASYNCPG_CASTS])
def test_asyncpg_named_prepared_statements(sql_type, value):
    async def run():
        conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="strata", database="lake")
        try:
            stmt = await conn.prepare(f"SELECT $1::{sql_type} AS v")
            return await stmt.fetchval(value)
        finally:
            await conn.close()

    got = asyncio.run(run())
    if sql_type == "jsonb":
        assert json.loads(got) == json.loads(value)
    else:
        assert got == value


def test_asyncpg_numeric_keeps_its_value():
    async def run():
        conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="strata", database="lake")
        try:
            return await conn.fetchval("SELECT $1::numeric", decimal.Decimal("12.345"))
        finally:
            await conn.close()

    assert asyncio.run(run()) == decimal.Decimal("12.345")


def test_asyncpg_reads_rows_in_binary():
    async def run():
        conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="strata", database="lake")
        try:
            return await conn.fetch(
                "SELECT x, x * 1.5::float8 AS f, 'n' || x::text AS s FROM generate_series(1, 3) AS t(x) ORDER BY x"
            )
        finally:
            await conn.close()

    rows = asyncio.run(run())
    assert [tuple(r) for r in rows] == [(1, 1.5, "n1"), (2, 3.0, "n2"), (3, 4.5, "n3")]


def test_asyncpg_pool_resets_a_released_connection():
    # Releasing a connection to an asyncpg pool runs its reset query:
    # pg_advisory_unlock_all(), CLOSE ALL, UNLISTEN *, RESET ALL.
    async def run():
        pool = await asyncpg.create_pool(
            host="127.0.0.1", port=PORT, user="strata", database="lake", min_size=1, max_size=1
        )
        try:
            async with pool.acquire() as conn:
                await conn.execute("SET application_name = 'changed'")
            async with pool.acquire() as conn:
                return await conn.fetchval("SHOW application_name")
        finally:
            await pool.close()

    assert asyncio.run(run()) != "changed"


def test_psycopg2_named_cursor_pages_through_a_result():
    import psycopg2

    conn = psycopg2.connect(DSN)
    try:
        # A named cursor is DECLARE ... CURSOR WITHOUT HOLD, then FETCH
        # FORWARD itersize FROM it, inside the driver's transaction.
        with conn.cursor(name="pages") as cur:
            cur.itersize = 1000
            cur.execute("SELECT value AS n FROM generate_series(1, 25000) ORDER BY n")
            first = cur.fetchmany(3)
            rest = [row[0] for row in cur]
        conn.commit()
        with conn.cursor(name="held", withhold=True) as cur:
            cur.execute("SELECT 'x' AS s")
            conn.commit()
            held = cur.fetchall()
    finally:
        conn.close()
    assert first == [(1,), (2,), (3,)]
    assert rest == list(range(4, 25001))
    assert held == [("x",)]


def test_psycopg_server_side_cursor_streams_a_result():
    # psycopg 3's server-side cursor declares a SQL cursor, describes it as
    # a portal, then fetches from it.
    with psycopg.connect(DSN) as conn:
        with conn.cursor(name="stream") as cur:
            cur.itersize = 500
            cur.execute("SELECT value AS n, 'r' || CAST(value AS VARCHAR) AS s FROM generate_series(1, 3000) ORDER BY n")
            assert [d.name for d in cur.description] == ["n", "s"]
            assert cur.fetchone() == (1, "r1")
            assert len(cur.fetchmany(10)) == 10
            rest = cur.fetchall()
    assert rest[-1] == (3000, "r3000")
    assert len(rest) == 3000 - 11


def test_sqlalchemy_reflects_schemas_tables_and_columns(tmp_path):
    # What Superset's table browser calls first. (Keys and indexes need
    # pg_constraint and pg_index of Strata's own tables: not yet.)
    import sqlalchemy as sa

    data = tmp_path / "reflected.csv"
    data.write_text("id,name,score\n1,a,1.5\n")
    engine = sa.create_engine(f"postgresql+psycopg2://strata@127.0.0.1:{PORT}/lake")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(
                f"CREATE EXTERNAL TABLE reflected STORED AS CSV LOCATION '{data}' "
                "OPTIONS ('format.has_header' 'true')"
            ))
        inspector = sa.inspect(engine)
        assert "public" in inspector.get_schema_names()
        assert "reflected" in inspector.get_table_names()
        assert inspector.has_table("reflected")
        columns = inspector.get_columns("reflected")
        assert [(c["name"], type(c["type"]).__name__) for c in columns] == [
            ("id", "BIGINT"),
            ("name", "TEXT"),
            ("score", "DOUBLE_PRECISION"),
        ]
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS reflected"))
        engine.dispose()
