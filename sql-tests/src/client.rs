//! A sqllogictest database over tokio-postgres.

use std::time::Duration;

use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::decode::Text;

/// Which half of the protocol a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Query` messages; results in text.
    Simple,
    /// Parse/Bind/Describe/Execute; results in binary.
    Extended,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Simple => "simple",
            Mode::Extended => "extended",
        })
    }
}

/// An error as the suites match it: the message and its SQLSTATE, so that
/// `statement error (42P01)` checks the code.
#[derive(Debug, thiserror::Error)]
#[error("{message} (SQLSTATE {code})")]
pub struct SqlError {
    pub code: String,
    pub message: String,
}

impl From<tokio_postgres::Error> for SqlError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => SqlError {
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
            },
            None => SqlError {
                code: "client".to_owned(),
                message: e.to_string(),
            },
        }
    }
}

/// One connection used by one test file.
pub struct PgClient {
    client: Client,
    mode: Mode,
    connection: tokio::task::JoinHandle<()>,
}

impl PgClient {
    pub async fn connect(conninfo: &str, mode: Mode) -> Result<Self, SqlError> {
        let (client, connection) = tokio_postgres::connect(conninfo, NoTls).await?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        // Both targets print timestamps the same way whatever their defaults.
        client.batch_execute("SET TimeZone = 'UTC'").await?;
        Ok(Self {
            client,
            mode,
            connection,
        })
    }

    async fn run_simple(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let messages = self.client.simple_query(sql).await?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut count = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::Row(row) => {
                    columns.get_or_insert(row.len());
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_owned(),
                                Some("") => "(empty)".to_owned(),
                                Some(v) => v.to_owned(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::RowDescription(description) => {
                    columns = Some(description.len());
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            },
            None => DBOutput::StatementComplete(count),
        })
    }

    async fn run_extended(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let statement = self.client.prepare(sql).await?;
        if statement.columns().is_empty() {
            let count = self.client.execute(&statement, &[]).await?;
            return Ok(DBOutput::StatementComplete(count));
        }
        let rows = self.client.query(&statement, &[]).await?;
        let rows = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| match row.try_get::<_, Option<Text>>(i) {
                        Ok(None) => Ok("NULL".to_owned()),
                        Ok(Some(Text(v))) if v.is_empty() => Ok("(empty)".to_owned()),
                        Ok(Some(Text(v))) => Ok(v),
                        Err(e) => Err(SqlError {
                            code: "decode".to_owned(),
                            message: e.to_string(),
                        }),
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; statement.columns().len()],
            rows,
        })
    }
}

#[async_trait::async_trait]
impl AsyncDB for PgClient {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        match self.mode {
            Mode::Simple => self.run_simple(sql).await,
            Mode::Extended => self.run_extended(sql).await,
        }
    }

    async fn shutdown(&mut self) {
        self.connection.abort();
    }

    fn engine_name(&self) -> &str {
        "postgres"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    async fn run_command(
        mut command: std::process::Command,
    ) -> std::io::Result<std::process::Output> {
        tokio::task::spawn_blocking(move || command.output())
            .await
            .map_err(std::io::Error::other)?
    }
}
