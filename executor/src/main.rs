use std::process::ExitCode;

use clap::Parser;
use strata_connectors::node::run_main;
use strata_executor::config::{Args, ExecutorConfig};

fn main() -> ExitCode {
    let config = match ExecutorConfig::resolve(Args::parse()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("strata-executor: {e}");
            return ExitCode::FAILURE;
        }
    };
    run_main("strata-executor", &config.logging, async {
        if let Some(dir) = &config.options.work_dir
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            eprintln!("strata-executor: cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        let mut executor = match strata_executor::start(config.options.clone()).await {
            Ok(executor) => executor,
            Err(e) => {
                eprintln!("strata-executor: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Scripts and tests wait for this line; keep its shape.
        let metrics = executor
            .metrics_addr
            .map_or_else(|| "off".to_owned(), |addr| addr.to_string());
        println!(
            "strata-executor ready: flight {} grpc {} metrics {} scheduler {}:{}",
            executor.flight_addr,
            executor.grpc_addr,
            metrics,
            config.options.scheduler_host,
            config.options.scheduler_port
        );
        // Ballista's executor handles Ctrl-C and SIGTERM itself: it tells
        // the scheduler it is leaving and lets running tasks finish.
        match (&mut executor.task).await {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => {
                eprintln!("strata-executor: {e}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("strata-executor: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
