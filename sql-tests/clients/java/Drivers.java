// pgjdbc (what DBeaver, DataGrip, Metabase and Tableau use) against a Strata
// server started by sql-tests/tests/clients.rs, which passes its port in
// STRATA_PORT. Run as a single source file: java -cp postgresql.jar Drivers.java
// Each check names the compatibility-matrix cell it proves: a line goes to
// the file STRATA_MATRIX names.
import java.io.*;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.sql.*;
import java.util.*;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class Drivers {
    static int failures = 0;

    interface Check { void run(Connection c) throws Exception; }

    static void check(String feature, String name, Connection c, Check check) {
        String outcome = "fail";
        try {
            check.run(c);
            outcome = "ok";
            System.out.println("ok   " + name);
        } catch (Throwable e) {
            failures++;
            System.out.println("FAIL " + name + ": " + e);
        }
        String matrix = System.getenv("STRATA_MATRIX");
        if (matrix != null) {
            try {
                Files.writeString(Path.of(matrix), "pgjdbc\t" + feature + "\t" + outcome + "\n",
                        StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** getPrimaryKeys and getIndexInfo of table `orders` in `schema`, without the catalog. */
    static List<String> keysAndIndexes(DatabaseMetaData md, String schema) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (ResultSet rs = md.getPrimaryKeys(null, schema, "orders")) {
            while (rs.next()) {
                rows.add("pk " + rs.getString("PK_NAME") + " " + rs.getInt("KEY_SEQ") + " " + rs.getString("COLUMN_NAME"));
            }
        }
        try (ResultSet rs = md.getIndexInfo(null, schema, "orders", false, true)) {
            while (rs.next()) {
                rows.add("index " + rs.getString("INDEX_NAME") + " unique=" + !rs.getBoolean("NON_UNIQUE") + " "
                        + rs.getInt("ORDINAL_POSITION") + " " + rs.getString("COLUMN_NAME") + " "
                        + rs.getString("ASC_OR_DESC") + " type=" + rs.getShort("TYPE"));
            }
        }
        try (ResultSet rs = md.getImportedKeys(null, schema, "shipments")) {
            while (rs.next()) rows.add("imported " + foreignKey(rs));
        }
        try (ResultSet rs = md.getExportedKeys(null, schema, "orders")) {
            while (rs.next()) rows.add("exported " + foreignKey(rs));
        }
        return rows;
    }

    /** A getImportedKeys / getExportedKeys row, without the catalogs. */
    static String foreignKey(ResultSet rs) throws SQLException {
        return rs.getString("FK_NAME") + " " + rs.getInt("KEY_SEQ") + " " + rs.getString("FKCOLUMN_NAME")
                + " -> " + rs.getString("PKTABLE_NAME") + "." + rs.getString("PKCOLUMN_NAME")
                + " delete=" + rs.getShort("DELETE_RULE") + " update=" + rs.getShort("UPDATE_RULE")
                + " pk=" + rs.getString("PK_NAME");
    }

    static void expect(boolean condition, String what) {
        if (!condition) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + System.getenv("STRATA_PORT") + "/lake";
        Properties props = new Properties();
        props.setProperty("user", "strata");
        try (Connection c = DriverManager.getConnection(url, props)) {
            check("connect", "a plain query", c, conn -> {
                try (Statement s = conn.createStatement();
                     ResultSet rs = s.executeQuery("SELECT CAST(1 AS INTEGER) AS one, 'x' AS s")) {
                    expect(rs.next(), "a row");
                    expect(rs.getInt("one") == 1 && rs.getString("s").equals("x"), "values");
                }
            });
            check("params-text", "typed parameters (server-side prepared after five runs)", c, conn -> {
                try (PreparedStatement p = conn.prepareStatement(
                        "SELECT CAST(? AS BIGINT) + 1 AS n, CAST(? AS TEXT) AS t, CAST(? AS NUMERIC(10, 2)) AS d, "
                                + "CAST(? AS DATE) AS day, CAST(? AS BOOLEAN) AS b")) {
                    for (int i = 0; i < 7; i++) {
                        p.setLong(1, 41 + i);
                        p.setString(2, "héllo");
                        p.setBigDecimal(3, new BigDecimal("12.34"));
                        p.setDate(4, java.sql.Date.valueOf("2024-02-29"));
                        p.setBoolean(5, true);
                        try (ResultSet rs = p.executeQuery()) {
                            expect(rs.next(), "a row");
                            expect(rs.getLong("n") == 42 + i, "n");
                            expect(rs.getString("t").equals("héllo"), "t");
                            expect(rs.getBigDecimal("d").compareTo(new BigDecimal("12.34")) == 0, "d");
                            expect(rs.getDate("day").toString().equals("2024-02-29"), "day");
                            expect(rs.getBoolean("b"), "b");
                        }
                    }
                }
            });
            check("stream", "a result streamed with a fetch size", c, conn -> {
                conn.setAutoCommit(false);
                try (Statement s = conn.createStatement()) {
                    s.setFetchSize(1000);
                    long count = 0, sum = 0;
                    try (ResultSet rs = s.executeQuery("SELECT value FROM generate_series(1, 1000000)")) {
                        while (rs.next()) { count++; sum += rs.getLong(1); }
                    }
                    expect(count == 1000000 && sum == 1000000L * 1000001 / 2, "rows " + count);
                } finally {
                    conn.commit();
                    conn.setAutoCommit(true);
                }
            });
            check("errors", "errors carry SQLSTATE", c, conn -> {
                try (Statement s = conn.createStatement()) {
                    s.executeQuery("SELECT * FROM no_such_table");
                    throw new AssertionError("no error");
                } catch (SQLException e) {
                    expect("42P01".equals(e.getSQLState()), "state " + e.getSQLState());
                }
            });
            check("metadata", "DatabaseMetaData: product, catalogs, schemas, tables", c, conn -> {
                DatabaseMetaData md = conn.getMetaData();
                expect(md.getDatabaseProductName().equals("PostgreSQL"), md.getDatabaseProductName());
                try (ResultSet rs = md.getSchemas()) {
                    Set<String> schemas = new HashSet<>();
                    while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
                    expect(schemas.contains("public"), "schemas " + schemas);
                }
                try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
                    while (rs.next()) { rs.getString("TABLE_NAME"); }
                }
            });
            check("metadata", "DatabaseMetaData: columns of a table", c, conn -> {
                DatabaseMetaData md = conn.getMetaData();
                try (ResultSet rs = md.getColumns(null, "pg_catalog", "pg_namespace", "%")) {
                    List<String> names = new ArrayList<>();
                    while (rs.next()) names.add(rs.getString("COLUMN_NAME"));
                    expect(names.contains("nspname"), "columns " + names);
                }
            });
            check("metadata", "DatabaseMetaData: catalogs", c, conn -> {
                DatabaseMetaData md = conn.getMetaData();
                try (ResultSet rs = md.getCatalogs()) {
                    Set<String> catalogs = new HashSet<>();
                    while (rs.next()) catalogs.add(rs.getString("TABLE_CAT"));
                    expect(catalogs.contains("lake"), "catalogs " + catalogs);
                }
            });
            check("metadata", "DatabaseMetaData: type info", c, conn -> {
                try (ResultSet rs = conn.getMetaData().getTypeInfo()) {
                    Set<String> types = new HashSet<>();
                    while (rs.next()) types.add(rs.getString("TYPE_NAME"));
                    expect(types.contains("int4") && types.contains("text"), "types " + types.size());
                }
            });
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS silver.jdbc_items");
                s.execute("CREATE TABLE silver.jdbc_items (id BIGINT NOT NULL, name TEXT, price DECIMAL(10, 2))");
                s.execute("INSERT INTO silver.jdbc_items VALUES (1, 'apple', 1.25), (2, NULL, NULL)");
            }
            check("metadata", "DatabaseMetaData: a lake table and its columns", c, conn -> {
                DatabaseMetaData md = conn.getMetaData();
                try (ResultSet rs = md.getTables("lake", "silver", "jdbc%", new String[] {"TABLE"})) {
                    expect(rs.next(), "the table is listed");
                    expect(rs.getString("TABLE_NAME").equals("jdbc_items"), rs.getString("TABLE_NAME"));
                    expect(rs.getString("TABLE_TYPE").equals("TABLE"), rs.getString("TABLE_TYPE"));
                }
                List<String> columns = new ArrayList<>();
                try (ResultSet rs = md.getColumns("lake", "silver", "jdbc_items", "%")) {
                    while (rs.next()) {
                        columns.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " "
                                + rs.getInt("DATA_TYPE") + " " + rs.getString("IS_NULLABLE"));
                    }
                }
                expect(columns.equals(List.of(
                        "id int8 " + Types.BIGINT + " NO",
                        "name text " + Types.VARCHAR + " YES",
                        "price numeric " + Types.NUMERIC + " YES")), "columns " + columns);
            });
            check("keys", "DatabaseMetaData: keys and indexes of a lake table", c, conn -> {
                DatabaseMetaData md = conn.getMetaData();
                try (ResultSet rs = md.getPrimaryKeys("lake", "silver", "jdbc_items")) {
                    expect(!rs.next(), "no primary key");
                }
                try (ResultSet rs = md.getIndexInfo("lake", "silver", "jdbc_items", false, true)) {
                    expect(!rs.next(), "no index");
                }
                try (ResultSet rs = md.getImportedKeys("lake", "silver", "jdbc_items")) {
                    expect(!rs.next(), "no foreign key");
                }
                try (ResultSet rs = md.getExportedKeys("lake", "silver", "jdbc_items")) {
                    expect(!rs.next(), "no referencing key");
                }
            });
            check("keys", "DatabaseMetaData: keys and indexes of a PostgreSQL source table, as PostgreSQL gives them", c, conn -> {
                String conninfo = System.getenv("STRATA_POSTGRES");
                Map<String, String> pg = new HashMap<>();
                for (String pair : conninfo.trim().split("\\s+")) {
                    String[] kv = pair.split("=", 2);
                    pg.put(kv[0], kv[1]);
                }
                Properties pgProps = new Properties();
                pgProps.setProperty("user", pg.getOrDefault("user", "postgres"));
                String pgUrl = "jdbc:postgresql://" + pg.getOrDefault("host", "127.0.0.1") + ":"
                        + pg.getOrDefault("port", "5432") + "/" + pg.getOrDefault("dbname", "postgres");
                String schema = "jdbckeys_" + ProcessHandle.current().pid();
                try (Connection direct = DriverManager.getConnection(pgUrl, pgProps);
                     Statement s = direct.createStatement()) {
                    s.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
                    s.execute("CREATE SCHEMA " + schema);
                    s.execute("CREATE TABLE " + schema + ".orders (id bigint, line int, sku text UNIQUE, "
                            + "PRIMARY KEY (id, line))");
                    s.execute("CREATE TABLE " + schema + ".shipments (order_id bigint, line int, "
                            + "FOREIGN KEY (order_id, line) REFERENCES " + schema + ".orders ON DELETE CASCADE)");
                    try (Statement strata = conn.createStatement()) {
                        strata.execute("ATTACH '" + conninfo + "' AS jdbckeys (TYPE postgres)");
                    }
                    try (Connection source = DriverManager.getConnection(
                            "jdbc:postgresql://127.0.0.1:" + System.getenv("STRATA_PORT") + "/jdbckeys", props)) {
                        List<String> fromStrata = keysAndIndexes(source.getMetaData(), schema);
                        List<String> fromPostgres = keysAndIndexes(direct.getMetaData(), schema);
                        expect(fromStrata.equals(fromPostgres), "Strata " + fromStrata + " PostgreSQL " + fromPostgres);
                        expect(fromStrata.contains("pk orders_pkey 2 line"), "the key's second column " + fromStrata);
                        expect(fromStrata.contains("imported shipments_order_id_line_fkey 2 line -> orders.line delete=0 update=3 pk=orders_pkey"),
                                "the foreign key " + fromStrata);
                    } finally {
                        try (Statement strata = conn.createStatement()) {
                            strata.execute("DETACH jdbckeys");
                        }
                        s.execute("DROP SCHEMA " + schema + " CASCADE");
                    }
                }
            });
            check("copy", "CopyManager: COPY FROM STDIN into a lake table and COPY TO STDOUT", c, conn -> {
                CopyManager copy = conn.unwrap(PGConnection.class).getCopyAPI();
                long loaded = copy.copyIn("COPY silver.jdbc_items FROM STDIN WITH (FORMAT csv)",
                        new StringReader("3,plum,0.75\n4,\"fig, dried\",\n"));
                expect(loaded == 2, "loaded " + loaded);
                StringWriter out = new StringWriter();
                copy.copyOut("COPY (SELECT id, name, price FROM silver.jdbc_items ORDER BY id) TO STDOUT WITH (FORMAT csv)", out);
                expect(out.toString().equals("1,apple,1.25\n2,,\n3,plum,0.75\n4,\"fig, dried\",\n"), out.toString());
            });
            check("cancel", "Statement.cancel stops a running query", c, conn -> {
                try (Statement s = conn.createStatement()) {
                    Thread canceller = new Thread(() -> {
                        try {
                            Thread.sleep(500);
                            for (int i = 0; i < 30; i++) {
                                s.cancel();
                                Thread.sleep(1000);
                            }
                        } catch (InterruptedException | SQLException e) {
                            // the query ended: stop cancelling
                        }
                    });
                    canceller.setDaemon(true);
                    canceller.start();
                    try {
                        s.executeQuery("SELECT count(*) FROM generate_series(1, 1000000000000) AS t(x) WHERE x % 7 = 3");
                        throw new AssertionError("the query finished");
                    } catch (SQLException e) {
                        expect("57014".equals(e.getSQLState()), "state " + e.getSQLState() + ": " + e.getMessage());
                    } finally {
                        canceller.interrupt();
                    }
                }
                try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT 'still here'")) {
                    expect(rs.next() && rs.getString(1).equals("still here"), "the connection works");
                }
            });
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE silver.jdbc_items");
            }
        }
        // Binary transfer: prepareThreshold=-1 prepares every statement on
        // the server and asks for results in binary from the first run.
        props.setProperty("prepareThreshold", "-1");
        props.setProperty("binaryTransfer", "true");
        try (Connection c = DriverManager.getConnection(url, props)) {
            check("params-binary", "typed parameters and results in binary", c, conn -> {
                try (PreparedStatement p = conn.prepareStatement(
                        "SELECT CAST(? AS BIGINT) AS n, CAST(? AS INTEGER) AS i, CAST(? AS DOUBLE PRECISION) AS f, "
                                + "CAST(? AS NUMERIC(10, 2)) AS d, CAST(? AS DATE) AS day, CAST(? AS TIMESTAMP) AS ts, "
                                + "CAST(? AS BOOLEAN) AS b, CAST(? AS TEXT) AS t, CAST(? AS BYTEA) AS raw, CAST(? AS UUID) AS u")) {
                    UUID uuid = UUID.fromString("12345678-1234-5678-1234-567812345678");
                    p.setLong(1, 1L << 40);
                    p.setInt(2, -7);
                    p.setDouble(3, 2.25);
                    p.setBigDecimal(4, new BigDecimal("-12.34"));
                    p.setDate(5, java.sql.Date.valueOf("2024-02-29"));
                    p.setTimestamp(6, Timestamp.valueOf("2024-06-01 12:34:56.123456"));
                    p.setBoolean(7, false);
                    p.setString(8, "héllo");
                    p.setBytes(9, new byte[] {0, (byte) 0xff});
                    p.setObject(10, uuid);
                    try (ResultSet rs = p.executeQuery()) {
                        expect(rs.next(), "a row");
                        expect(rs.getLong("n") == 1L << 40, "n");
                        expect(rs.getInt("i") == -7, "i");
                        expect(rs.getDouble("f") == 2.25, "f");
                        expect(rs.getBigDecimal("d").compareTo(new BigDecimal("-12.34")) == 0, "d " + rs.getBigDecimal("d"));
                        expect(rs.getDate("day").toString().equals("2024-02-29"), "day " + rs.getDate("day"));
                        expect(rs.getTimestamp("ts").equals(Timestamp.valueOf("2024-06-01 12:34:56.123456")), "ts " + rs.getTimestamp("ts"));
                        expect(!rs.getBoolean("b"), "b");
                        expect(rs.getString("t").equals("héllo"), "t");
                        expect(Arrays.equals(rs.getBytes("raw"), new byte[] {0, (byte) 0xff}), "raw");
                        expect(uuid.equals(rs.getObject("u")), "u " + rs.getObject("u"));
                    }
                }
            });
        }
        if (failures > 0) {
            System.out.println(failures + " pgjdbc check(s) failed");
            System.exit(1);
        }
    }
}
