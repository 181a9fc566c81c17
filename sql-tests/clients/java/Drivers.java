// pgjdbc (what DBeaver, DataGrip, Metabase and Tableau use) against a Strata
// server started by sql-tests/tests/clients.rs, which passes its port in
// STRATA_PORT. Run as a single source file: java -cp postgresql.jar Drivers.java
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class Drivers {
    static int failures = 0;

    interface Check { void run(Connection c) throws Exception; }

    static void check(String name, Connection c, Check check) {
        try {
            check.run(c);
            System.out.println("ok   " + name);
        } catch (Throwable e) {
            failures++;
            System.out.println("FAIL " + name + ": " + e);
        }
    }

    static void expect(boolean condition, String what) {
        if (!condition) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + System.getenv("STRATA_PORT") + "/lake";
        Properties props = new Properties();
        props.setProperty("user", "strata");
        try (Connection c = DriverManager.getConnection(url, props)) {
            check("a plain query", c, conn -> {
                try (Statement s = conn.createStatement();
                     ResultSet rs = s.executeQuery("SELECT CAST(1 AS INTEGER) AS one, 'x' AS s")) {
                    expect(rs.next(), "a row");
                    expect(rs.getInt("one") == 1 && rs.getString("s").equals("x"), "values");
                }
            });
            check("typed parameters (server-side prepared after five runs)", c, conn -> {
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
            check("a result streamed with a fetch size", c, conn -> {
                conn.setAutoCommit(false);
                try (Statement s = conn.createStatement()) {
                    s.setFetchSize(1000);
                    long count = 0, sum = 0;
                    try (ResultSet rs = s.executeQuery("SELECT value FROM generate_series(1, 200000)")) {
                        while (rs.next()) { count++; sum += rs.getLong(1); }
                    }
                    expect(count == 200000 && sum == 200000L * 200001 / 2, "rows " + count);
                } finally {
                    conn.commit();
                    conn.setAutoCommit(true);
                }
            });
            check("errors carry SQLSTATE", c, conn -> {
                try (Statement s = conn.createStatement()) {
                    s.executeQuery("SELECT * FROM no_such_table");
                    throw new AssertionError("no error");
                } catch (SQLException e) {
                    expect("42P01".equals(e.getSQLState()), "state " + e.getSQLState());
                }
            });
            check("DatabaseMetaData: product, catalogs, schemas, tables", c, conn -> {
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
            check("DatabaseMetaData: columns of a table", c, conn -> {
                DatabaseMetaData md = conn.getMetaData();
                try (ResultSet rs = md.getColumns(null, "pg_catalog", "pg_namespace", "%")) {
                    List<String> names = new ArrayList<>();
                    while (rs.next()) names.add(rs.getString("COLUMN_NAME"));
                    expect(names.contains("nspname"), "columns " + names);
                }
            });
            check("DatabaseMetaData: catalogs", c, conn -> {
                DatabaseMetaData md = conn.getMetaData();
                try (ResultSet rs = md.getCatalogs()) {
                    Set<String> catalogs = new HashSet<>();
                    while (rs.next()) catalogs.add(rs.getString("TABLE_CAT"));
                    expect(catalogs.contains("lake"), "catalogs " + catalogs);
                }
            });
            check("DatabaseMetaData: type info", c, conn -> {
                try (ResultSet rs = conn.getMetaData().getTypeInfo()) {
                    Set<String> types = new HashSet<>();
                    while (rs.next()) types.add(rs.getString("TYPE_NAME"));
                    expect(types.contains("int4") && types.contains("text"), "types " + types.size());
                }
            });
        }
        if (failures > 0) {
            System.out.println(failures + " pgjdbc check(s) failed");
            System.exit(1);
        }
    }
}
