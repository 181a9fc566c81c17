"""Records the SQL Superset sends through SQLAlchemy as a sqllogictest file.

Superset reads a database's metadata with SQLAlchemy's inspector: testing a
connection, listing schemas, tables (PostgresEngineSpec adds foreign
tables) and views, then, when a table is picked in SQL Lab or a dataset is
made, its columns, primary key, foreign keys, indexes and comment, and a
`SELECT *` preview (superset/db_engine_specs/base.py and postgres.py,
superset/models/core.py). This runs those calls against a server and
writes every statement the driver sent, with its parameters bound as
psycopg2 binds them, to stdout as `statement ok` records.

    python capture_superset.py --port 5432 > ../suites/tools/superset.slt

Regenerate the file this way when the SQLAlchemy version changes; its
fixture statements are written first, and the whole file must pass.
"""
import argparse
import re

import psycopg2
import sqlalchemy as sa

SCHEMA = "superset_demo"
FIXTURE = [
    f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE",
    f"CREATE SCHEMA {SCHEMA}",
    f"CREATE TABLE {SCHEMA}.sales (id bigint NOT NULL, region text, amount decimal(12, 2), sold date)",
    f"COMMENT ON TABLE {SCHEMA}.sales IS 'sales by region'",
    f"INSERT INTO {SCHEMA}.sales VALUES (1, 'north', 10.50, '2024-01-01'), (2, 'south', 7.25, '2024-01-02')",
    f"CREATE VIEW {SCHEMA}.big_sales AS SELECT id, amount FROM {SCHEMA}.sales WHERE amount > 8",
]
CLEANUP = [f"DROP VIEW {SCHEMA}.big_sales", f"DROP TABLE {SCHEMA}.sales", f"DROP SCHEMA {SCHEMA}"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="strata")
    parser.add_argument("--database", default="lake")
    args = parser.parse_args()
    dsn = f"host={args.host} port={args.port} user={args.user} dbname={args.database}"

    with psycopg2.connect(dsn) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for sql in FIXTURE:
                cur.execute(sql)

    sent = []

    class RecordingCursor(psycopg2.extensions.cursor):
        """Keeps every statement as the server receives it, the dialect's
        own connect-time queries included."""

        def execute(self, query, vars=None):
            sent.append(self.mogrify(query, vars).decode())
            return super().execute(query, vars)

    engine = sa.create_engine(
        "postgresql+psycopg2://",
        creator=lambda: psycopg2.connect(dsn, cursor_factory=RecordingCursor),
    )

    # Test connection, then the schema and table pickers.
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    inspector = sa.inspect(engine)
    inspector.get_schema_names()
    inspector.get_table_names(SCHEMA)
    inspector.get_foreign_table_names(SCHEMA)
    inspector.get_view_names(SCHEMA)
    inspector.get_materialized_view_names(SCHEMA)
    # A table picked: its metadata and a preview.
    inspector.get_columns("sales", SCHEMA)
    inspector.get_pk_constraint("sales", SCHEMA)
    inspector.get_foreign_keys("sales", SCHEMA)
    inspector.get_indexes("sales", SCHEMA)
    inspector.get_table_comment("sales", SCHEMA)
    inspector.get_columns("big_sales", SCHEMA)
    table = sa.Table("sales", sa.MetaData(), schema=SCHEMA, autoload_with=engine)
    with engine.connect() as conn:
        conn.execute(sa.select(table).limit(100)).all()
    engine.dispose()

    # The tables' oids SQLAlchemy bound stand as `'schema.table'::regclass`,
    # so that the file means the same on a server that gave other oids.
    with psycopg2.connect(dsn) as conn:
        with conn.cursor() as cur:
            for name in ["sales", "big_sales"]:
                cur.execute(f"SELECT '{SCHEMA}.{name}'::regclass::oid")
                oid = cur.fetchone()[0]
                sent = [
                    re.sub(rf"\b{oid}\b", f"'{SCHEMA}.{name}'::regclass", sql) for sql in sent
                ]

    print(f"# Superset's SQL Lab and dataset editor over SQLAlchemy {sa.__version__} and psycopg2:")
    print("# the statements its inspector and preview sent, recorded by")
    print("# sql-tests/clients/capture_superset.py (parameters bound as psycopg2")
    print("# binds them, a table's oid as 'schema.table'::regclass). Regenerate")
    print("# with that script; the whole file must pass.")
    print()
    for sql in FIXTURE + sent + CLEANUP:
        lines = [line.rstrip() for line in sql.strip().splitlines() if line.strip()]
        print("statement ok")
        print("\n".join(lines))
        print()

    with psycopg2.connect(dsn) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for sql in CLEANUP:
                cur.execute(sql)


if __name__ == "__main__":
    main()
