//! A PostgreSQL database declared as a source: a name users type as a
//! catalog (`pg.public.orders`), a URL without a password, and where each
//! node finds the password (an environment variable or a file).
//!
//! A source's definition holds no secret, so it can travel in plans: every
//! node that runs part of a query reads the password from its own
//! environment or files when it connects.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, Config, NoTls};

use tokio_postgres_rustls::MakeRustlsConnect;

use super::options::{ReadOptions, TableOptions};
use super::tls::TlsSettings;

/// Where a node finds a source's password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PasswordRef {
    /// No password (trust or peer authentication).
    None,
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file, without a trailing newline.
    File(PathBuf),
}

/// A PostgreSQL database users query as a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgSource {
    /// The catalog name: `<name>.<schema>.<table>`.
    pub name: String,
    /// `postgres://user@host:port/database?options`, with no password.
    pub url: String,
    pub password: PasswordRef,
    /// SQL run on every new connection (Spark's `sessionInitStatement`):
    /// `SET search_path TO shop`, `SET statement_timeout = '5min'`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_init: Option<String>,
}

/// The settings of a `[sources.<name>]` table with `kind = "postgres"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSettings {
    kind: String,
    url: String,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    session_init: Option<String>,
    /// `[sources.<name>.tables."schema.table"]`: how tables are read.
    #[serde(default)]
    tables: BTreeMap<String, toml::Table>,
}

/// Errors defining or reaching a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source \"{name}\": {message}")]
    Invalid { name: String, message: String },
    #[error("source \"{name}\" cannot be reached: {message}")]
    Unreachable { name: String, message: String },
    #[error("source \"{name}\": its session_init failed: {message}")]
    SessionInit {
        name: String,
        message: String,
        /// PostgreSQL's SQLSTATE.
        code: Option<String>,
    },
}

impl PgSource {
    /// A source from its `[sources.<name>]` table, and the read options of
    /// its tables (`[sources.<name>.tables."schema.table"]`).
    pub fn from_settings(
        name: &str,
        table: toml::Table,
    ) -> Result<(Self, TableOptions), SourceError> {
        let invalid = |message: String| SourceError::Invalid {
            name: name.to_owned(),
            message,
        };
        let settings: SourceSettings = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.message().to_owned()))?;
        if settings.kind != "postgres" {
            return Err(invalid(format!(
                "kind \"{}\" is not known; the kinds are: postgres",
                settings.kind
            )));
        }
        let password = match (settings.password_env, settings.password_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "give password_env or password_file, not both".to_owned(),
                ));
            }
            (Some(var), None) => PasswordRef::Env(var),
            (None, Some(path)) => PasswordRef::File(path),
            (None, None) => PasswordRef::None,
        };
        let mut tables = TableOptions::new();
        for (key, options) in &settings.tables {
            if key.split('.').count() != 2 {
                return Err(invalid(format!(
                    "tables.\"{key}\": name tables as \"schema.table\""
                )));
            }
            let options = ReadOptions::from_toml(options)
                .map_err(|message| invalid(format!("tables.\"{key}\": {message}")))?;
            tables.insert(key.clone(), options);
        }
        let source = Self::new(name, &settings.url, password)?;
        Ok((source.with_session_init(settings.session_init), tables))
    }

    /// A source named `name` at `url`, which must not hold a password.
    pub fn new(name: &str, url: &str, password: PasswordRef) -> Result<Self, SourceError> {
        let invalid = |message: String| SourceError::Invalid {
            name: name.to_owned(),
            message,
        };
        let (plain_url, _) = TlsSettings::for_url(url).map_err(invalid)?;
        let config = Config::from_str(&plain_url)
            .map_err(|_| invalid("the url is not a PostgreSQL connection URL".to_owned()))?;
        if config.get_password().is_some() {
            return Err(invalid(
                "the url holds a password; name an environment variable (password_env) or a \
                 file (password_file) instead, on every node"
                    .to_owned(),
            ));
        }
        if config.get_hosts().is_empty() {
            return Err(invalid("the url names no host".to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            url: url.to_owned(),
            password,
            session_init: None,
        })
    }

    /// The source with `sql` run on every new connection.
    pub fn with_session_init(mut self, sql: Option<String>) -> Self {
        self.session_init = sql.filter(|s| !s.trim().is_empty());
        self
    }

    /// Opens a connection, with the password read on this node.
    pub async fn connect(&self) -> Result<Client, SourceError> {
        let unreachable = |message: String| SourceError::Unreachable {
            name: self.name.clone(),
            message,
        };
        let (plain_url, tls) = TlsSettings::for_url(&self.url).map_err(unreachable)?;
        let mut config = Config::from_str(&plain_url).map_err(|e| unreachable(e.to_string()))?;
        match &self.password {
            PasswordRef::None => {}
            PasswordRef::Env(var) => {
                let password = std::env::var(var).map_err(|_| {
                    unreachable(format!("the environment variable {var} holding its password is not set on this node"))
                })?;
                config.password(password);
            }
            PasswordRef::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    unreachable(format!(
                        "cannot read its password file {}: {e}",
                        path.display()
                    ))
                })?;
                config.password(text.trim_end_matches(['\r', '\n']));
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("strata");
        }
        let name = self.name.clone();
        let ended = move |e: tokio_postgres::Error| {
            tracing::debug!(source = %name, error = %e, "connection to a source ended");
        };
        // The error's source says why (a certificate refused, a handshake
        // failed); tokio-postgres's own text alone does not.
        let failed = |e: tokio_postgres::Error| {
            use std::error::Error;
            unreachable(match e.source() {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            })
        };
        let client = match tls {
            None => {
                let (client, connection) = config.connect(NoTls).await.map_err(failed)?;
                tokio::spawn(async move { connection.await.unwrap_or_else(ended) });
                client
            }
            Some(tls) => {
                let (client, connection) = config
                    .connect(MakeRustlsConnect::new(tls))
                    .await
                    .map_err(failed)?;
                tokio::spawn(async move { connection.await.unwrap_or_else(ended) });
                client
            }
        };
        if let Some(sql) = &self.session_init {
            client
                .batch_execute(sql)
                .await
                .map_err(|e| SourceError::SessionInit {
                    name: self.name.clone(),
                    message: e
                        .as_db_error()
                        .map_or_else(|| e.to_string(), |db| db.message().to_owned()),
                    code: e.code().map(|c| c.code().to_owned()),
                })?;
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn sources_come_from_settings_without_passwords() {
        let (source, tables) = PgSource::from_settings(
            "pg",
            table(
                "kind = \"postgres\"\nurl = \"postgres://app@db:5432/shop?sslmode=prefer\"\n\
                 password_env = \"PG_SHOP_PASSWORD\"\n\
                 [tables.\"public.orders\"]\nnum_partitions = 4\n",
            ),
        )
        .unwrap();
        assert_eq!(source.password, PasswordRef::Env("PG_SHOP_PASSWORD".into()));
        assert_eq!(tables["public.orders"].num_partitions, Some(4));

        let with_password = PgSource::from_settings(
            "pg",
            table("kind = \"postgres\"\nurl = \"postgres://app:hunter2@db/shop\"\n"),
        )
        .unwrap_err();
        assert!(with_password.to_string().contains("holds a password"));
        assert!(!with_password.to_string().contains("hunter2"));

        for bad in [
            "kind = \"mysql\"\nurl = \"postgres://db/x\"\n",
            "kind = \"postgres\"\nurl = \"postgres://db/x\"\npassword_env = \"A\"\npassword_file = \"/b\"\n",
            "kind = \"postgres\"\nurl = \"postgres://db/x\"\nuser = \"x\"\n",
            "kind = \"postgres\"\nurl = \"postgres://db/x\"\n[tables.orders]\nnum_partitions = 4\n",
            "kind = \"postgres\"\nurl = \"postgres://db/x\"\n[tables.\"s.t\"]\nfetch = 4\n",
        ] {
            assert!(PgSource::from_settings("pg", table(bad)).is_err(), "{bad}");
        }
    }
}
