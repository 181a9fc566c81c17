//! Strata's executor: Ballista's executor with Strata's codecs and session
//! state, started either as its own process (`strata-executor`) or inside the
//! server (the embedded default).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::execution_engine::DefaultExecutionEngine;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use strata_connectors::codec::{logical_codec, physical_codec};
use strata_connectors::gateway::{
    BoundGateway, Gateway, GatewayError, check_protected, internal_ip,
};
use strata_connectors::lake::storage::{LakeStores, S3Options};
use strata_connectors::membership::Membership;
use strata_connectors::session::{config_producer, function_registry};
use tokio::task::JoinHandle;

pub mod config;
mod jobs;
mod metrics;
mod stoppable;
pub use stoppable::{StoppableEngine, TaskCounters};

/// Errors starting or running an executor.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("no free port on {host}: {source}")]
    NoFreePort {
        host: String,
        source: std::io::Error,
    },
    #[error("cannot list the functions tasks may call: {0}")]
    Functions(#[from] datafusion::error::DataFusionError),
    #[error("executor failed: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    #[error("executor did not start within {0:?}: its Flight port never opened")]
    StartTimeout(Duration),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("invalid scheduler address {host}:{port}: {source}")]
    SchedulerAddress {
        host: String,
        port: u16,
        source: tonic::transport::Error,
    },
    #[error("cannot listen for metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// How an executor runs and where it finds its scheduler.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Scheduler host.
    pub scheduler_host: String,
    /// Scheduler port.
    pub scheduler_port: u16,
    /// Address to bind the Flight (result and shuffle fetch) service to; port 0 picks one.
    pub flight_addr: SocketAddr,
    /// Address to bind the task gRPC service to; port 0 picks one.
    pub grpc_addr: SocketAddr,
    /// Host name the scheduler and other executors use to reach this one.
    pub advertise_host: Option<String>,
    /// Concurrent task slots.
    pub slots: usize,
    /// Directory for shuffle files; a temporary one when absent.
    pub work_dir: Option<PathBuf>,
    /// Memory pool size in bytes; 70% of the host's or cgroup's memory when absent.
    pub memory_limit: Option<u64>,
    /// How often the executor tells the scheduler it is alive.
    pub heartbeat_interval: Duration,
    /// Address to serve `/metrics` (Prometheus text) on; none when absent.
    pub metrics_addr: Option<SocketAddr>,
    /// How this process reaches an S3 lake; `None` leaves the process's
    /// settings as they are (the embedded executor shares the server's).
    pub s3: Option<S3Options>,
    /// The cluster this executor belongs to; without it, the executor
    /// serves anyone who reaches it, and only on loopback.
    pub membership: Option<Arc<Membership>>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            scheduler_host: "127.0.0.1".to_owned(),
            scheduler_port: 50050,
            flight_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            grpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            advertise_host: None,
            slots: std::thread::available_parallelism().map_or(2, |n| n.get()),
            work_dir: None,
            memory_limit: None,
            heartbeat_interval: Duration::from_secs(2),
            metrics_addr: None,
            s3: None,
            membership: None,
        }
    }
}

/// A running executor.
#[derive(Debug)]
pub struct RunningExecutor {
    /// The Flight address it serves results from.
    pub flight_addr: SocketAddr,
    /// The task gRPC address the scheduler pushes tasks to.
    pub grpc_addr: SocketAddr,
    /// The address `/metrics` is served on, if asked for.
    pub metrics_addr: Option<SocketAddr>,
    /// What its tasks have done.
    pub counters: Arc<TaskCounters>,
    /// The task running it.
    pub task: JoinHandle<Result<(), ExecutorError>>,
    metrics_task: Option<JoinHandle<()>>,
    /// With a cluster secret, the mutual-TLS ports in front of Flight and
    /// the task service.
    _gateways: Vec<Gateway>,
}

impl Drop for RunningExecutor {
    fn drop(&mut self) {
        if let Some(task) = &self.metrics_task {
            task.abort();
        }
    }
}

/// The executor's runtime: Ballista's (spill files in the work folder),
/// with the lake's object stores (`s3://` resolved from this process's
/// settings).
fn runtime_producer(work_dir: Option<PathBuf>) -> ballista_core::RuntimeProducer {
    Arc::new(move |_config| {
        let mut builder =
            RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(LakeStores::default()));
        if let Some(dir) = &work_dir {
            builder = builder.with_temp_file_path(dir.clone());
        }
        Ok(Arc::new(builder.build()?))
    })
}

/// Where ports asked for as 0 are picked: below Linux's ephemeral range
/// (32768-60999), from which outgoing connections and other port-0
/// listeners take theirs, so a port found free here stays free until
/// Ballista binds it.
const PICKED_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// Resolves port 0 in each address to a free port. Ballista binds by
/// address, not by listener, so the ports are found here (each held until
/// all are found, so they differ) and released for Ballista to bind again.
fn resolve_ports<const N: usize>(addrs: [SocketAddr; N]) -> Result<[SocketAddr; N], ExecutorError> {
    let mut held = Vec::new();
    let mut resolved = addrs;
    let span = u32::from(PICKED_PORTS.end - PICKED_PORTS.start);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(2_654_435_761);
    for addr in resolved.iter_mut().filter(|a| a.port() == 0) {
        let picked = (0..span).find_map(|step| {
            let offset = seed.wrapping_add(step.wrapping_mul(7_919)) % span;
            let port = PICKED_PORTS.start + offset as u16;
            TcpListener::bind(SocketAddr::new(addr.ip(), port)).ok()
        });
        let listener = match picked {
            Some(listener) => listener,
            // The whole range is taken: any free port, as the system picks.
            None => TcpListener::bind(*addr).map_err(|source| ExecutorError::NoFreePort {
                host: addr.ip().to_string(),
                source,
            })?,
        };
        *addr = listener
            .local_addr()
            .map_err(|source| ExecutorError::NoFreePort {
                host: addr.ip().to_string(),
                source,
            })?;
        held.push(listener);
    }
    Ok(resolved)
}

/// Starts an executor that registers with the scheduler and takes pushed
/// tasks. Returns once its Flight service accepts connections, which Ballista
/// opens only after the scheduler has accepted the registration.
pub async fn start(options: ExecutorOptions) -> Result<RunningExecutor, ExecutorError> {
    if let Some(s3) = &options.s3 {
        strata_connectors::lake::storage::configure_s3(s3.clone());
    }
    let membership = options.membership.as_deref();
    check_protected(
        "the executor's Flight service",
        options.flight_addr,
        membership,
    )?;
    check_protected("the executor's task service", options.grpc_addr, membership)?;
    let [flight_addr, grpc_addr] = resolve_ports([options.flight_addr, options.grpc_addr])?;
    let external_host = options
        .advertise_host
        .clone()
        .unwrap_or_else(|| flight_addr.ip().to_string());
    // With a secret, Ballista's services move to loopback behind gateways
    // on the same ports.
    let (flight_addr, grpc_addr, bind_ip, gateways) = match &options.membership {
        Some(membership) => {
            let flight = BoundGateway::bind(flight_addr, &external_host).await?;
            let grpc = BoundGateway::bind(grpc_addr, &external_host).await?;
            let bind_ip = internal_ip(&[flight.public.clone(), grpc.public.clone()].concat());
            let public = (
                flight.public.first().copied().unwrap_or(flight_addr),
                grpc.public.first().copied().unwrap_or(grpc_addr),
            );
            let gateways = vec![
                flight.serve(SocketAddr::new(bind_ip, flight_addr.port()), membership),
                grpc.serve(SocketAddr::new(bind_ip, grpc_addr.port()), membership),
            ];
            (public.0, public.1, bind_ip, gateways)
        }
        None => (flight_addr, grpc_addr, flight_addr.ip(), Vec::new()),
    };
    // Where Ballista's Flight service listens; it opens once registered.
    let flight_service = SocketAddr::new(bind_ip, flight_addr.port());
    let counters = Arc::new(TaskCounters::default());
    let slots = options.slots.max(1);
    let engine = StoppableEngine::new(
        DefaultExecutionEngine::new(),
        Arc::clone(&counters),
        &options.scheduler_host,
        options.scheduler_port,
        membership,
    )
    .map_err(|source| ExecutorError::SchedulerAddress {
        host: options.scheduler_host.clone(),
        port: options.scheduler_port,
        source,
    })?;
    let (metrics_addr, metrics_task) = match options.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ExecutorError::Metrics { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| ExecutorError::Metrics { addr, source })?;
            let task = tokio::spawn(metrics::serve(
                listener,
                Arc::clone(&counters),
                slots,
                options.memory_limit,
            ));
            (Some(bound), Some(task))
        }
        None => (None, None),
    };

    let mut config = ExecutorProcessConfig {
        bind_host: bind_ip.to_string(),
        external_host: Some(external_host),
        port: flight_addr.port(),
        grpc_port: grpc_addr.port(),
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: slots,
        task_scheduling_policy: TaskSchedulingPolicy::PushStaged,
        work_dir: options
            .work_dir
            .as_ref()
            .map(|dir| dir.to_string_lossy().into_owned()),
        executor_heartbeat_interval_seconds: options.heartbeat_interval.as_secs().max(1),
        memory_pool_size: options.memory_limit,
        override_config_producer: Some(config_producer()),
        override_function_registry: Some(Arc::new(function_registry()?)),
        override_runtime_producer: Some(runtime_producer(options.work_dir.clone())),
        override_logical_codec: Some(logical_codec()),
        override_physical_codec: Some(physical_codec()),
        // Ballista's shuffle-client pool is private to its crate, so the
        // wrapped engine opens Flight connections per fetch.
        override_execution_engine: Some(Arc::new(engine)),
        override_create_grpc_client_endpoint: options
            .membership
            .as_ref()
            .map(Membership::endpoint_override),
        print_thread_info: false,
        ..Default::default()
    };
    // Shuffle files of finished jobs are removed after an hour, checked every minute.
    config.job_data_ttl_seconds = 3600;
    config.job_data_clean_up_interval_seconds = 60;

    let task = tokio::spawn(async move {
        start_executor_process(Arc::new(config))
            .await
            .map_err(ExecutorError::from)
    });

    let wait = Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if tokio::net::TcpStream::connect(flight_service).await.is_ok() {
            break;
        }
        if task.is_finished() {
            return match task.await {
                Ok(Err(e)) => Err(e),
                _ => Err(ExecutorError::StartTimeout(wait)),
            };
        }
        if tokio::time::Instant::now() > deadline {
            task.abort();
            return Err(ExecutorError::StartTimeout(wait));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(%flight_addr, %grpc_addr, "executor registered");
    Ok(RunningExecutor {
        flight_addr,
        grpc_addr,
        metrics_addr,
        counters,
        task,
        metrics_task,
        _gateways: gateways,
    })
}
