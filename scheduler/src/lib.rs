//! Strata's scheduler: Ballista's scheduler with Strata's codecs and session
//! state, started either as its own process (`strata-scheduler`) or inside the
//! server (the embedded default).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use strata_connectors::codec::{logical_codec, physical_codec};
use strata_connectors::gateway::{
    BoundGateway, Gateway, GatewayError, check_protected, internal_ip,
};
use strata_connectors::membership::Membership;
use strata_connectors::session::{config_producer, session_state};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub mod config;

/// Errors starting or running the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("scheduler failed: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
}

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Host name executors and clients use to reach this scheduler.
    pub external_host: String,
    /// Seconds without a heartbeat before an executor is declared lost.
    pub executor_timeout: Duration,
    /// How often the scheduler looks for lost executors.
    pub expire_dead_executor_interval: Duration,
    /// The cluster this scheduler serves; without it, the scheduler serves
    /// anyone who reaches it, and only on loopback.
    pub membership: Option<Arc<Membership>>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            external_host: "127.0.0.1".to_owned(),
            executor_timeout: Duration::from_secs(8),
            expire_dead_executor_interval: Duration::from_secs(2),
            membership: None,
        }
    }
}

/// A running scheduler.
#[derive(Debug)]
pub struct RunningScheduler {
    /// The address its gRPC and REST services are reached at.
    pub addr: SocketAddr,
    /// The task serving it; it ends only on error.
    pub task: JoinHandle<Result<(), SchedulerError>>,
    /// With a cluster secret, the mutual-TLS port in front of it.
    pub gateway: Option<Gateway>,
}

impl RunningScheduler {
    /// The URL Ballista clients use to reach this scheduler.
    pub fn url(&self) -> String {
        format!("df://{}", self.addr)
    }
}

/// Binds `addr` (port 0 picks a free port) and serves a scheduler on it:
/// with a cluster secret, members only, through a gateway whose service
/// listens on loopback at the same port; without one, anyone, on loopback
/// only.
pub async fn start(
    addr: SocketAddr,
    options: SchedulerOptions,
) -> Result<RunningScheduler, SchedulerError> {
    check_protected("the scheduler", addr, options.membership.as_deref())?;
    let (listener, gateway) = match &options.membership {
        Some(membership) => {
            let public = BoundGateway::bind(addr, &options.external_host).await?;
            let internal = SocketAddr::new(internal_ip(&public.public), public.port());
            let listener =
                TcpListener::bind(internal)
                    .await
                    .map_err(|source| SchedulerError::Bind {
                        addr: internal,
                        source,
                    })?;
            (listener, Some(public.serve(internal, membership)))
        }
        None => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| SchedulerError::Bind { addr, source })?;
            (listener, None)
        }
    };
    let addr = match &gateway {
        Some(gateway) => gateway.public.first().copied().unwrap_or(addr),
        None => listener
            .local_addr()
            .map_err(|source| SchedulerError::Bind { addr, source })?,
    };

    let mut config = SchedulerConfig::default()
        .with_hostname(options.external_host.clone())
        .with_port(addr.port())
        .with_scheduler_policy(TaskSchedulingPolicy::PushStaged)
        // Spread a stage's tasks over the executors rather than filling the
        // first one: work survives losing one executor, and disks and memory
        // of all of them are used.
        .with_task_distribution(TaskDistributionPolicy::RoundRobin)
        .with_override_config_producer(config_producer())
        .with_override_session_builder(Arc::new(session_state));
    config.bind_host = listener
        .local_addr()
        .map_err(|source| SchedulerError::Bind { addr, source })?
        .ip()
        .to_string();
    if let Some(membership) = &options.membership {
        config.use_tls = true;
        config.override_create_grpc_client_endpoint = Some(membership.endpoint_override());
    }
    config.override_logical_codec = Some(logical_codec());
    config.override_physical_codec = Some(physical_codec());
    config.executor_timeout_seconds = options.executor_timeout.as_secs().max(1);
    config.expire_dead_executor_interval_seconds =
        options.expire_dead_executor_interval.as_secs().max(1);
    config.no_executors_grace_period_seconds = config.executor_timeout_seconds;
    config.validate()?;

    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config).await?;
    let task = tokio::spawn(async move {
        start_grpc_service_with_listener(listener, scheduler)
            .await
            .map_err(SchedulerError::from)
    });
    tracing::info!(%addr, members_only = gateway.is_some(), "scheduler listening");
    Ok(RunningScheduler {
        addr,
        task,
        gateway,
    })
}
