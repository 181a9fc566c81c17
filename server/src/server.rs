//! Starting the server: the cluster (embedded or remote), the engine and the
//! PostgreSQL listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
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
    /// Where the web console and `/metrics` listen, if they do.
    pub http_addr: Option<SocketAddr>,
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
    let http = crate::http::bind(&config.http).await?;
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
            config.session_defaults(),
        )
        .await?,
    );
    let shutdown = CancellationToken::new();
    let listening = Listening {
        engine: Arc::clone(&engine),
        auth,
        tls: tls.map(|t| t.acceptor),
    };
    let http_addr = match http {
        Some(http) => {
            let at = http.local_addr().ok();
            crate::http::serve(
                http,
                Arc::clone(&engine),
                Arc::clone(&listening.auth),
                shutdown.clone(),
            )?;
            at
        }
        None => None,
    };
    let accept = tokio::spawn(accept_loop(listener, listening, shutdown.clone()));
    Ok(RunningServer {
        addr,
        scheduler_url,
        http_addr,
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
        let gauge = listening.engine.metrics().connection_opened();
        let connection = Connection::new(
            Arc::clone(&listening.engine),
            Arc::clone(&registry),
            Arc::clone(&listening.auth),
        );
        let handlers = Handlers(Arc::clone(&connection));
        let tls = listening.tls.clone();
        let auth_timeout = listening.auth.config().auth_timeout;
        let span = tracing::info_span!(
            "connection",
            %peer,
            pid = tracing::field::Empty,
            user = tracing::field::Empty
        );
        tokio::spawn(
            async move {
                let _counted = (counted, gauge);
                serve_connection(socket, tls, handlers, connection, auth_timeout).await;
            }
            .instrument(span),
        );
    }
}

/// How long a terminated connection's running statement has to stop and
/// send its FATAL error before the connection is closed regardless.
const TERMINATE_GRACE: Duration = Duration::from_secs(5);

/// Serves one client until it leaves, fails to log in in time, or is
/// terminated (`pg_terminate_backend`).
async fn serve_connection(
    socket: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handlers: Handlers,
    connection: Arc<Connection>,
    auth_timeout: Duration,
) {
    let (socket, watcher, raw) = match watch_peer(socket, connection.cancel_slot()) {
        Ok(parts) => parts,
        Err(e) => {
            tracing::warn!(error = %e, "cannot set up the connection");
            return;
        }
    };
    let terminated = connection.terminated();
    let serve = pgwire::tokio::process_socket(socket, tls, handlers);
    tokio::pin!(serve);
    let login_deadline = tokio::time::sleep(auth_timeout);
    tokio::pin!(login_deadline);
    let mut login_checked = false;
    let ended = loop {
        tokio::select! {
            ended = &mut serve => break ended,
            // A client that has not logged in within the timeout is
            // disconnected; one that has is served until it leaves.
            _ = &mut login_deadline, if !login_checked => {
                login_checked = true;
                if !connection.logged_in() {
                    tracing::info!("disconnected: no login within the authentication timeout");
                    break Ok(());
                }
            }
            _ = terminated.cancelled() => {
                if connection.busy() {
                    // The statement fails with FATAL 57P01, after which
                    // pgwire closes the connection.
                    match tokio::time::timeout(TERMINATE_GRACE, &mut serve).await {
                        Ok(ended) => break ended,
                        Err(_) => tracing::warn!("a terminated statement did not stop in time"),
                    }
                } else if !connection.secure() {
                    // Idle: between messages, where PostgreSQL too sends
                    // its FATAL unasked.
                    send_terminated(&raw);
                }
                tracing::info!("connection terminated by an administrator");
                break Ok(());
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
    watcher.abort();
}

/// Writes FATAL 57P01 to an idle plaintext connection's socket.
fn send_terminated(raw: &std::net::TcpStream) {
    use pgwire::messages::Message;
    use std::io::Write;
    let error = pgwire::error::ErrorInfo::new(
        "FATAL".to_owned(),
        strata_connectors::sqlstate::SqlState::ADMIN_SHUTDOWN
            .0
            .to_owned(),
        crate::error::StrataError::Terminated.to_string(),
    );
    let mut buf = bytes::BytesMut::new();
    let response: pgwire::messages::response::ErrorResponse = error.into();
    if response.encode(&mut buf).is_ok() {
        let mut raw = raw;
        let _ = raw.write_all(&buf);
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
    let console = server
        .http_addr
        .map(|at| format!("; console at http://{at}/"))
        .unwrap_or_default();
    println!(
        "Strata is listening on {addr} ({mode}, data in {}); connect with: psql -h {} -p {} -U strata lake{console}",
        config.data_dir.display(),
        addr.ip(),
        addr.port()
    );
    strata_connectors::node::shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop();
    std::process::ExitCode::SUCCESS
}
