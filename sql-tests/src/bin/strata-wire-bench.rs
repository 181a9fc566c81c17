//! A PostgreSQL-protocol client for the benchmarks, the same for Strata and
//! PostgreSQL so that only the server differs. Prints one JSON object.
//!
//! ```text
//! strata-wire-bench latency --url URL --sql "SELECT 1" --runs 1000 --protocol simple
//! strata-wire-bench latency --url URL --sql "SELECT ... WHERE id = $1" --param-max 1000 --protocol prepared
//! strata-wire-bench stream --url URL --sql "SELECT * FROM t" --format binary
//! ```
//!
//! `latency` runs the statement once to warm up, then `--runs` times, and
//! reports p50, p99 and the mean in milliseconds. Protocols: `simple` (one
//! Query message, as psql), `extended` (parse, bind and execute each time,
//! as a driver without a statement cache), `prepared` (parsed once, then
//! bind and execute with the run number modulo `--param-max`, plus one, as
//! an int8 parameter). `stream` reads the whole result, counting rows
//! without decoding them: `text` through the simple protocol, `binary`
//! through the extended one, and reports rows per second.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use futures::{StreamExt, TryStreamExt, pin_mut};
use serde_json::json;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

#[derive(Parser)]
#[command(about = "Measures statement latency and result streaming over the PostgreSQL protocol")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// p50 and p99 of one statement run many times.
    Latency {
        #[arg(long)]
        url: String,
        #[arg(long)]
        sql: String,
        #[arg(long, default_value_t = 1000)]
        runs: usize,
        #[arg(long, value_enum, default_value_t = Protocol::Simple)]
        protocol: Protocol,
        /// With `prepared`: parameter $1 cycles through 1..=N.
        #[arg(long, default_value_t = 1000)]
        param_max: i64,
    },
    /// Rows per second of one result read whole.
    Stream {
        #[arg(long)]
        url: String,
        #[arg(long)]
        sql: String,
        #[arg(long, value_enum)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Protocol {
    Simple,
    Extended,
    Prepared,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Binary,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse().command).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            // A database error's Display is only "db error": show its cause.
            let cause = std::error::Error::source(e.as_ref()).map(|c| format!(": {c}"));
            eprintln!("strata-wire-bench: {e}{}", cause.unwrap_or_default());
            ExitCode::FAILURE
        }
    }
}

async fn connect(url: &str) -> Result<Client, Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("strata-wire-bench: connection: {e}");
        }
    });
    Ok(client)
}

async fn run(command: Command) -> Result<serde_json::Value, Error> {
    match command {
        Command::Latency {
            url,
            sql,
            runs,
            protocol,
            param_max,
        } => {
            let client = connect(&url).await?;
            let prepared = match protocol {
                Protocol::Prepared => Some(client.prepare(&sql).await?),
                _ => None,
            };
            let mut times = Vec::with_capacity(runs);
            let mut rows = 0;
            for run in 0..=runs {
                let start = Instant::now();
                rows = match (&prepared, protocol) {
                    (Some(statement), _) => {
                        let key = run as i64 % param_max.max(1) + 1;
                        client.query(statement, &[&key]).await?.len()
                    }
                    (None, Protocol::Extended) => client.query(sql.as_str(), &[]).await?.len(),
                    (None, _) => client
                        .simple_query(&sql)
                        .await?
                        .iter()
                        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                        .count(),
                };
                // The first run warms up.
                if run > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1000.0);
                }
            }
            times.sort_by(f64::total_cmp);
            let at = |q: f64| {
                times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1]
            };
            Ok(json!({
                "runs": runs,
                "rows": rows,
                "p50_ms": at(0.50),
                "p99_ms": at(0.99),
                "mean_ms": times.iter().sum::<f64>() / times.len() as f64,
            }))
        }
        Command::Stream { url, sql, format } => {
            let client = connect(&url).await?;
            let start = Instant::now();
            let rows = match format {
                Format::Text => {
                    let stream = client.simple_query_raw(&sql).await?;
                    pin_mut!(stream);
                    let mut rows = 0u64;
                    while let Some(message) = stream.next().await {
                        if let SimpleQueryMessage::Row(_) = message? {
                            rows += 1;
                        }
                    }
                    rows
                }
                Format::Binary => {
                    let stream = client
                        .query_raw(sql.as_str(), std::iter::empty::<i64>())
                        .await?;
                    stream
                        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                        .await?
                }
            };
            let seconds = start.elapsed().as_secs_f64();
            Ok(json!({
                "rows": rows,
                "seconds": seconds,
                "rows_per_s": rows as f64 / seconds,
            }))
        }
    }
}
