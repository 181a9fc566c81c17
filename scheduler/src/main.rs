use std::process::ExitCode;

use clap::Parser;
use strata_connectors::node::{run_main, shutdown_signal};
use strata_scheduler::config::{Args, SchedulerConfig};

fn main() -> ExitCode {
    let config = match SchedulerConfig::resolve(Args::parse()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("strata-scheduler: {e}");
            return ExitCode::FAILURE;
        }
    };
    run_main("strata-scheduler", &config.logging, async {
        let scheduler = match strata_scheduler::start(config.listen, config.options.clone()).await {
            Ok(scheduler) => scheduler,
            Err(e) => {
                eprintln!("strata-scheduler: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Scripts and tests wait for this line; keep its shape.
        println!(
            "strata-scheduler listening on {} (advertised as {})",
            scheduler.addr, config.options.external_host
        );
        tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                ExitCode::SUCCESS
            }
            ended = scheduler.task => {
                match ended {
                    Ok(Err(e)) => eprintln!("strata-scheduler: {e}"),
                    Ok(Ok(())) => eprintln!("strata-scheduler: the service stopped"),
                    Err(e) => eprintln!("strata-scheduler: {e}"),
                }
                ExitCode::FAILURE
            }
        }
    })
}
