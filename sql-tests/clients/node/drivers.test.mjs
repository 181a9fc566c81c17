// node-postgres (pg) against a Strata server started by
// sql-tests/tests/clients.rs, which passes its port in STRATA_PORT. Each test
// names the compatibility-matrix cell it proves: a line goes to the file
// STRATA_MATRIX names.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test as nodeTest } from "node:test";

import pg from "pg";
import Cursor from "pg-cursor";

const CLIENT = "node-postgres";

/** A test that proves the matrix cell (node-postgres, feature). */
function test(feature, name, body) {
  nodeTest(name, async () => {
    let outcome = "fail";
    try {
      await body();
      outcome = "ok";
    } finally {
      if (process.env.STRATA_MATRIX) {
        appendFileSync(process.env.STRATA_MATRIX, `${CLIENT}\t${feature}\t${outcome}\n`);
      }
    }
  });
}

const config = {
  host: "127.0.0.1",
  port: Number(process.env.STRATA_PORT),
  user: "strata",
  database: "lake",
};

async function withClient(run) {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

test("connect", "a plain query", async () => {
  // (A bare `1` is bigint in Strata, int in PostgreSQL: typed here.)
  const { rows, fields } = await withClient((c) =>
    c.query("SELECT CAST(1 AS INTEGER) AS one, 'x' AS s"),
  );
  assert.deepEqual(rows, [{ one: 1, s: "x" }]);
  assert.deepEqual(fields.map((f) => f.name), ["one", "s"]);
});

test("params-text", "parameters of every common type", async () => {
  const when = new Date("2024-06-01T12:34:56.789Z");
  const { rows } = await withClient((c) =>
    c.query(
      "SELECT $1::int AS i, $2::bigint AS big, $3::text AS t, $4::numeric(10, 3) AS n, " +
        "$5::timestamptz AS ts, $6::bool AS b, $7::float8 AS f, $8::date AS d, $9::jsonb AS j",
      [42, "9007199254740993", "héllo", "12.345", when, true, 1.5, "2024-02-29", { a: [1, null] }],
    ),
  );
  const row = rows[0];
  assert.equal(row.i, 42);
  assert.equal(row.big, "9007199254740993"); // int8 arrives as a string
  assert.equal(row.t, "héllo");
  assert.equal(row.n, "12.345");
  assert.equal(row.ts.getTime(), when.getTime());
  assert.equal(row.b, true);
  assert.equal(row.f, 1.5);
  assert.equal(row.d.getFullYear(), 2024);
  assert.deepEqual(row.j, { a: [1, null] });
});

test("params-text", "a named prepared statement, run twice", async () => {
  await withClient(async (c) => {
    const query = { name: "plus_one", text: "SELECT $1::int + 1::int AS x", values: [41] };
    assert.equal((await c.query(query)).rows[0].x, 42);
    assert.equal((await c.query({ ...query, values: [1] })).rows[0].x, 2);
  });
});

test("metadata", "tables listed through information_schema", async () => {
  const dir = mkdtempSync(join(tmpdir(), "strata-node-"));
  const file = join(dir, "listed.csv");
  writeFileSync(file, "id,name\n1,a\n2,b\n");
  await withClient(async (c) => {
    await c.query(
      `CREATE EXTERNAL TABLE node_listed STORED AS CSV LOCATION '${file}' ` +
        "OPTIONS ('format.has_header' 'true')",
    );
    try {
      const tables = await c.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' " +
          "AND table_name = 'node_listed'",
      );
      assert.equal(tables.rowCount, 1);
      const columns = await c.query(
        "SELECT column_name, data_type FROM information_schema.columns " +
          "WHERE table_name = 'node_listed' ORDER BY ordinal_position",
      );
      assert.deepEqual(
        columns.rows.map((r) => r.column_name),
        ["id", "name"],
      );
      const count = await c.query("SELECT count(*) AS n FROM node_listed");
      assert.equal(count.rows[0].n, "2");
    } finally {
      await c.query("DROP TABLE node_listed");
    }
  });
});

test("errors", "errors carry PostgreSQL's SQLSTATE and the connection stays usable", async () => {
  await withClient(async (c) => {
    await assert.rejects(c.query("SELECT * FROM no_such_table"), (e) => e.code === "42P01");
    await assert.rejects(c.query("SELEC 1"), (e) => e.code === "42601");
    assert.equal((await c.query("SELECT 'still here' AS s")).rows[0].s, "still here");
  });
});

test("connect", "a pool runs queries side by side", async () => {
  const pool = new pg.Pool({ ...config, max: 3 });
  try {
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => pool.query("SELECT $1::int * 2::int AS v", [i])),
    );
    assert.deepEqual(results.map((r) => r.rows[0].v), [2, 4, 6, 8, 10]);
  } finally {
    await pool.end();
  }
});

test("stream", "a million rows read through a cursor, 10000 at a time", async () => {
  await withClient(async (c) => {
    const cursor = c.query(new Cursor("SELECT value AS n FROM generate_series(1, 1000000)"));
    let count = 0;
    let total = 0n;
    for (;;) {
      const rows = await cursor.read(10000);
      if (rows.length === 0) break;
      assert.ok(rows.length <= 10000);
      count += rows.length;
      for (const row of rows) total += BigInt(row.n);
    }
    await cursor.close();
    assert.equal(count, 1000000);
    assert.equal(total, 500000500000n);
  });
});

test("cancel", "a running query cancelled", async () => {
  await withClient(async (c) => {
    const running = c.query(
      "SELECT count(*) FROM generate_series(1, 1000000000000) AS t(x) WHERE x % 7 = 3",
    );
    const outcome = running.then(
      () => null,
      (e) => e,
    );
    let error;
    const deadline = Date.now() + 30000;
    await new Promise((resolve) => setTimeout(resolve, 500));
    while (error === undefined && Date.now() < deadline) {
      new pg.Client(config).cancel(c, c.activeQuery);
      error = await Promise.race([
        outcome,
        new Promise((resolve) => setTimeout(() => resolve(undefined), 1000)),
      ]);
    }
    assert.ok(error, "the query was not cancelled within 30 s");
    assert.equal(error.code, "57014");
    assert.equal((await c.query("SELECT 'still here' AS s")).rows[0].s, "still here");
  });
});
