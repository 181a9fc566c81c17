//! Security over the wire, with real clients against `strata-server`
//! processes: TLS with certificate verification (psql with channel binding,
//! psycopg 3, pgjdbc), SCRAM-SHA-256 logins (a wrong password and an
//! unknown user get the same answer, repeated failures wait longer), roles
//! managed with SQL, plaintext refused from other hosts when TLS is
//! required, no listening beyond loopback without authentication,
//! connection limits, the login timeout, a query's memory limit, and no
//! password in any log, file or system table.
//!
//! Certificates are made with `openssl`; psql, python (STRATA_TEST_PYTHON
//! with psycopg) and java with pgjdbc must be installed, as
//! scripts/test-all.sh ensures.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use strata_sql_tests::cluster::{ServerProcess, binaries_dir, other_address};
use tokio::io::AsyncReadExt;
use tokio_postgres::{Client, NoTls};

const ADMIN_PASSWORD: &str = "Adm1n-pw-7f3a9c1e";
const ANALYST_PASSWORD: &str = "An4lyst-pw-c0ffee42";
const NEW_ANALYST_PASSWORD: &str = "N3w-analyst-pw-5eed";
const CLIENT_HASHED_PASSWORD: &str = "V1a-libpq-pw-beef";
const PGJDBC: &str = "/usr/share/java/postgresql.jar";

/// A certificate authority and a server certificate it signed for
/// `localhost`, 127.0.0.1 and `ips`.
struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn make(ips: &[IpAddr]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut names = "subjectAltName=DNS:localhost,IP:127.0.0.1".to_owned();
        for ip in ips {
            names.push_str(&format!(",IP:{ip}"));
        }
        std::fs::write(dir.path().join("ext.cnf"), format!("{names}\n")).unwrap();
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=Strata test CA",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        ];
        for args in steps {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap_or_else(|e| panic!("openssl is needed (Debian package openssl): {e}"));
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// The server's settings for these files.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STRATA_TLS_CERT", self.path("server.crt")),
            ("STRATA_TLS_KEY", self.path("server.key")),
        ]
    }
}

/// A server over a fresh data folder, listening on `listen`.
async fn start(
    label: &str,
    listen: &str,
    env: &[(&str, String)],
) -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = ServerProcess::start_listening(&dir.path().join("data"), label, listen, &env)
        .await
        .unwrap_or_else(|e| panic!("cannot start Strata: {e}"));
    (dir, server)
}

async fn login(conninfo: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conninfo, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The SQLSTATE and message a failed login or statement ended with.
fn failure<T>(result: Result<T, tokio_postgres::Error>) -> (String, String) {
    match result {
        Ok(_) => panic!("expected a failure"),
        Err(e) => match e.as_db_error() {
            Some(db) => (db.code().code().to_owned(), db.message().to_owned()),
            None => panic!("expected a server error, got {e}"),
        },
    }
}

/// Runs psql with `password`; its stdout, or a panic with its stderr.
fn psql(conninfo: &str, password: &str, command: &str) -> String {
    let output = Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", conninfo, "-c", command])
        .env("PGPASSWORD", password)
        .output()
        .unwrap_or_else(|e| panic!("psql is needed (Debian package postgresql-client): {e}"));
    assert!(
        output.status.success(),
        "psql {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn python() -> String {
    std::env::var("STRATA_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("STRATA_TEST_PYTHON must name a python with psycopg (scripts/test-all.sh sets it)")
    })
}

fn java_login(url: &str, user: &str, password: &str) -> String {
    assert!(
        Path::new(PGJDBC).is_file(),
        "pgjdbc is needed: apt-get install libpostgresql-jdbc-java"
    );
    let program = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/java/Login.java");
    let output = Command::new("java")
        .args(["-cp", PGJDBC])
        .arg(program)
        .args([url, user, password])
        .output()
        .unwrap_or_else(|e| panic!("java (a JDK) is needed: {e}"));
    assert!(
        output.status.success(),
        "java: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_scram_and_roles_with_real_clients() {
    let certs = Certificates::make(&[]);
    let mut env = certs.env();
    env.push(("STRATA_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()));
    let (dir, server) = start("secure", "127.0.0.1:0", &env).await;
    let port = server.addr.port();
    let ca = certs.path("ca.crt");
    let verified =
        format!("host=localhost port={port} dbname=lake sslmode=verify-full sslrootcert={ca}");

    // psql: TLS 1.2 or newer, the certificate verified, SCRAM-SHA-256-PLUS
    // (channel binding to the certificate).
    let info = psql(
        &format!("{verified} user=strata channel_binding=require"),
        ADMIN_PASSWORD,
        "\\conninfo",
    );
    assert!(
        info.contains("SSL connection (protocol: TLSv1.3") || info.contains("(protocol: TLSv1.2"),
        "{info}"
    );

    // psycopg 3 and pgjdbc, verify-full.
    let output = Command::new(python())
        .args([
            "-c",
            "import sys, psycopg\n\
             with psycopg.connect(sys.argv[1], password=sys.argv[2]) as c:\n\
             \x20   user = c.execute('SELECT current_user').fetchone()[0]\n\
             \x20   print(c.pgconn.ssl_in_use, user)",
            &format!("{verified} user=strata"),
            ADMIN_PASSWORD,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "True strata",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url =
        format!("jdbc:postgresql://localhost:{port}/lake?sslmode=verify-full&sslrootcert={ca}");
    assert_eq!(java_login(&url, "strata", ADMIN_PASSWORD), "user=strata");
    assert!(
        java_login(&url, "strata", "wrong").starts_with("error 28P01 "),
        "pgjdbc with a wrong password"
    );

    // A wrong password and an unknown user read the same.
    let plain = |user: &str, password: &str| {
        format!("host=127.0.0.1 port={port} dbname=lake user={user} password={password}")
    };
    let wrong = failure(login(&plain("strata", "wrong")).await);
    let unknown = failure(login(&plain("nobody", "wrong")).await);
    assert_eq!(wrong.0, "28P01");
    assert_eq!(unknown.0, "28P01");
    assert_eq!(
        wrong.1.replace("\"strata\"", "\"?\""),
        unknown.1.replace("\"nobody\"", "\"?\"")
    );
    assert_eq!(
        wrong.1,
        "password authentication failed for user \"strata\""
    );
    // Failures from one address in a row are answered more and more slowly
    // (the fourth waits a second).
    let _ = login(&plain("strata", "wrong")).await;
    let started = Instant::now();
    let _ = login(&plain("strata", "wrong")).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the fourth failure in a row was answered in {:?}",
        started.elapsed()
    );

    // Roles managed with SQL; passwords stored as verifiers.
    let admin = login(&plain("strata", ADMIN_PASSWORD)).await.unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE analyst LOGIN PASSWORD '{ANALYST_PASSWORD}';
             CREATE ROLE reporting PASSWORD 'x-unused-1'"
        ))
        .await
        .unwrap();
    let analyst = login(&plain("analyst", ANALYST_PASSWORD)).await.unwrap();
    let me: String = analyst
        .query_one("SELECT current_user", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(me, "analyst");
    assert_eq!(
        failure(analyst.batch_execute("CREATE ROLE intruder").await).0,
        "42501"
    );
    assert_eq!(
        failure(analyst.batch_execute("ALTER ROLE analyst SUPERUSER").await).0,
        "42501"
    );
    analyst
        .batch_execute(&format!(
            "ALTER ROLE analyst PASSWORD '{NEW_ANALYST_PASSWORD}'"
        ))
        .await
        .unwrap();
    assert_eq!(
        failure(login(&plain("analyst", ANALYST_PASSWORD)).await).0,
        "28P01"
    );
    login(&plain("analyst", NEW_ANALYST_PASSWORD))
        .await
        .expect("the new password");
    // As psql's \password does: libpq hashes on the client, as the
    // server's password_encryption says, and sends the verifier.
    let output = Command::new(python())
        .args([
            "-c",
            "import sys, psycopg\n\
             with psycopg.connect(sys.argv[1], password=sys.argv[2], autocommit=True) as c:\n\
             \x20   v = c.pgconn.encrypt_password(sys.argv[3].encode(), b'analyst').decode()\n\
             \x20   c.execute(\"ALTER USER analyst PASSWORD '\" + v + \"'\")\n\
             \x20   print(v.split('$')[0])",
            &format!("{verified} user=strata"),
            ADMIN_PASSWORD,
            CLIENT_HASHED_PASSWORD,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "SCRAM-SHA-256",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    login(&plain("analyst", CLIENT_HASHED_PASSWORD))
        .await
        .expect("the password libpq hashed");
    // A role without LOGIN is refused after its password is checked.
    let (state, message) = failure(login(&plain("reporting", "x-unused-1")).await);
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("28000", "role \"reporting\" is not permitted to log in")
    );
    for (sql, state) in [
        ("CREATE ROLE analyst", "42710"),
        ("DROP ROLE nobody", "42704"),
        ("DROP ROLE strata", "55006"),
        ("CREATE ROLE pg_mine", "42939"),
        ("ALTER ROLE strata NOSUPERUSER", "42501"),
    ] {
        assert_eq!(failure(admin.batch_execute(sql).await).0, state, "{sql}");
    }
    // DROP ROLE drops all it names or none.
    assert_eq!(
        failure(admin.batch_execute("DROP ROLE reporting, nobody").await).0,
        "42704"
    );
    let listed = psql(&format!("{verified} user=strata"), ADMIN_PASSWORD, "\\du");
    for role in ["analyst", "reporting", "strata"] {
        assert!(listed.contains(role), "{listed}");
    }
    assert!(listed.contains("Cannot login"), "{listed}");

    // No password and no key anywhere: the server's log, its data folder,
    // the system tables. A line from the middle of the TLS key stands for
    // the key.
    let key = std::fs::read_to_string(certs.path("server.key")).unwrap();
    let key_lines: Vec<&str> = key.lines().collect();
    let key_line = key_lines[key_lines.len() / 2];
    let secrets = [
        ADMIN_PASSWORD,
        ANALYST_PASSWORD,
        NEW_ANALYST_PASSWORD,
        CLIENT_HASHED_PASSWORD,
        "x-unused-1",
        key_line,
    ];
    let mut shown = String::new();
    for query in [
        "SELECT query FROM pg_stat_activity",
        "SELECT rolname || coalesce(rolpassword, '') FROM pg_roles",
        "SELECT rolname || coalesce(rolpassword, '') FROM pg_authid",
        "SELECT usename || coalesce(passwd, '') FROM pg_catalog.pg_user",
    ] {
        for row in admin.query(query, &[]).await.unwrap() {
            shown.push_str(row.get::<_, &str>(0));
            shown.push('\n');
        }
    }
    assert!(shown.contains("********"), "{shown}");
    let mut files = String::new();
    for entry in walk(dir.path()) {
        files.push_str(&String::from_utf8_lossy(&std::fs::read(&entry).unwrap()));
    }
    files.push_str(&server.node.log_text());
    for secret in secrets {
        assert!(!shown.contains(secret), "a password in a system table");
        assert!(!files.contains(secret), "a password in a log or data file");
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_from_other_hosts_is_refused_when_tls_is_required() {
    let ip = other_address();
    let certs = Certificates::make(&[ip]);
    let mut env = certs.env();
    env.push(("STRATA_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()));
    env.push(("STRATA_REQUIRE_TLS", "true".to_owned()));
    let (_dir, server) = start("require-tls", "0.0.0.0:0", &env).await;
    let port = server.addr.port();

    let (state, message) = failure(
        login(&format!(
            "host={ip} port={port} dbname=lake user=strata password={ADMIN_PASSWORD} \
             sslmode=disable"
        ))
        .await,
    );
    assert_eq!(state, "28000", "{message}");
    assert!(message.contains("encrypted"), "{message}");
    let ca = certs.path("ca.crt");
    let info = psql(
        &format!(
            "host={ip} port={port} dbname=lake user=strata sslmode=verify-full sslrootcert={ca}"
        ),
        ADMIN_PASSWORD,
        "\\conninfo",
    );
    assert!(info.contains("SSL connection"), "{info}");
    // Loopback may still connect in plaintext, with its password.
    login(&format!(
        "host=127.0.0.1 port={port} dbname=lake user=strata password={ADMIN_PASSWORD}"
    ))
    .await
    .expect("plaintext on loopback");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_listening_beyond_loopback_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(binaries_dir().unwrap().join("strata-server"))
            .args(["--listen", "0.0.0.0:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .env_remove("STRATA_ADMIN_PASSWORD")
            .env_remove("STRATA_CONFIG")
            .output(),
    )
    .await
    .expect("strata-server should have refused to start")
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0"), "{stderr}");

    // With the administrator's password it listens everywhere, and another
    // host logs in with it.
    let env = [("STRATA_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned())];
    let (_dir, server) = start("everywhere", "0.0.0.0:0", &env).await;
    let ip = other_address();
    let port = server.addr.port();
    let anyone = format!("host={ip} port={port} dbname=lake user=strata");
    assert_eq!(
        failure(login(&format!("{anyone} password=guess")).await).0,
        "28P01"
    );
    login(&format!("{anyone} password={ADMIN_PASSWORD}"))
        .await
        .expect("the administrator from another host");
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_limits_and_the_login_timeout() {
    let env = [
        ("STRATA_MAX_CONNECTIONS", "4".to_owned()),
        ("STRATA_AUTH_TIMEOUT", "2".to_owned()),
    ];
    let (_dir, server) = start("limits", "127.0.0.1:0", &env).await;
    let addr = server.addr;
    let conninfo = |user: &str| {
        format!(
            "host=127.0.0.1 port={} dbname=lake user={user}",
            addr.port()
        )
    };
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(login(&conninfo("strata")).await.expect("within the limit"));
    }
    let (state, message) = failure(login(&conninfo("strata")).await);
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("53300", "sorry, too many clients already")
    );
    let first = open.remove(0);
    drop(open);
    first
        .batch_execute("CREATE USER etl CONNECTION LIMIT 1")
        .await
        .unwrap();
    // The closed connections leave the count as their tasks end.
    let deadline = Instant::now() + Duration::from_secs(10);
    let etl = loop {
        match login(&conninfo("etl")).await {
            Ok(client) => break client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("etl cannot log in: {e}"),
        }
    };
    let (state, message) = failure(login(&conninfo("etl")).await);
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("53300", "too many connections for role \"etl\"")
    );
    drop(etl);

    // A client that does not log in is disconnected after the timeout; one
    // that has logged in stays however long it idles.
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut buf))
        .await
        .expect("a silent client should be disconnected");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    first
        .batch_execute("SELECT 1")
        .await
        .expect("a logged-in session outlives the login timeout");
}

/// A query held to `strata.query_memory_limit` (the server's default from
/// `--query-memory-limit`): on the executor a sort over more than the limit
/// spills and answers, what cannot spill fails with 53200 naming the limit,
/// a query the server runs itself is held to it too, only superusers may
/// lift it, and the server goes on answering.
#[tokio::test(flavor = "multi_thread")]
async fn a_query_over_its_memory_limit_spills_or_fails_and_the_server_goes_on() {
    let env = [("STRATA_QUERY_MEMORY_LIMIT", "16MB".to_owned())];
    let (_dir, server) = start("memory", "127.0.0.1:0", &env).await;
    let conninfo = |user: &str| {
        format!(
            "host=127.0.0.1 port={} dbname=lake user={user}",
            server.addr.port()
        )
    };
    let client = login(&conninfo("strata")).await.expect("a session");
    let shown: String = client
        .query_one("SHOW strata.query_memory_limit", &[])
        .await
        .expect("the limit")
        .get(0);
    assert_eq!(shown, "16MB");
    client
        .batch_execute("CREATE TABLE nums AS SELECT value AS v FROM generate_series(1, 3000000)")
        .await
        .expect("a table of 3 million rows");
    // 3 million rows sorted by two keys take more than 16 MB.
    let sorted = "SELECT CAST(max(r) AS BIGINT), count(*) FROM (SELECT row_number() OVER \
                  (ORDER BY v % 1000 DESC, v) AS r FROM nums) t";
    let row = client
        .query_one(sorted, &[])
        .await
        .expect("the sort spills");
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (3_000_000, 3_000_000)
    );
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN ANALYZE {sorted}"), &[])
        .await
        .expect("the analysed plan")
        .iter()
        .map(|r| r.get::<_, String>(1))
        .collect();
    let spills: u64 = plan
        .iter()
        .flat_map(|line| line.split("spill_count=").skip(1))
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(spills > 0, "the sort did not spill:\n{}", plan.join("\n"));

    // Collecting every value into one array cannot spill.
    let gathered = "SELECT CAST(array_length(array_agg(v), 1) AS BIGINT) FROM nums";
    let (state, message) = failure(client.query_one(gathered, &[]).await);
    assert_eq!(state, "53200", "{message}");
    assert!(
        message.contains("strata.query_memory_limit = 16MB"),
        "{message}"
    );
    // Nor on the server, for what it runs itself.
    let (state, message) = failure(
        client
            .query_one(
                "SELECT array_length(array_agg(value), 1) FROM generate_series(1, 3000000)",
                &[],
            )
            .await,
    );
    assert_eq!(state, "53200", "{message}");

    // Others may lower the limit, not lift it.
    client
        .batch_execute("CREATE ROLE analyst LOGIN; GRANT SELECT ON nums TO analyst")
        .await
        .expect("a role");
    let analyst = login(&conninfo("analyst")).await.expect("the analyst");
    for lifted in ["'1GB'", "0"] {
        let (state, message) = failure(
            analyst
                .batch_execute(&format!("SET strata.query_memory_limit = {lifted}"))
                .await,
        );
        assert_eq!(state, "42501", "{message}");
    }
    analyst
        .batch_execute("SET strata.query_memory_limit = '8MB'")
        .await
        .expect("lowered");
    let (state, _) = failure(analyst.query_one(gathered, &[]).await);
    assert_eq!(state, "53200");

    // The session and the server go on; a superuser lifts the limit.
    client
        .batch_execute("SET strata.query_memory_limit = 0")
        .await
        .expect("the session goes on");
    let row = client.query_one(gathered, &[]).await.expect("no limit");
    assert_eq!(row.get::<_, i64>(0), 3_000_000);
    client
        .batch_execute("RESET strata.query_memory_limit")
        .await
        .expect("reset");
    let shown: String = client
        .query_one("SHOW strata.query_memory_limit", &[])
        .await
        .expect("the limit")
        .get(0);
    assert_eq!(shown, "16MB", "RESET goes back to the server's limit");
    let other = login(&conninfo("strata"))
        .await
        .expect("the server answers another client");
    other.batch_execute("SELECT 1").await.expect("a query");
}

#[tokio::test(flavor = "multi_thread")]
async fn privileges_decide_what_each_role_reads_writes_and_sees() {
    let env = [("STRATA_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned())];
    let (_dir, server) = start("privileges", "127.0.0.1:0", &env).await;
    let port = server.addr.port();
    let conninfo = |user: &str, password: &str| {
        format!("host=127.0.0.1 port={port} dbname=lake user={user} password={password}")
    };
    let admin = login(&conninfo("strata", ADMIN_PASSWORD)).await.unwrap();
    admin
        .batch_execute(
            "CREATE TABLE silver.orders (id int, amount double);
             INSERT INTO silver.orders VALUES (1, 10.0), (2, 20.0);
             CREATE TABLE gold.revenue (total double);
             INSERT INTO gold.revenue VALUES (30.0);
             CREATE VIEW gold.raw_orders AS SELECT * FROM silver.orders;
             CREATE ROLE analyst LOGIN PASSWORD 'analyst-pw';
             CREATE ROLE etl LOGIN PASSWORD 'etl-pw';
             CREATE ROLE alice LOGIN PASSWORD 'alice-pw';
             GRANT USAGE ON SCHEMA lake.gold TO analyst;
             GRANT SELECT ON ALL TABLES IN SCHEMA lake.gold TO analyst;
             GRANT USAGE ON SCHEMA silver, gold TO etl;
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA silver TO etl;
             GRANT ALL ON SCHEMA gold TO etl;",
        )
        .await
        .unwrap();

    let analyst = login(&conninfo("analyst", "analyst-pw")).await.unwrap();
    // Who am I, under PostgreSQL's names and titles.
    let me = analyst
        .query_one("SELECT current_user, current_role, session_user", &[])
        .await
        .unwrap();
    let titles: Vec<&str> = me.columns().iter().map(|c| c.name()).collect();
    assert_eq!(titles, ["current_user", "current_role", "session_user"]);
    for i in 0..3 {
        assert_eq!(me.get::<_, String>(i), "analyst");
    }
    let total: f64 = analyst
        .query_one("SELECT total FROM gold.revenue", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 30.0);
    let denied = |result: Result<(), tokio_postgres::Error>| failure(result);
    assert_eq!(
        denied(
            analyst
                .batch_execute("INSERT INTO gold.revenue VALUES (1)")
                .await
        ),
        (
            "42501".to_owned(),
            "permission denied for table lake.gold.revenue".to_owned()
        )
    );
    // Every way of reaching silver is refused: directly, in a subquery, a
    // CTE, a join, a view, EXPLAIN, COPY, CREATE TABLE AS.
    for sql in [
        "SELECT * FROM silver.orders",
        "SELECT total FROM gold.revenue WHERE total > (SELECT max(amount) FROM silver.orders)",
        "WITH o AS (SELECT * FROM silver.orders) SELECT count(*) FROM o",
        "SELECT * FROM gold.revenue CROSS JOIN lake.silver.orders",
        "SELECT * FROM gold.raw_orders",
        "EXPLAIN SELECT * FROM silver.orders",
        "COPY (SELECT * FROM silver.orders) TO STDOUT",
    ] {
        let (state, message) = denied(analyst.batch_execute(sql).await);
        assert_eq!(state, "42501", "{sql}");
        assert!(message.contains("lake.silver"), "{sql}: {message}");
    }
    assert_eq!(
        denied(
            analyst
                .batch_execute("CREATE TABLE gold.mine AS SELECT * FROM gold.revenue")
                .await
        )
        .0,
        "42501"
    );
    // The catalogs show the analyst gold only.
    let listed = psql(&conninfo("analyst", "analyst-pw"), "analyst-pw", "\\dt *.*");
    assert!(listed.contains("gold       | revenue"), "{listed}");
    // Owned, as psql shows, by the administrator.
    assert!(
        listed
            .lines()
            .any(|line| line.contains("| revenue ") && line.trim_end().ends_with("| strata")),
        "{listed}"
    );
    assert!(!listed.contains("silver"), "{listed}");
    let tables: Vec<String> = analyst
        .query(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_schema IN ('gold', 'silver') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(tables, ["gold.raw_orders", "gold.revenue"]);
    let row = analyst
        .query_one(
            "SELECT has_table_privilege('gold.revenue', 'SELECT'), \
                    has_table_privilege('gold.revenue', 'INSERT'), \
                    has_table_privilege('etl', 'silver.orders', 'INSERT'), \
                    has_schema_privilege('silver', 'USAGE')",
            &[],
        )
        .await
        .unwrap();
    let answers: (bool, bool, bool, bool) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(answers, (true, false, true, false));

    // etl writes silver and gold and creates tables in gold.
    let etl = login(&conninfo("etl", "etl-pw")).await.unwrap();
    etl.batch_execute(
        "INSERT INTO silver.orders VALUES (3, 30.0);
         DELETE FROM silver.orders WHERE id = 1;
         INSERT INTO gold.revenue SELECT sum(amount) FROM silver.orders;
         CREATE TABLE gold.daily AS SELECT id, amount FROM silver.orders;",
    )
    .await
    .expect("etl writes silver and gold");
    assert_eq!(
        denied(
            etl.batch_execute("CREATE TABLE silver.scratch (a int)")
                .await
        )
        .0,
        "42501"
    );
    assert_eq!(
        denied(
            etl.batch_execute("GRANT SELECT ON gold.daily TO alice")
                .await
        )
        .0,
        "42501"
    );

    // Privileges come through role membership, and go when revoked.
    let alice_reads = || async {
        let alice = login(&conninfo("alice", "alice-pw")).await.unwrap();
        alice.batch_execute("SELECT * FROM gold.revenue").await
    };
    assert!(alice_reads().await.is_err());
    admin.batch_execute("GRANT analyst TO alice").await.unwrap();
    alice_reads()
        .await
        .expect("alice reads gold as a member of analyst");
    let roles = psql(
        &conninfo("strata", ADMIN_PASSWORD),
        ADMIN_PASSWORD,
        "\\du alice",
    );
    assert!(roles.contains("| {analyst}"), "{roles}");
    admin
        .batch_execute("REVOKE analyst FROM alice")
        .await
        .unwrap();
    assert!(alice_reads().await.is_err());
    analyst
        .batch_execute("PREPARE revenue AS SELECT total FROM gold.revenue")
        .await
        .unwrap();
    admin
        .batch_execute("REVOKE SELECT ON ALL TABLES IN SCHEMA gold FROM analyst")
        .await
        .unwrap();
    assert_eq!(
        denied(analyst.batch_execute("SELECT * FROM gold.revenue").await).0,
        "42501"
    );
    // A statement prepared before the REVOKE is checked when it runs.
    assert_eq!(
        denied(analyst.batch_execute("EXECUTE revenue").await).0,
        "42501"
    );
    // Another role's statements are neither shown nor cancelled.
    let admin_pid: i32 = admin
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    admin
        .batch_execute("SELECT 'admin-only-text'")
        .await
        .unwrap();
    let seen: Vec<String> = analyst
        .query("SELECT coalesce(query, '') FROM pg_stat_activity", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        seen.iter().any(|q| q.contains("FROM pg_stat_activity")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|q| q == "<insufficient privilege>"),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|q| q.contains("admin-only-text")),
        "{seen:?}"
    );
    assert_eq!(
        denied(
            analyst
                .batch_execute(&format!("SELECT pg_cancel_backend({admin_pid})"))
                .await
        )
        .0,
        "42501"
    );
    // Privileges go with a dropped table: one made again under its name
    // starts with none, as in PostgreSQL; so do a dropped schema's.
    admin
        .batch_execute(
            "CREATE TABLE silver.returns (id int); \
             GRANT USAGE ON SCHEMA silver TO analyst; \
             GRANT SELECT ON silver.returns TO analyst",
        )
        .await
        .unwrap();
    analyst
        .batch_execute("SELECT * FROM silver.returns")
        .await
        .expect("granted");
    admin
        .batch_execute("DROP TABLE silver.returns; CREATE TABLE silver.returns (id int)")
        .await
        .unwrap();
    assert_eq!(
        denied(analyst.batch_execute("SELECT * FROM silver.returns").await).0,
        "42501"
    );
    admin
        .batch_execute(
            "CREATE SCHEMA scratch; CREATE TABLE scratch.t (id int); \
             GRANT USAGE ON SCHEMA scratch TO analyst; GRANT SELECT ON scratch.t TO analyst; \
             DROP SCHEMA scratch CASCADE; CREATE SCHEMA scratch; CREATE TABLE scratch.t (id int)",
        )
        .await
        .unwrap();
    assert_eq!(
        denied(analyst.batch_execute("SELECT * FROM scratch.t").await).0,
        "42501"
    );

    // Grants on what does not exist, or to whom does not exist, fail.
    for (sql, state) in [
        ("GRANT SELECT ON gold.nothing TO analyst", "42P01"),
        ("GRANT USAGE ON SCHEMA nowhere TO analyst", "3F000"),
        ("GRANT SELECT ON gold.revenue TO nobody", "42704"),
        ("GRANT USAGE ON gold.revenue TO analyst", "0LP01"),
        ("GRANT alice TO alice", "0LP01"),
    ] {
        assert_eq!(denied(admin.batch_execute(sql).await).0, state, "{sql}");
    }
}

/// The web console admits the roles SQL admits, with the same passwords:
/// nobody without one once passwords are set, other roles' statements
/// hidden, cancels for superusers only, no password on any page.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_admits_roles_as_sql_does() {
    let env = vec![("STRATA_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned())];
    let (_dir, server) = start("console", "127.0.0.1:0", &env).await;
    let port = server.addr.port();
    let sql = |user: &str, password: &str| {
        format!("host=127.0.0.1 port={port} dbname=lake user={user} password={password}")
    };
    let admin = login(&sql("strata", ADMIN_PASSWORD)).await.unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE analyst LOGIN PASSWORD '{ANALYST_PASSWORD}'; SELECT 'admin secret plan'"
        ))
        .await
        .unwrap();
    let analyst = login(&sql("analyst", ANALYST_PASSWORD)).await.unwrap();
    analyst.batch_execute("SELECT 'analyst own'").await.unwrap();

    let http = reqwest::Client::new();
    let base = format!("http://{}", server.console_addr);
    let get = |path: &str, user: Option<(&str, &str)>| {
        let mut request = http.get(format!("{base}{path}"));
        if let Some((user, password)) = user {
            request = request.basic_auth(user, Some(password));
        }
        request.send()
    };
    for path in ["/queries", "/metrics", "/cluster", "/queries/1"] {
        let anonymous = get(path, None).await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path} without a login");
        let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic"), "{challenge}");
        let wrong = get(path, Some(("strata", "not-the-password")))
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path} with a wrong password");
    }

    let page = get("/queries", Some(("analyst", ANALYST_PASSWORD)))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("analyst own"), "its own statements show");
    assert!(
        !page.contains("admin secret plan"),
        "others' statements are hidden"
    );
    assert!(page.contains("&lt;insufficient privilege&gt;"));
    let cancel = http
        .post(format!("{base}/queries/1/cancel"))
        .basic_auth("analyst", Some(ANALYST_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 403, "only superusers cancel");

    let page = get("/queries", Some(("strata", ADMIN_PASSWORD)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("admin secret plan") && page.contains("analyst own"));
    assert!(page.contains("CREATE ROLE analyst"), "{page}");
    assert!(
        !page.contains(ANALYST_PASSWORD),
        "a password shows on the console"
    );
    let metrics = get("/metrics", Some(("strata", ADMIN_PASSWORD)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains(ANALYST_PASSWORD));
    let failed: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("strata_logins_failed_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the failed-login counter");
    assert!(failed >= 4.0, "each wrong password counts: {failed}");
    assert!(!server.node.log_text().contains(ANALYST_PASSWORD));
    assert!(!server.node.log_text().contains(ADMIN_PASSWORD));
}
