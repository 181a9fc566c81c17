"""Python drivers against a running Strata server (STRATA_PORT).

psycopg 3, psycopg2, asyncpg, SQLAlchemy and pandas, each through its own
API: parameters of every supported type in text and binary, metadata,
streaming a million rows with a fetch size, COPY, cancel, errors. Each test
names the compatibility-matrix cell it proves (conftest.py).
"""
import asyncio
import datetime
import decimal
import io
import json
import os
import threading
import time
import uuid

import asyncpg
import psycopg
import pytest
from psycopg.types.json import Json, Jsonb

cell = pytest.mark.cell

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


@pytest.mark.parametrize(
    "binary",
    [
        pytest.param(False, id="text", marks=cell("psycopg 3", "params-text")),
        pytest.param(True, id="binary", marks=cell("psycopg 3", "params-binary")),
    ],
)
@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_psycopg_parameters_round_trip(value, binary):
    with psycopg.connect(DSN, autocommit=True) as conn:
        got = conn.execute("SELECT %s AS v", [value], binary=binary).fetchone()[0]
    assert got == plain(value)


@cell("psycopg 3", "params-text")
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


@cell("asyncpg", "params-binary")
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


@cell("asyncpg", "params-binary")
def test_asyncpg_numeric_keeps_its_value():
    async def run():
        conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="strata", database="lake")
        try:
            return await conn.fetchval("SELECT $1::numeric", decimal.Decimal("12.345"))
        finally:
            await conn.close()

    assert asyncio.run(run()) == decimal.Decimal("12.345")


@cell("asyncpg", "connect")
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


@cell("asyncpg", "connect")
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


@cell("psycopg2", "stream")
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


@cell("psycopg 3", "stream")
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


@cell("SQLAlchemy", "metadata")
def test_sqlalchemy_reflects_schemas_tables_and_columns(tmp_path):
    # What Superset's table browser calls first, over an external table.
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


# --- Every client: connect, metadata, a million rows, COPY, cancel, errors ---

MILLION = 1_000_000
MILLION_SUM = MILLION * (MILLION + 1) // 2
MILLION_SQL = "SELECT value AS n FROM generate_series(1, 1000000)"
# Runs for hours unless cancelled.
ENDLESS_SQL = "SELECT count(*) FROM generate_series(1, 1000000000000) AS t(x) WHERE x % 7 = 3"
ENGINE_URL = f"postgresql+psycopg2://strata@127.0.0.1:{PORT}/lake"


@pytest.fixture(scope="module")
def lake_table():
    """silver.matrix_items: a Delta table with three rows."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS silver.matrix_items")
        conn.execute(
            "CREATE TABLE silver.matrix_items (id BIGINT NOT NULL, name TEXT, "
            "price DECIMAL(10, 2), added TIMESTAMP)"
        )
        conn.execute(
            "INSERT INTO silver.matrix_items VALUES "
            "(1, 'apple', 1.25, '2026-01-01 10:00:00'), "
            "(2, 'pear', 2.50, '2026-01-02 11:00:00'), (3, NULL, NULL, NULL)"
        )
    yield "silver.matrix_items"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS silver.matrix_items")


def cancel_while_running(run, cancel):
    """Runs `run` in a thread and cancels until it ends; returns what it raised."""
    outcome = {}

    def target():
        try:
            run()
            outcome["error"] = None
        except BaseException as e:  # noqa: BLE001 - the error is the result
            outcome["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    time.sleep(0.5)
    deadline = time.monotonic() + 30
    while thread.is_alive() and time.monotonic() < deadline:
        cancel()
        thread.join(1.0)
    assert not thread.is_alive(), "the query was not cancelled within 30 s"
    return outcome["error"]


@cell("psycopg 3", "connect")
def test_psycopg_connects():
    with psycopg.connect(DSN) as conn:
        assert conn.info.server_version >= 140000
        assert conn.info.parameter_status("client_encoding") == "UTF8"
        assert conn.execute("SELECT current_database(), current_user").fetchone() == (
            "lake",
            "strata",
        )


@cell("psycopg 3", "metadata")
def test_psycopg_lists_schemas_tables_and_columns(lake_table):
    with psycopg.connect(DSN, autocommit=True) as conn:
        schemas = {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")}
        assert {"bronze", "silver", "gold"} <= schemas
        tables = conn.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'silver'"
        ).fetchall()
        assert ("matrix_items", "BASE TABLE") in tables
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'silver' AND table_name = 'matrix_items' ORDER BY ordinal_position"
        ).fetchall()
    assert columns == [
        ("id", "bigint", "NO"),
        ("name", "text", "YES"),
        ("price", "numeric", "YES"),
        ("added", "timestamp without time zone", "YES"),
    ]


@cell("psycopg 3", "stream")
def test_psycopg_streams_a_million_rows():
    count = total = 0
    with psycopg.connect(DSN) as conn:
        with conn.cursor(name="million") as cur:
            cur.itersize = 10_000
            cur.execute(MILLION_SQL)
            for (n,) in cur:
                count += 1
                total += n
    assert (count, total) == (MILLION, MILLION_SUM)


@cell("psycopg 3", "copy")
def test_psycopg_copies_in_and_out():
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bronze.psycopg_copied")
        conn.execute("CREATE TABLE bronze.psycopg_copied (id BIGINT, name TEXT, at DATE)")
        try:
            with conn.cursor() as cur:
                with cur.copy("COPY bronze.psycopg_copied (id, name, at) FROM STDIN") as copy:
                    for i in range(1, 1001):
                        copy.write_row((i, f"n\t{i}" if i % 2 else None, datetime.date(2026, 1, 1 + i % 28)))
                with cur.copy(
                    "COPY (SELECT id, name, at FROM bronze.psycopg_copied ORDER BY id) TO STDOUT"
                ) as copy:
                    copy.set_types(["int8", "text", "date"])
                    text_rows = list(copy.rows())
                with cur.copy(
                    "COPY (SELECT id, name FROM bronze.psycopg_copied ORDER BY id) "
                    "TO STDOUT (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["int8", "text"])
                    binary_rows = list(copy.rows())
        finally:
            conn.execute("DROP TABLE IF EXISTS bronze.psycopg_copied")
    assert len(text_rows) == 1000
    assert text_rows[0] == (1, "n\t1", datetime.date(2026, 1, 2))
    assert text_rows[1] == (2, None, datetime.date(2026, 1, 3))
    assert binary_rows[:2] == [(1, "n\t1"), (2, None)]


@cell("psycopg 3", "cancel")
def test_psycopg_cancels_a_running_query():
    with psycopg.connect(DSN, autocommit=True) as conn:
        error = cancel_while_running(lambda: conn.execute(ENDLESS_SQL), conn.cancel_safe)
        assert isinstance(error, psycopg.errors.QueryCanceled), repr(error)
        assert conn.execute("SELECT 'still here'").fetchone() == ("still here",)


@cell("psycopg 3", "errors")
def test_psycopg_errors_carry_sqlstate():
    with psycopg.connect(DSN, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM no_such_table")
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute("SELEC 1")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        assert conn.execute("SELECT 'still here'").fetchone() == ("still here",)


# psycopg2 interpolates parameters into the SQL text on the client; its
# JSON adapter is a class of its own, so JSON is left to psycopg 3's test.
PSYCOPG2_VALUES = [v for v in VALUES if not isinstance(v, (Json, Jsonb))]


def psycopg2_connect():
    import psycopg2
    import psycopg2.extras

    psycopg2.extras.register_uuid()
    return psycopg2.connect(DSN)


@cell("psycopg2", "connect")
def test_psycopg2_connects():
    conn = psycopg2_connect()
    try:
        assert conn.server_version >= 140000
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == ("lake",)
    finally:
        conn.close()


@cell("psycopg2", "params-text")
@pytest.mark.parametrize("value", PSYCOPG2_VALUES, ids=lambda v: type(v).__name__)
def test_psycopg2_parameters_round_trip(value):
    conn = psycopg2_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT %s AS v", (value,))
            got = cur.fetchone()[0]
    finally:
        conn.close()
    if isinstance(value, decimal.Decimal):
        # A literal 12.345 is double precision in Strata, numeric in
        # PostgreSQL (README, known differences): the value survives.
        assert float(got) == float(value)
    else:
        assert (bytes(got) if isinstance(got, memoryview) else got) == value


@cell("psycopg2", "stream")
def test_psycopg2_streams_a_million_rows():
    conn = psycopg2_connect()
    count = total = 0
    try:
        with conn.cursor(name="million") as cur:
            cur.itersize = 10_000
            cur.execute(MILLION_SQL)
            for (n,) in cur:
                count += 1
                total += n
        conn.commit()
    finally:
        conn.close()
    assert (count, total) == (MILLION, MILLION_SUM)


@cell("psycopg2", "copy")
def test_psycopg2_copies_in_and_out():
    conn = psycopg2_connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bronze.psycopg2_copied")
            cur.execute("CREATE TABLE bronze.psycopg2_copied (id BIGINT, name TEXT)")
            cur.copy_expert(
                "COPY bronze.psycopg2_copied FROM STDIN WITH (FORMAT csv, HEADER true)",
                io.StringIO("id,name\n1,one\n2,\"two, too\"\n3,\n"),
            )
            out = io.StringIO()
            cur.copy_expert(
                "COPY (SELECT id, name FROM bronze.psycopg2_copied ORDER BY id) "
                "TO STDOUT WITH (FORMAT csv, HEADER true)",
                out,
            )
            cur.execute("DROP TABLE bronze.psycopg2_copied")
    finally:
        conn.close()
    assert out.getvalue() == 'id,name\n1,one\n2,"two, too"\n3,\n'


@cell("psycopg2", "cancel")
def test_psycopg2_cancels_a_running_query():
    import psycopg2.errors

    conn = psycopg2_connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            error = cancel_while_running(lambda: cur.execute(ENDLESS_SQL), conn.cancel)
            assert isinstance(error, psycopg2.errors.QueryCanceled), repr(error)
            cur.execute("SELECT 'still here'")
            assert cur.fetchone() == ("still here",)
    finally:
        conn.close()


@cell("psycopg2", "errors")
def test_psycopg2_errors_carry_sqlstate():
    import psycopg2

    conn = psycopg2_connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.Error) as raised:
                cur.execute("SELECT * FROM no_such_table")
            assert raised.value.pgcode == "42P01"
            with pytest.raises(psycopg2.Error) as raised:
                cur.execute("SELECT CAST('x' AS INTEGER)")
            assert raised.value.pgcode == "22P02"
            cur.execute("SELECT 1")
    finally:
        conn.close()


def asyncpg_run(body):
    async def run():
        conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="strata", database="lake")
        try:
            return await body(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


@cell("asyncpg", "stream")
def test_asyncpg_streams_a_million_rows():
    async def body(conn):
        count = total = 0
        async with conn.transaction():
            async for row in conn.cursor(MILLION_SQL, prefetch=10_000):
                count += 1
                total += row["n"]
        return count, total

    assert asyncpg_run(body) == (MILLION, MILLION_SUM)


@cell("asyncpg", "copy")
def test_asyncpg_copies_in_and_out(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("1,one\n2,two\n")

    async def body(conn):
        await conn.execute("DROP TABLE IF EXISTS bronze.asyncpg_copied")
        await conn.execute("CREATE TABLE bronze.asyncpg_copied (id BIGINT, name TEXT)")
        try:
            await conn.copy_to_table(
                "asyncpg_copied", source=str(source), schema_name="bronze", format="csv"
            )
            out = io.BytesIO()
            await conn.copy_from_query(
                "SELECT id, name FROM bronze.asyncpg_copied ORDER BY id", output=out, format="csv"
            )
            return out.getvalue()
        finally:
            await conn.execute("DROP TABLE IF EXISTS bronze.asyncpg_copied")

    assert asyncpg_run(body) == b"1,one\n2,two\n"


@cell("asyncpg", "cancel")
def test_asyncpg_cancels_a_running_query():
    # On a timeout asyncpg sends a cancel request and waits for the query to end.
    async def body(conn):
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await asyncio.wait_for(conn.fetchval(ENDLESS_SQL), timeout=1.0)
        return await asyncio.wait_for(conn.fetchval("SELECT 'still here'"), timeout=30)

    assert asyncpg_run(body) == "still here"


@cell("asyncpg", "errors")
def test_asyncpg_errors_carry_sqlstate():
    async def body(conn):
        with pytest.raises(asyncpg.exceptions.UndefinedTableError):
            await conn.fetch("SELECT * FROM no_such_table")
        with pytest.raises(asyncpg.exceptions.PostgresSyntaxError):
            await conn.fetch("SELEC 1")
        return await conn.fetchval("SELECT 2::int4")

    assert asyncpg_run(body) == 2


@pytest.fixture
def engine():
    """A SQLAlchemy engine over psycopg2, as Superset and pandas use."""
    import sqlalchemy as sa

    engine = sa.create_engine(ENGINE_URL)
    yield engine
    engine.dispose()


@cell("SQLAlchemy", "connect")
def test_sqlalchemy_connects(engine):
    import sqlalchemy as sa

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_schema()")).scalar() == "public"
        assert engine.dialect.server_version_info >= (14,)


@cell("SQLAlchemy", "metadata")
def test_sqlalchemy_inspects_a_lake_table(lake_table, engine):
    import sqlalchemy as sa

    inspector = sa.inspect(engine)
    assert {"bronze", "silver", "gold"} <= set(inspector.get_schema_names())
    assert "matrix_items" in inspector.get_table_names(schema="silver")
    columns = inspector.get_columns("matrix_items", schema="silver")
    assert [(c["name"], str(c["type"]), c["nullable"]) for c in columns] == [
        ("id", "BIGINT", False),
        ("name", "TEXT", True),
        ("price", "NUMERIC(10, 2)", True),
        ("added", "TIMESTAMP", True),
    ]
    assert inspector.get_view_names(schema="silver") == []
    table = sa.Table("matrix_items", sa.MetaData(), schema="silver", autoload_with=engine)
    with engine.connect() as conn:
        names = conn.execute(sa.select(table.c.name).order_by(table.c.id)).scalars().all()
    assert names == ["apple", "pear", None]


@cell("SQLAlchemy", "keys")
def test_sqlalchemy_reads_keys_and_indexes_of_a_lake_table(lake_table, engine):
    import sqlalchemy as sa

    inspector = sa.inspect(engine)
    assert inspector.get_pk_constraint("matrix_items", schema="silver")["constrained_columns"] == []
    assert inspector.get_foreign_keys("matrix_items", schema="silver") == []
    assert inspector.get_indexes("matrix_items", schema="silver") == []
    assert inspector.get_unique_constraints("matrix_items", schema="silver") == []
    assert inspector.get_check_constraints("matrix_items", schema="silver") == []
    assert inspector.get_table_comment("matrix_items", schema="silver")["text"] is None


@pytest.fixture(scope="module")
def postgres_source():
    """A schema of the PostgreSQL on this machine (STRATA_POSTGRES) with
    keyed tables, attached to Strata as source `pykeys`; yields the schema."""
    conninfo = os.environ["STRATA_POSTGRES"]
    schema = f"pykeys_{os.getpid()}"
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        pg.execute(f"CREATE SCHEMA {schema}")
        pg.execute(
            f"CREATE TABLE {schema}.customers (id int PRIMARY KEY, email text UNIQUE, "
            "region text NOT NULL, code int, CONSTRAINT region_code UNIQUE (region, code))"
        )
        pg.execute(f"CREATE TABLE {schema}.notes (body text)")
        pg.execute(
            f"CREATE TABLE {schema}.orders (id int PRIMARY KEY, customer int "
            f"REFERENCES {schema}.customers(id) ON DELETE CASCADE, region text, code int, "
            f"FOREIGN KEY (region, code) REFERENCES {schema}.customers(region, code))"
        )
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"ATTACH '{conninfo}' AS pykeys (TYPE postgres)")
    yield schema
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DETACH pykeys")
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute(f"DROP SCHEMA {schema} CASCADE")


@cell("SQLAlchemy", "keys")
def test_sqlalchemy_reads_keys_of_a_postgres_table_as_postgres_gives_them(postgres_source):
    """Strata's catalogs give SQLAlchemy's inspector the same keys, unique
    constraints, foreign keys, indexes and NOT NULL columns as PostgreSQL
    itself."""
    import sqlalchemy as sa

    strata = sa.create_engine(f"postgresql+psycopg2://strata@127.0.0.1:{PORT}/pykeys")
    import psycopg2

    postgres = sa.create_engine(
        "postgresql+psycopg2://", creator=lambda: psycopg2.connect(os.environ["STRATA_POSTGRES"])
    )

    def reflect(engine, table):
        inspector = sa.inspect(engine)
        columns = inspector.get_columns(table, schema=postgres_source)
        return {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in columns],
            "pk": inspector.get_pk_constraint(table, schema=postgres_source),
            "unique": inspector.get_unique_constraints(table, schema=postgres_source),
            "indexes": inspector.get_indexes(table, schema=postgres_source),
            "foreign": inspector.get_foreign_keys(table, schema=postgres_source),
        }

    try:
        for table in ["customers", "notes", "orders"]:
            assert reflect(strata, table) == reflect(postgres, table), table
        assert reflect(strata, "customers")["pk"]["constrained_columns"] == ["id"]
        assert len(reflect(strata, "orders")["foreign"]) == 2
    finally:
        strata.dispose()
        postgres.dispose()


@cell("SQLAlchemy", "params-text")
def test_sqlalchemy_binds_parameters(engine):
    import sqlalchemy as sa

    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT :n AS n, :s AS s, :d AS d, :t AS t, :b AS b"),
            {
                "n": 42,
                "s": "héllo",
                "d": decimal.Decimal("1.50"),
                "t": datetime.datetime(2026, 1, 2, 3, 4, 5),
                "b": None,
            },
        ).one()
    assert tuple(row) == (42, "héllo", decimal.Decimal("1.50"), datetime.datetime(2026, 1, 2, 3, 4, 5), None)


@cell("SQLAlchemy", "errors")
def test_sqlalchemy_errors_carry_sqlstate(engine):
    import sqlalchemy as sa

    with engine.connect() as conn:
        with pytest.raises(sa.exc.ProgrammingError) as raised:
            conn.execute(sa.text("SELECT * FROM no_such_table"))
        assert raised.value.orig.pgcode == "42P01"


@cell("pandas", "dataframe")
def test_pandas_reads_and_writes_a_lake_table(lake_table, engine):
    import pandas as pd

    try:
        read = pd.read_sql("SELECT id, name, price, added FROM silver.matrix_items ORDER BY id", engine)
        assert list(read["id"]) == [1, 2, 3]
        assert read["name"].tolist()[:2] == ["apple", "pear"]
        assert read["added"][0] == pd.Timestamp("2026-01-01 10:00:00")

        frame = pd.DataFrame(
            {
                "id": range(1, 2001),
                "label": [f"row {i}" for i in range(1, 2001)],
                "score": [i / 4 for i in range(1, 2001)],
                "flag": [i % 2 == 0 for i in range(1, 2001)],
                "at": pd.date_range("2026-01-01", periods=2000, freq="h"),
            }
        )
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS bronze.pandas_frame")
        frame.to_sql("pandas_frame", engine, schema="bronze", index=False)
        frame.head(10).to_sql("pandas_frame", engine, schema="bronze", index=False, if_exists="append")
        back = pd.read_sql("SELECT * FROM bronze.pandas_frame ORDER BY id, label", engine)
        assert len(back) == 2010
        assert back["score"].sum() == frame["score"].sum() + frame["score"].head(10).sum()
        first = back.iloc[0]
        assert (first["id"], first["label"], bool(first["flag"])) == (1, "row 1", False)
        assert first["at"] == pd.Timestamp("2026-01-01 00:00:00")

        frame.head(5).to_sql("pandas_frame", engine, schema="bronze", index=False, if_exists="replace")
        assert pd.read_sql("SELECT count(*) AS n FROM bronze.pandas_frame", engine)["n"][0] == 5
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS bronze.pandas_frame")


@cell("pandas", "stream")
def test_pandas_reads_a_million_rows_in_chunks(engine):
    import pandas as pd

    count = total = 0
    with engine.connect().execution_options(stream_results=True) as conn:
        for chunk in pd.read_sql(MILLION_SQL, conn, chunksize=100_000):
            assert len(chunk) <= 100_000
            count += len(chunk)
            total += int(chunk["n"].sum())
    assert (count, total) == (MILLION, MILLION_SUM)
