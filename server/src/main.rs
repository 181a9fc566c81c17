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
    strata_server::init_tracing(&config.log_level, config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("strata-server: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(strata_server::server::serve(config))
}
