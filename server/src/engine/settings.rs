//! PostgreSQL session settings: what `SET`, `SHOW` and `RESET` see for the
//! variables clients send, and which of them PostgreSQL reports back with a
//! ParameterStatus message.
//!
//! `datafusion.*` and `ballista.*` keys are not kept here: they live in the
//! session's DataFusion configuration (see `Session::set`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Result, StrataError};

/// The PostgreSQL version Strata reports, so drivers pick their PostgreSQL 16
/// code paths.
pub const PG_VERSION: &str = "16.6";

/// `server_version` as reported on startup and by `SHOW server_version`.
pub fn server_version() -> String {
    format!("{PG_VERSION} (Strata {})", env!("CARGO_PKG_VERSION"))
}

/// `version()`.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {PG_VERSION} (Strata {}) on {}-{}, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// A known variable: its canonical spelling, default, whether the server
/// reports changes with ParameterStatus, and whether a client may change it.
struct Variable {
    name: &'static str,
    default: &'static str,
    reported: bool,
    settable: bool,
}

const fn var(name: &'static str, default: &'static str, reported: bool) -> Variable {
    Variable {
        name,
        default,
        reported,
        settable: true,
    }
}

const fn fixed(name: &'static str, default: &'static str, reported: bool) -> Variable {
    Variable {
        name,
        default,
        reported,
        settable: false,
    }
}

/// Every PostgreSQL variable Strata knows. Those marked fixed describe the
/// server and cannot be changed by a session.
const VARIABLES: &[Variable] = &[
    var("application_name", "", true),
    var("client_encoding", "UTF8", true),
    var("DateStyle", "ISO, MDY", true),
    var("IntervalStyle", "postgres", true),
    var("TimeZone", "UTC", true),
    var("extra_float_digits", "1", false),
    var("search_path", "\"$user\", public", false),
    var("statement_timeout", "0", false),
    var("lock_timeout", "0", false),
    var("idle_in_transaction_session_timeout", "0", false),
    var("standard_conforming_strings", "on", true),
    var("bytea_output", "hex", false),
    var("client_min_messages", "notice", false),
    // libpq reads it to hash a password on the client (psql's \password);
    // Strata stores SCRAM-SHA-256 verifiers only.
    var("password_encryption", "scram-sha-256", false),
    var("default_transaction_isolation", "read committed", false),
    var("transaction_isolation", "read committed", false),
    var("default_transaction_read_only", "off", true),
    var("transaction_read_only", "off", false),
    var("row_security", "on", false),
    var("xmloption", "content", false),
    var("jit", "off", false),
    fixed("server_version", "", true),
    fixed("server_version_num", "160006", false),
    fixed("server_encoding", "UTF8", true),
    fixed("integer_datetimes", "on", true),
    fixed("in_hot_standby", "off", true),
    fixed("is_superuser", "on", true),
    fixed("max_identifier_length", "63", false),
    fixed("lc_collate", "C", false),
    fixed("lc_ctype", "C", false),
    fixed("lc_messages", "C", false),
    fixed("max_index_keys", "32", false),
    fixed("block_size", "8192", false),
    fixed("scram_iterations", "4096", true),
    fixed("session_authorization", "", true),
];

/// The canonical spelling of a known variable (`timezone` -> `TimeZone`).
pub fn canonical_name(name: &str) -> Option<&'static str> {
    lookup(name).map(|v| v.name)
}

fn lookup(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}

/// One variable as pg_settings shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingRow {
    pub name: String,
    pub setting: String,
    pub boot_val: String,
    pub settable: bool,
    pub from_session: bool,
}

/// A session's settings, carried in its DataFusion configuration so that
/// catalog tables (pg_settings) read the session's own values.
#[derive(Debug, Clone)]
pub struct SessionSettings(pub std::sync::Arc<std::sync::RwLock<Settings>>);

/// A session's PostgreSQL variables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Values that differ from a variable's default, keyed by canonical name,
    /// plus custom dotted variables (`myapp.tenant`).
    values: BTreeMap<String, String>,
    user: String,
}

impl Settings {
    /// Defaults for a new session of `user`, with the startup parameters the
    /// client sent applied on top.
    pub fn new(user: &str, startup: &[(String, String)]) -> Self {
        let mut settings = Self {
            values: BTreeMap::new(),
            user: user.to_owned(),
        };
        // `options` carries `-c name=value` (or `--name=value`) pairs, as
        // libpq's PGOPTIONS and JDBC's `options` send them.
        let from_options: Vec<(String, String)> = startup
            .iter()
            .filter(|(name, _)| name == "options")
            .flat_map(|(_, value)| parse_options(value))
            .collect();
        for (name, value) in startup.iter().chain(from_options.iter()) {
            // Startup packets carry connection fields too (user, database,
            // options, replication); only known variables are taken.
            if lookup(name).is_some_and(|v| v.settable) {
                // A bad value in the startup packet falls back to the default,
                // as the client has no way to see an error yet.
                if settings.set(name, value).is_err() {
                    tracing::debug!(name, value, "ignored invalid startup parameter");
                }
            }
        }
        settings
    }

    /// The current value of `name`, or `None` for an unknown variable.
    pub fn get(&self, name: &str) -> Option<String> {
        match lookup(name) {
            Some(v) => Some(self.value_of(v)),
            None => self.values.get(&name.to_ascii_lowercase()).cloned(),
        }
    }

    fn value_of(&self, v: &Variable) -> String {
        match v.name {
            "server_version" => server_version(),
            "session_authorization" => self.user.clone(),
            _ => self
                .values
                .get(v.name)
                .cloned()
                .unwrap_or_else(|| v.default.to_owned()),
        }
    }

    /// Sets `name` to `value`. Returns the canonical name and the value to
    /// report with ParameterStatus, if the variable is reported.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Option<(String, String)>> {
        let Some(v) = lookup(name) else {
            if name.contains('.') {
                self.values
                    .insert(name.to_ascii_lowercase(), value.to_owned());
                return Ok(None);
            }
            return Err(StrataError::UnknownSetting(name.to_owned()));
        };
        if !v.settable {
            return Err(StrataError::InvalidSettingValue {
                name: v.name.to_owned(),
                value: value.to_owned(),
            });
        }
        let value = normalize(v.name, value)?;
        if value == v.default {
            self.values.remove(v.name);
        } else {
            self.values.insert(v.name.to_owned(), value.clone());
        }
        Ok(v.reported.then(|| (v.name.to_owned(), value)))
    }

    /// Restores the default of `name`; returns what to report, as `set` does.
    pub fn reset(&mut self, name: &str) -> Result<Option<(String, String)>> {
        match lookup(name) {
            Some(v) => {
                self.values.remove(v.name);
                Ok(v.reported.then(|| (v.name.to_owned(), self.value_of(v))))
            }
            None if name.contains('.') => {
                self.values.remove(&name.to_ascii_lowercase());
                Ok(None)
            }
            None => Err(StrataError::UnknownSetting(name.to_owned())),
        }
    }

    /// Restores every default; returns the reported variables that changed.
    pub fn reset_all(&mut self) -> Vec<(String, String)> {
        let changed: Vec<String> = self.values.keys().cloned().collect();
        self.values.clear();
        changed
            .iter()
            .filter_map(|name| lookup(name))
            .filter(|v| v.reported)
            .map(|v| (v.name.to_owned(), self.value_of(v)))
            .collect()
    }

    /// Every known variable with its value, for `SHOW ALL`.
    pub fn all(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = VARIABLES
            .iter()
            .map(|v| (v.name.to_owned(), self.value_of(v)))
            .collect();
        all.extend(
            self.values
                .iter()
                .filter(|(k, _)| lookup(k).is_none())
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        all
    }

    /// Every known variable as pg_settings shows it: value, default, and
    /// whether a session may change it and has.
    pub fn rows(&self) -> Vec<SettingRow> {
        let mut rows: Vec<SettingRow> = VARIABLES
            .iter()
            .map(|v| SettingRow {
                name: v.name.to_owned(),
                setting: self.value_of(v),
                boot_val: match v.name {
                    "server_version" | "session_authorization" => self.value_of(v),
                    _ => v.default.to_owned(),
                },
                settable: v.settable,
                from_session: self.values.contains_key(v.name),
            })
            .collect();
        rows.extend(
            self.values
                .iter()
                .filter(|(k, _)| lookup(k).is_none())
                .map(|(k, v)| SettingRow {
                    name: k.clone(),
                    setting: v.clone(),
                    boot_val: String::new(),
                    settable: true,
                    from_session: true,
                }),
        );
        rows
    }

    /// The variables PostgreSQL reports on startup.
    pub fn reported(&self) -> Vec<(String, String)> {
        VARIABLES
            .iter()
            .filter(|v| v.reported)
            .map(|v| (v.name.to_owned(), self.value_of(v)))
            .collect()
    }

    /// `statement_timeout`, or `None` when it is off.
    pub fn statement_timeout(&self) -> Option<Duration> {
        let value = self.get("statement_timeout")?;
        parse_duration_ms(&value).filter(|d| !d.is_zero())
    }

    /// `TimeZone`.
    pub fn time_zone(&self) -> String {
        self.get("TimeZone").unwrap_or_else(|| "UTC".to_owned())
    }

    /// The schemas of `search_path`, without `$user` and `pg_catalog`.
    pub fn search_path(&self) -> Vec<String> {
        self.get("search_path")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_owned())
            .filter(|s| !s.is_empty() && s != "$user" && s != "pg_catalog")
            .collect()
    }
}

/// Splits a startup `options` string into settings: `-c a=b --c=d`.
fn parse_options(options: &str) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(word) = words.next() {
        let assignment = if word == "-c" {
            words.next()
        } else if let Some(rest) = word.strip_prefix("--") {
            Some(rest)
        } else {
            word.strip_prefix("-c")
        };
        if let Some((name, value)) = assignment.and_then(|a| a.split_once('=')) {
            settings.push((name.replace('-', "_"), value.to_owned()));
        }
    }
    settings
}

/// Checks and canonicalises a value for a known variable.
fn normalize(name: &str, value: &str) -> Result<String> {
    let invalid = || StrataError::InvalidSettingValue {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    match name {
        "client_encoding" => {
            let v = value.trim().to_ascii_uppercase().replace(['-', '_'], "");
            if v == "UTF8" || v == "UNICODE" {
                Ok("UTF8".to_owned())
            } else {
                Err(StrataError::NotSupported(format!(
                    "client_encoding {value} (Strata speaks UTF8 only)"
                )))
            }
        }
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            let ms = parse_duration_ms(value).ok_or_else(invalid)?;
            Ok(ms.as_millis().to_string())
        }
        "extra_float_digits" => {
            let n: i32 = value.trim().parse().map_err(|_| invalid())?;
            if (-15..=3).contains(&n) {
                Ok(n.to_string())
            } else {
                Err(invalid())
            }
        }
        "TimeZone" => {
            let tz = value.trim();
            if tz.eq_ignore_ascii_case("utc") || tz.eq_ignore_ascii_case("etc/utc") {
                return Ok("UTC".to_owned());
            }
            if tz.eq_ignore_ascii_case("local") || tz.eq_ignore_ascii_case("default") {
                return Ok("UTC".to_owned());
            }
            if tz.parse::<chrono_tz::Tz>().is_ok() || parse_offset(tz).is_some() {
                Ok(tz.to_owned())
            } else {
                Err(invalid())
            }
        }
        "DateStyle" => {
            // Only ISO output is produced; the day/month order is accepted as given.
            let upper = value.to_ascii_uppercase();
            if upper
                .split(',')
                .any(|p| matches!(p.trim(), "SQL" | "POSTGRES" | "GERMAN"))
            {
                return Err(StrataError::NotSupported(format!(
                    "DateStyle {value} (Strata writes ISO dates)"
                )));
            }
            let order = if upper.contains("DMY") {
                "DMY"
            } else if upper.contains("YMD") {
                "YMD"
            } else {
                "MDY"
            };
            Ok(format!("ISO, {order}"))
        }
        "IntervalStyle" => {
            if value.trim().eq_ignore_ascii_case("postgres") {
                Ok("postgres".to_owned())
            } else {
                Err(StrataError::NotSupported(format!(
                    "IntervalStyle {value} (Strata writes postgres style)"
                )))
            }
        }
        "standard_conforming_strings" => match parse_bool(value) {
            Some(true) => Ok("on".to_owned()),
            Some(false) => Err(StrataError::NotSupported(
                "standard_conforming_strings = off".to_owned(),
            )),
            None => Err(invalid()),
        },
        "bytea_output" => {
            if value.trim().eq_ignore_ascii_case("hex") {
                Ok("hex".to_owned())
            } else {
                Err(StrataError::NotSupported(format!("bytea_output {value}")))
            }
        }
        "default_transaction_read_only" | "transaction_read_only" | "row_security" | "jit" => {
            parse_bool(value)
                .map(|b| if b { "on" } else { "off" }.to_owned())
                .ok_or_else(invalid)
        }
        "default_transaction_isolation" | "transaction_isolation" => {
            let v = value.trim().to_ascii_lowercase();
            match v.as_str() {
                "read uncommitted" | "read committed" | "repeatable read" | "serializable" => Ok(v),
                _ => Err(invalid()),
            }
        }
        _ => Ok(value.to_owned()),
    }
}

/// Parses PostgreSQL's boolean spellings.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Some(true),
        "off" | "false" | "no" | "0" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// Parses a time setting: a number of milliseconds or a number with a unit
/// (`us`, `ms`, `s`, `min`, `h`, `d`).
pub fn parse_duration_ms(value: &str) -> Option<Duration> {
    let v = value.trim().trim_matches('\'').trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: f64 = number.parse().ok()?;
    let ms = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => number,
        "us" => number / 1000.0,
        "s" => number * 1000.0,
        "min" => number * 60_000.0,
        "h" => number * 3_600_000.0,
        "d" => number * 86_400_000.0,
        _ => return None,
    };
    if !(0.0..=i32::MAX as f64).contains(&ms) {
        return None;
    }
    Some(Duration::from_micros((ms * 1000.0) as u64))
}

/// Parses a fixed UTC offset such as `+02:00`, `-5` or `+0530`, in seconds east of UTC.
pub fn parse_offset(tz: &str) -> Option<i32> {
    let (sign, rest) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
        None if rest.len() == 4 => (rest[..2].parse().ok()?, rest[2..].parse().ok()?),
        None => (rest.parse().ok()?, 0),
    };
    if hours > 15 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_variables_are_case_insensitive_and_canonical() {
        let mut s = Settings::new("alice", &[]);
        let reported = s.set("timezone", "Europe/Paris").unwrap();
        assert_eq!(
            reported,
            Some(("TimeZone".to_owned(), "Europe/Paris".to_owned()))
        );
        assert_eq!(s.get("TIMEZONE").as_deref(), Some("Europe/Paris"));
        assert_eq!(s.get("session_authorization").as_deref(), Some("alice"));
    }

    #[test]
    fn unknown_variables_are_refused_but_custom_ones_are_kept() {
        let mut s = Settings::new("u", &[]);
        assert!(matches!(
            s.set("no_such_thing", "1"),
            Err(StrataError::UnknownSetting(_))
        ));
        s.set("myapp.tenant", "42").unwrap();
        assert_eq!(s.get("myapp.tenant").as_deref(), Some("42"));
    }

    #[test]
    fn statement_timeout_units() {
        let mut s = Settings::new("u", &[]);
        assert_eq!(s.statement_timeout(), None);
        s.set("statement_timeout", "1.5s").unwrap();
        assert_eq!(s.statement_timeout(), Some(Duration::from_millis(1500)));
        s.set("statement_timeout", "250").unwrap();
        assert_eq!(s.get("statement_timeout").as_deref(), Some("250"));
        assert!(s.set("statement_timeout", "soon").is_err());
        s.reset("statement_timeout").unwrap();
        assert_eq!(s.statement_timeout(), None);
    }

    #[test]
    fn startup_options_set_variables() {
        let s = Settings::new(
            "u",
            &[(
                "options".into(),
                "-c search_path=sales --statement-timeout=5s".into(),
            )],
        );
        assert_eq!(s.search_path(), vec!["sales".to_owned()]);
        assert_eq!(s.statement_timeout(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn startup_parameters_apply_and_server_facts_are_fixed() {
        let s = Settings::new(
            "u",
            &[
                ("application_name".into(), "psql".into()),
                ("user".into(), "u".into()),
            ],
        );
        assert_eq!(s.get("application_name").as_deref(), Some("psql"));
        let mut s = s;
        assert!(s.set("server_version", "1").is_err());
        assert!(s.get("server_version").unwrap().starts_with("16."));
    }
}
