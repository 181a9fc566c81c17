//! DataFusion in-process, for the benchmarks: the floor of Strata's own
//! overhead. Registers every `*.parquet` file or directory under `--data` as
//! a table named after it, runs each query file `--runs` times after one
//! warm-up, and prints one JSON object per query on stdout: its name, the
//! time of each run in milliseconds, and the last run's rows as text.
//!
//! ```text
//! strata-datafusion --data ~/.cache/strata/tpch/sf1 --runs 3 q1.sql q2.sql
//! strata-datafusion --data ~/.cache/strata/tpch/sf1 \
//!     --set datafusion.execution.parquet.pushdown_filters=true q6.sql
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use serde_json::json;

/// A result's rows, each value as text (`None` for NULL).
type Rows = Vec<Vec<Option<String>>>;

#[derive(Parser)]
#[command(about = "Runs SQL files on DataFusion in-process and times them")]
struct Args {
    /// A folder whose `NAME.parquet` files or folders become tables `NAME`.
    #[arg(long)]
    data: PathBuf,
    /// Timed runs of each query, after one warm-up run.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A DataFusion setting, `KEY=VALUE` (`datafusion.execution.batch_size=16384`);
    /// may be given again. Without any, DataFusion's defaults.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Query files; statements separated by `;`, the last one's rows kept.
    queries: Vec<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-datafusion: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<()> {
    let mut config = SessionConfig::new().with_information_schema(true);
    for setting in &args.settings {
        let Some((key, value)) = setting.split_once('=') else {
            return Err(DataFusionError::Configuration(format!(
                "--set {setting}: expected KEY=VALUE"
            )));
        };
        config.options_mut().set(key.trim(), value.trim())?;
    }
    let ctx = SessionContext::new_with_config(config);
    for entry in std::fs::read_dir(&args.data)? {
        let path = entry?.path();
        let (Some(stem), Some("parquet")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let location = path.to_string_lossy();
        let location = if path.is_dir() {
            format!("{location}/")
        } else {
            location.into_owned()
        };
        ctx.register_parquet(stem, &location, ParquetReadOptions::default())
            .await?;
    }
    for file in &args.queries {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(file)?;
        let statements = statements(&text);
        let outcome: Result<(Vec<f64>, Rows)> = async {
            run_statements(&ctx, &statements).await?;
            let mut times = Vec::with_capacity(args.runs);
            let mut rows = Vec::new();
            for _ in 0..args.runs {
                let (spent, last) = run_statements(&ctx, &statements).await?;
                times.push(spent);
                rows = last;
            }
            Ok((times, rows))
        }
        .await;
        let line = match outcome {
            Ok((times, rows)) => json!({"query": name, "times_ms": times, "rows": rows}),
            Err(e) => json!({"query": name, "error": e.to_string()}),
        };
        println!("{line}");
    }
    Ok(())
}

/// The statements of a SQL file, `--` comment lines removed.
fn statements(text: &str) -> Vec<String> {
    let text: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .map(|line| format!("{line}\n"))
        .collect();
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs `statements` in order; returns the milliseconds spent in those that
/// return rows, and the rows of the last of them, each value as text.
async fn run_statements(ctx: &SessionContext, statements: &[String]) -> Result<(f64, Rows)> {
    let mut spent = 0.0;
    let mut rows = Vec::new();
    for sql in statements {
        let start = Instant::now();
        let frame = ctx.sql(sql).await?;
        let returns_rows = !frame.schema().fields().is_empty();
        let batches = frame.collect().await?;
        let elapsed = start.elapsed().as_secs_f64() * 1000.0;
        if returns_rows {
            spent += elapsed;
            rows = as_text(&batches)?;
        }
    }
    Ok((spent, rows))
}

fn as_text(batches: &[RecordBatch]) -> Result<Rows> {
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(column, format)| {
                        (!column.is_null(row)).then(|| format.value(row).to_string())
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}
