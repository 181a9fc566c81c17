//! Starting the server: the cluster (embedded or remote), the engine and the
//! PostgreSQL listener.

use std::net::SocketAddr;
use std::sync::Arc;

use strata_executor::{ExecutorOptions, RunningExecutor};
use strata_scheduler::{RunningScheduler, SchedulerOptions};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::auth::roles::{RoleError, RoleStore};
use crate::auth::tls::{ServerTls, TlsError};
use crate::auth::{Authenticator, is_loopback};
use crate::config::{ADMIN_PASSWORD_ENV, ServerConfig};
use crate::engine::Engine;
use crate::engine::control::ClusterHandle;
use crate::wire::{CancelRegistry, Connection, Handlers, watch_peer};
use strata_connectors::lake::storage::LakeRoot;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the embedded scheduler: {0}")]
    Scheduler(#[from] strata_scheduler::SchedulerError),
    #[error("cannot start the embedded executor: {0}")]
    Executor(#[from] strata_executor::ExecutorError),
    #[error("cannot open the catalog: {0}")]
    Engine(#[from] crate::error::StrataError),
    #[error("cannot open the roles: {0}")]
    Roles(#[from] RoleError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot set up authentication: {0}")]
    Auth(String),
    #[error(
        "refusing to listen on {0} with no authentication configured: anyone who can reach it \
         could connect; set {ADMIN_PASSWORD_ENV} (the password of the administrator role \
         \"strata\") or give a role a password first, or listen on 127.0.0.1"
    )]
    Unprotected(SocketAddr),
}

/// The in-process scheduler and executor of the embedded default.
#[derive(Debug)]
pub struct EmbeddedCluster {
    pub scheduler: RunningScheduler,
    pub executor: RunningExecutor,
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        self.executor.task.abort();
        self.scheduler.task.abort();
    }
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The address the PostgreSQL protocol listens on.
    pub addr: SocketAddr,
    /// The scheduler queries go to (`df://host:port`).
    pub scheduler_url: String,
    pub engine: Arc<Engine>,
    pub cluster: Option<EmbeddedCluster>,
    shutdown: CancellationToken,
    accept: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting connections. Open connections end with the runtime.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the listener stops.
    pub async fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a server as configured.
pub async fn start(config: &ServerConfig) -> Result<RunningServer, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    // Who may connect, and where: settled before anything starts.
    let roles = Arc::new(RoleStore::open(&config.data_dir)?);
    if let Some(password) = &config.admin_password {
        if roles.set_admin_password_if_unset(password)? {
            tracing::info!("the administrator role has its password from {ADMIN_PASSWORD_ENV}");
        } else {
            tracing::info!(
                "{ADMIN_PASSWORD_ENV} is ignored: the administrator already has a password \
                 (change it with ALTER ROLE strata PASSWORD '...')"
            );
        }
    }
    let tls = match &config.tls {
        Some(files) => Some(ServerTls::load(&files.cert, &files.key)?),
        None => None,
    };
    let auth = Arc::new(
        Authenticator::new(
            Arc::clone(&roles),
            config.auth.clone(),
            tls.as_ref().map(|t| t.certificate_pem.as_slice()),
        )
        .map_err(|e| StartError::Auth(e.to_string()))?,
    );
    let listener =
        TcpListener::bind(&config.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.listen.clone(),
                source,
            })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    if !is_loopback(addr.ip()) && !roles.passwords_set() {
        return Err(StartError::Unprotected(addr));
    }
    let (scheduler_url, cluster) = match &config.scheduler {
        Some(addr) => (format!("df://{addr}"), None),
        None => {
            let cluster = start_embedded(config).await?;
            (cluster.scheduler.url(), Some(cluster))
        }
    };
    let cluster_handle = ClusterHandle::new(
        &scheduler_url,
        config.executor_wait,
        config.membership.clone(),
    )?;
    strata_connectors::lake::storage::configure_s3(config.s3.clone());
    let lake_root =
        LakeRoot::parse(&config.lake_root()).map_err(|e| StartError::Engine(e.into()))?;
    let engine = Arc::new(
        Engine::new(
            &config.data_dir,
            &lake_root,
            cluster_handle,
            &config.sources,
            &config.source_tables,
            Arc::clone(&roles),
            config.query_memory_limit,
        )
        .await?,
    );
    let shutdown = CancellationToken::new();
    let listening = Listening {
        engine: Arc::clone(&engine),
        auth,
        tls: tls.map(|t| t.acceptor),
    };
    let accept = tokio::spawn(accept_loop(listener, listening, shutdown.clone()));
    Ok(RunningServer {
        addr,
        scheduler_url,
        engine,
        cluster,
        shutdown,
        accept: Some(accept),
    })
}

/// Starts a scheduler and one executor in this process, on loopback ports
/// chosen by the system, with push scheduling: the same code path as a
/// cluster, so running tasks can be cancelled.
async fn start_embedded(config: &ServerConfig) -> Result<EmbeddedCluster, StartError> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let scheduler = strata_scheduler::start(
        loopback,
        SchedulerOptions {
            membership: config.membership.clone(),
            ..Default::default()
        },
    )
    .await?;
    let mut options = ExecutorOptions {
        scheduler_host: scheduler.addr.ip().to_string(),
        scheduler_port: scheduler.addr.port(),
        work_dir: Some(config.data_dir.join("work")),
        membership: config.membership.clone(),
        ..Default::default()
    };
    if let Some(slots) = config.executor_slots {
        options.slots = slots;
    }
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir {
            path: dir.clone(),
            source,
        })?;
    }
    let executor = strata_executor::start(options).await?;
    Ok(EmbeddedCluster {
        scheduler,
        executor,
    })
}

/// What every accepted connection is served with.
struct Listening {
    engine: Arc<Engine>,
    auth: Arc<Authenticator>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

async fn accept_loop(listener: TcpListener, listening: Listening, shutdown: CancellationToken) {
    let registry = Arc::new(CancelRegistry::default());
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let counted = listening.auth.connection_opened();
        let connection = Connection::new(
            Arc::clone(&listening.engine),
            Arc::clone(&registry),
            Arc::clone(&listening.auth),
        );
        let slot = connection.cancel_slot();
        let handlers = Handlers(Arc::clone(&connection));
        let tls = listening.tls.clone();
        let auth_timeout = listening.auth.config().auth_timeout;
        let span = tracing::info_span!("connection", %peer);
        tokio::spawn(
            async move {
                let _counted = counted;
                let (socket, watcher) = match watch_peer(socket, slot) {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot set up the connection");
                        return;
                    }
                };
                let serve = pgwire::tokio::process_socket(socket, tls, handlers);
                tokio::pin!(serve);
                // A client that has not logged in within the timeout is
                // disconnected; one that has is served until it leaves.
                let ended = tokio::select! {
                    ended = &mut serve => Some(ended),
                    _ = tokio::time::sleep(auth_timeout) => None,
                };
                let ended = match ended {
                    Some(ended) => ended,
                    None if connection.logged_in() => serve.await,
                    None => {
                        tracing::info!("disconnected: no login within the authentication timeout");
                        Ok(())
                    }
                };
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                watcher.abort();
            }
            .instrument(span),
        );
    }
}

/// Runs the server until Ctrl-C or SIGTERM; what `strata-server` does.
pub async fn serve(config: ServerConfig) -> std::process::ExitCode {
    let server = match start(&config).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("strata-server: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let addr = server.addr;
    let mode = if server.cluster.is_some() {
        "embedded scheduler and executor".to_owned()
    } else {
        format!("scheduler {}", server.scheduler_url)
    };
    println!(
        "Strata is listening on {addr} ({mode}, data in {}); connect with: psql -h {} -p {} -U strata lake",
        config.data_dir.display(),
        addr.ip(),
        addr.port()
    );
    strata_connectors::node::shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop();
    std::process::ExitCode::SUCCESS
}
