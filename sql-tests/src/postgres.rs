//! Helpers for tests that use the PostgreSQL on this machine beside Strata.

use tokio_postgres::{Client, NoTls};

use crate::Database;

/// A connection to `conninfo` (Strata or PostgreSQL); a test that cannot
/// connect fails saying what to start.
pub async fn connect(conninfo: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(conninfo, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect ({conninfo}): {e}\nPostgreSQL is needed on 127.0.0.1:5432: \
                 pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
            )
        });
    tokio::spawn(connection);
    client
}

/// A schema of its own in the test PostgreSQL (`strata_<name>_<pid>`),
/// created empty and dropped by [`PgScratch::drop`].
pub struct PgScratch {
    pub client: Client,
    pub schema: String,
}

impl PgScratch {
    pub async fn new(name: &str) -> Self {
        let client = connect(&Database::postgres().conninfo).await;
        let schema = format!("strata_{name}_{}", std::process::id());
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
        Self { client, schema }
    }

    /// Runs `sql` (setup statements) in PostgreSQL.
    pub async fn run(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn drop(self) {
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await;
    }
}

/// The plan text `EXPLAIN sql` returns, all rows joined.
pub async fn explain(client: &Client, sql: &str) -> String {
    client
        .query(&format!("EXPLAIN {sql}"), &[])
        .await
        .unwrap_or_else(|e| {
            panic!(
                "EXPLAIN {sql}: {}",
                e.as_db_error().map_or(e.to_string(), |d| d.to_string())
            )
        })
        .iter()
        .map(|row| row.get::<_, String>(1))
        .collect::<Vec<_>>()
        .join("\n")
}
