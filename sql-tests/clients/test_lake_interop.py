"""Strata's lake tables are Delta tables other engines read and write.

delta-rs (PyPI `deltalake`, the engine behind Polars' and DuckDB's Delta
support) reads what Strata wrote, version by version, and Strata reads a
table delta-rs wrote into the lake folder (STRATA_LAKE_ROOT), with its
partitions and statistics.
"""
import datetime
import decimal
import os
import pathlib

import psycopg
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

PORT = int(os.environ["STRATA_PORT"])
DSN = f"host=127.0.0.1 port={PORT} user=strata dbname=lake"
ROOT = pathlib.Path(os.environ["STRATA_LAKE_ROOT"])


def test_delta_rs_reads_what_strata_wrote_at_every_version():
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS silver.interop_orders")
        conn.execute(
            "CREATE TABLE silver.interop_orders (id BIGINT NOT NULL, region TEXT, "
            "amount DECIMAL(10, 2), at TIMESTAMPTZ) PARTITIONED BY (region)"
        )
        conn.execute(
            "INSERT INTO silver.interop_orders VALUES "
            "(1, 'north', 10.50, '2026-01-01 10:00:00+00'), "
            "(2, 'south', 20.00, '2026-01-02 11:00:00+00'), "
            "(3, NULL, 3.25, NULL)"
        )
        conn.execute("DELETE FROM silver.interop_orders WHERE id = 2")
        strata_rows = conn.execute(
            "SELECT id, region, amount FROM silver.interop_orders ORDER BY id"
        ).fetchall()

    table = DeltaTable(str(ROOT / "silver" / "interop_orders"))
    assert table.version() == 2
    assert table.metadata().partition_columns == ["region"]
    got = table.to_pyarrow_table().sort_by("id").to_pylist()
    assert [(r["id"], r["region"], r["amount"]) for r in got] == strata_rows
    assert got[0]["at"] == datetime.datetime(2026, 1, 1, 10, tzinfo=datetime.timezone.utc)
    assert got[0]["amount"] == decimal.Decimal("10.50")

    table.load_as_version(1)
    assert table.to_pyarrow_table().num_rows == 3
    operations = [c["operation"] for c in table.history()]
    assert operations[:3] == ["DELETE", "WRITE", "CREATE TABLE"]


def test_strata_reads_a_table_delta_rs_wrote():
    location = ROOT / "bronze" / "from_delta_rs"
    data = pa.table(
        {
            "id": pa.array(range(1, 1001), pa.int64()),
            "day": pa.array([f"2026-01-{1 + i % 3:02d}" for i in range(1000)]),
            "value": pa.array([i * 0.5 for i in range(1000)], pa.float64()),
        }
    )
    write_deltalake(str(location), data, partition_by=["day"], mode="overwrite")
    write_deltalake(str(location), data.slice(0, 10), partition_by=["day"], mode="append")
    with psycopg.connect(DSN, autocommit=True) as conn:
        count, total = conn.execute(
            "SELECT count(*), sum(value) FROM bronze.from_delta_rs"
        ).fetchone()
        assert count == 1010
        assert total == sum(i * 0.5 for i in range(1000)) + sum(i * 0.5 for i in range(10))
        assert conn.execute(
            "SELECT count(*) FROM bronze.from_delta_rs WHERE day = '2026-01-02'"
        ).fetchone() == (333 + 3,)
        assert conn.execute(
            "SELECT count(*) FROM bronze.from_delta_rs VERSION AS OF 0"
        ).fetchone() == (1000,)
        # Strata writes on: delta-rs sees the new version.
        conn.execute("INSERT INTO bronze.from_delta_rs VALUES (5000, '2026-02-01', 1.0)")
        conn.execute("DROP TABLE IF EXISTS silver.interop_orders")
    assert DeltaTable(str(location)).to_pyarrow_table().num_rows == 1011
