//! The PostgreSQL wire protocol front end, on pgwire.
//!
//! This layer translates between protocol messages and the engine's
//! sessions; it does not plan or execute anything itself. One
//! [`Connection`] serves one client: it owns that client's [`Session`],
//! its prepared statements and portals (in pgwire's portal store) and the
//! slot a cancel request reaches.

mod binary;
mod cancel;
mod copy;
mod copy_in;
pub mod encode;
mod params;
mod progress;
mod query;
mod text;
pub mod types;
mod value;

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::mechanism::{AuthMechanism, AuthState};
use pgwire::api::auth::{
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, METADATA_DATABASE, METADATA_USER, PgWireConnectionState, PgWireServerHandlers,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus, SecretKey};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex as AsyncMutex;

use cancel::Registration;
pub use cancel::{CancelRegistry, CancelSlot, watch_peer};
pub use text::{format_float, format_interval};

use crate::auth::{self, Authenticator, Method, SessionGuard};
use crate::engine::{Engine, Session, SessionInfo};
use crate::error::{SqlState, StrataError};

/// One client connection: its handlers share this state.
pub struct Connection {
    me: Weak<Connection>,
    engine: Arc<Engine>,
    registry: Arc<CancelRegistry>,
    session: AsyncMutex<Option<Session>>,
    cancel: Arc<CancelSlot>,
    registration: Mutex<Option<Registration>>,
    /// Names of the prepared statements this connection created, for
    /// DEALLOCATE ALL and DISCARD ALL (pgwire's store cannot list them).
    prepared: Mutex<HashSet<String>>,
    /// The `COPY ... FROM STDIN` receiving rows, if one is.
    copy_in: Mutex<Option<copy_in::CopyInDecoder>>,
    /// What went wrong decoding it, reported once the client is done.
    copy_in_error: Mutex<Option<StrataError>>,
    /// Who may log in.
    auth: Arc<Authenticator>,
    /// The SCRAM exchange under way, between the client's messages.
    mechanism: Mutex<Option<Box<dyn AuthMechanism>>>,
    /// The startup parameters, kept until the session opens.
    startup: Mutex<Option<Vec<(String, String)>>>,
    /// Holds the session in its role's connection count.
    counted: Mutex<Option<SessionGuard>>,
    /// Whether the client speaks TLS.
    secure: std::sync::atomic::AtomicBool,
    /// The session's process id once logged in, 0 before.
    pid: std::sync::atomic::AtomicI32,
}

impl Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Connection {
    /// The slot of the statement this connection runs, for whoever may stop it.
    pub fn cancel_slot(&self) -> Weak<CancelSlot> {
        Arc::downgrade(&self.cancel)
    }

    pub fn new(
        engine: Arc<Engine>,
        registry: Arc<CancelRegistry>,
        auth: Arc<Authenticator>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            engine,
            registry,
            session: AsyncMutex::new(None),
            cancel: Arc::new(CancelSlot::default()),
            registration: Mutex::new(None),
            prepared: Mutex::new(HashSet::new()),
            copy_in: Mutex::new(None),
            copy_in_error: Mutex::new(None),
            auth,
            mechanism: Mutex::new(None),
            startup: Mutex::new(None),
            counted: Mutex::new(None),
            secure: std::sync::atomic::AtomicBool::new(false),
            pid: std::sync::atomic::AtomicI32::new(0),
        })
    }

    /// Cancelled when the connection is to end (`pg_terminate_backend`).
    pub fn terminated(&self) -> tokio_util::sync::CancellationToken {
        self.cancel.terminated()
    }

    /// True while a statement runs, its rows still streaming included.
    pub fn busy(&self) -> bool {
        let pid = self.pid.load(std::sync::atomic::Ordering::Relaxed);
        pid != 0 && self.engine.activity().is_active(pid)
    }

    /// True if the client logged in over TLS.
    pub fn secure(&self) -> bool {
        self.secure.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This connection as pgwire's query parser, which it wants in an `Arc`.
    fn self_ref(&self) -> Arc<Connection> {
        match self.me.upgrade() {
            Some(me) => me,
            // `self` is alive, so the `Arc` that owns it is too.
            None => unreachable!("a connection outlived its own Arc"),
        }
    }
}

/// The handlers pgwire asks for, all served by the one connection object.
#[derive(Debug, Clone)]
pub struct Handlers(pub Arc<Connection>);

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.0)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.0)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.0)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.0.registry)
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        Arc::clone(&self.0)
    }
}

/// The error a client receives for `error`. Our own bugs are logged with
/// their details here, once; user mistakes only at debug level.
pub(crate) fn to_pgwire(error: StrataError) -> PgWireError {
    let state = error.sqlstate();
    if state == SqlState::INTERNAL_ERROR {
        tracing::error!(error = %error, "internal error");
    } else {
        tracing::debug!(sqlstate = state.0, error = %error, "statement failed");
    }
    // A terminated session's statement ends the connection with it.
    let severity = if state == SqlState::ADMIN_SHUTDOWN {
        "FATAL"
    } else {
        "ERROR"
    };
    PgWireError::UserError(Box::new(ErrorInfo::new(
        severity.to_owned(),
        state.0.to_owned(),
        error.client_message(),
    )))
}

fn fatal(state: SqlState, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_owned(),
        state.0.to_owned(),
        message,
    )))
}

/// The transaction status byte for a session.
pub(crate) fn transaction_status(session: &Session) -> TransactionStatus {
    match session.transaction() {
        crate::engine::TransactionState::Idle => TransactionStatus::Idle,
        crate::engine::TransactionState::InBlock => TransactionStatus::Transaction,
        crate::engine::TransactionState::Failed => TransactionStatus::Error,
    }
}

#[async_trait]
impl StartupHandler for Connection {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                let user = user_of(client)?;
                let parameters = startup.parameters.into_iter().collect();
                *lock(&self.startup) = Some(parameters);
                let peer = client.socket_addr();
                match self.auth.admit(&user, peer, client.is_secure()) {
                    Err(refused) => Err(refuse(&user, peer, refused)),
                    Ok(Method::Trust) => self.log_in(client, user).await,
                    Ok(Method::Password(mut mechanism)) => {
                        let client_info: &(dyn ClientInfo + Send + Sync) = client;
                        match mechanism.begin(client_info).await? {
                            AuthState::InProgress(request) => {
                                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                                *lock(&self.mechanism) = Some(mechanism);
                                client
                                    .send(PgWireBackendMessage::Authentication(request))
                                    .await?;
                                Ok(())
                            }
                            _ => Err(to_pgwire(StrataError::Internal(
                                "SCRAM authentication did not start with a request".to_owned(),
                            ))),
                        }
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let user = user_of(client)?;
                let peer = client.socket_addr();
                let Some(mut mechanism) = lock(&self.mechanism).take() else {
                    return Err(fatal(
                        SqlState::PROTOCOL_VIOLATION,
                        "unexpected password message".to_owned(),
                    ));
                };
                let client_info: &(dyn ClientInfo + Send + Sync) = client;
                let outcome = match mechanism.next(client_info, message).await {
                    Ok(AuthState::Failed(e)) => Err(e),
                    other => other,
                };
                match outcome {
                    Ok(AuthState::InProgress(request)) => {
                        *lock(&self.mechanism) = Some(mechanism);
                        client
                            .send(PgWireBackendMessage::Authentication(request))
                            .await?;
                        Ok(())
                    }
                    Ok(AuthState::Ok { final_message, .. }) => {
                        self.auth.succeeded(peer.ip());
                        if let Err(refused) = self.auth.check_role(&user) {
                            return Err(refuse(&user, peer, refused));
                        }
                        if let Some(last) = final_message {
                            client
                                .feed(PgWireBackendMessage::Authentication(last))
                                .await?;
                        }
                        self.log_in(client, user).await
                    }
                    Ok(AuthState::Failed(e)) | Err(e) => {
                        // The reason (an unknown user, a wrong proof) stays
                        // in the log; the client reads the same either way.
                        tracing::info!(%user, addr = %peer, reason = %e, "password authentication failed");
                        self.auth.failed(peer.ip()).await;
                        Err(fatal(
                            SqlState::INVALID_PASSWORD,
                            auth::LoginError::PasswordFailed(user).message(),
                        ))
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

/// The user the startup message named.
fn user_of<C: ClientInfo>(client: &C) -> PgWireResult<String> {
    client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .ok_or(PgWireError::UserNameRequired)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The FATAL error a refused login ends with, logged once.
fn refuse(user: &str, peer: std::net::SocketAddr, refused: auth::LoginError) -> PgWireError {
    tracing::info!(%user, addr = %peer, reason = %refused.message(), "login refused");
    fatal(refused.sqlstate(), refused.message())
}

impl Connection {
    /// True once the client has logged in and has a session.
    pub fn logged_in(&self) -> bool {
        self.session
            .try_lock()
            .map_or(true, |session| session.is_some())
    }

    /// Opens the session of an authenticated `user` and tells the client
    /// it may send queries.
    async fn log_in<C>(&self, client: &mut C, user: String) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let peer = client.socket_addr();
        let counted = self
            .auth
            .open_session(&user)
            .map_err(|refused| refuse(&user, peer, refused))?;
        let database = client
            .metadata()
            .get(METADATA_DATABASE)
            .cloned()
            .unwrap_or_else(|| user.clone());

        let (pid, secret) = self.registry.allocate();
        let info = SessionInfo {
            user: user.clone(),
            database: database.clone(),
            pid,
            startup: lock(&self.startup).take().unwrap_or_default(),
            client: Some(peer),
        };
        let session = match self.engine.session(info) {
            Ok(session) => session,
            Err(StrataError::UndefinedDatabase(name)) => {
                return Err(fatal(
                    SqlState::UNDEFINED_DATABASE,
                    format!("database \"{name}\" does not exist"),
                ));
            }
            // A session that cannot open ends the connection.
            Err(e) if e.sqlstate() != SqlState::INTERNAL_ERROR => {
                tracing::info!(%user, %database, reason = %e, "login refused");
                return Err(fatal(e.sqlstate(), e.client_message()));
            }
            Err(e) => return Err(to_pgwire(e)),
        };
        let reported = session.settings().reported();
        *self.session.lock().await = Some(session);
        *lock(&self.counted) = Some(counted);
        let registration = self
            .registry
            .register(pid, secret, Arc::clone(&self.cancel));
        *lock(&self.registration) = Some(registration);
        // pg_cancel_backend(pid) cancels as a cancel request would;
        // pg_terminate_backend(pid) ends the connection.
        let slot = Arc::downgrade(&self.cancel);
        let ending = slot.clone();
        self.engine.activity().set_controls(
            pid,
            Arc::new(move || {
                if let Some(slot) = slot.upgrade() {
                    slot.cancel();
                }
            }),
            Arc::new(move || {
                if let Some(slot) = ending.upgrade() {
                    slot.terminate();
                }
            }),
        );
        client.set_pid_and_secret_key(pid, SecretKey::I32(secret));
        let tls = client.is_secure();
        self.secure.store(tls, std::sync::atomic::Ordering::Relaxed);
        self.pid.store(pid, std::sync::atomic::Ordering::Relaxed);
        tracing::Span::current().record("pid", pid);
        tracing::Span::current().record("user", user.as_str());
        tracing::info!(pid, %user, %database, addr = %peer, tls, "session started");

        client
            .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
            .await?;
        for (name, value) in reported {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
        client
            .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
                pid,
                SecretKey::I32(secret),
            )))
            .await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                TransactionStatus::Idle,
            )))
            .await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Ok(())
    }
}
