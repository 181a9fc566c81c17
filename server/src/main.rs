use clap::Parser;
use strata_server::{Args, ServerConfig};

fn main() -> std::process::ExitCode {
    let config = match ServerConfig::resolve(Args::parse()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("strata-server: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let logging = config.logging.clone();
    strata_connectors::node::run_main(
        "strata-server",
        &logging,
        strata_server::server::serve(config),
    )
}
