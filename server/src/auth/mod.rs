//! Who may connect: TLS, the login policy, SCRAM-SHA-256 against stored
//! verifiers, connection limits and the slowing down of repeated failures.
//!
//! The policy, as PostgreSQL's `pg_hba.conf` would say it:
//! - while no role has a password (a laptop), loopback connections are
//!   trusted and the server refuses to listen anywhere else;
//! - once one has, every connection authenticates with SCRAM-SHA-256
//!   (-PLUS with channel binding over TLS), unless `trust_loopback` is set,
//!   which trusts loopback connections of existing roles only;
//! - with `require_tls`, plaintext from other addresses is refused.
//!
//! A failed login says the same whether or not the user exists: an
//! unknown user is walked through SCRAM against a made-up verifier.

pub mod privileges;
pub mod roles;
pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pgwire::api::auth::mechanism::{AuthMechanism, AuthMechanismFactory};
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};

use crate::error::SqlState;
use roles::RoleStore;

/// How connections are admitted (`[auth]` and `--tls-*` settings).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Trust loopback connections of existing roles even once passwords
    /// are set.
    pub trust_loopback: bool,
    /// Refuse plaintext connections from addresses other than loopback.
    pub require_tls: bool,
    /// Connections the server holds at once; the next gets 53300.
    pub max_connections: usize,
    /// How long a client has to log in before it is disconnected.
    pub auth_timeout: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            trust_loopback: false,
            require_tls: false,
            max_connections: 100,
            auth_timeout: Duration::from_secs(60),
        }
    }
}

/// Why a login was refused; what the client reads is [`LoginError::message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    TooManyConnections,
    TooManyForRole(String),
    TlsRequired(IpAddr),
    UnknownRole(String),
    CannotLogIn(String),
    PasswordFailed(String),
}

impl LoginError {
    pub fn sqlstate(&self) -> SqlState {
        match self {
            LoginError::TooManyConnections | LoginError::TooManyForRole(_) => {
                SqlState::TOO_MANY_CONNECTIONS
            }
            LoginError::TlsRequired(_)
            | LoginError::UnknownRole(_)
            | LoginError::CannotLogIn(_) => SqlState::INVALID_AUTHORIZATION,
            LoginError::PasswordFailed(_) => SqlState::INVALID_PASSWORD,
        }
    }

    pub fn message(&self) -> String {
        match self {
            LoginError::TooManyConnections => "sorry, too many clients already".to_owned(),
            LoginError::TooManyForRole(role) => format!("too many connections for role \"{role}\""),
            LoginError::TlsRequired(addr) => format!(
                "connection from {addr} refused: this server accepts only encrypted connections \
                 from other hosts (connect with sslmode=require or stronger)"
            ),
            LoginError::UnknownRole(role) => format!("role \"{role}\" does not exist"),
            LoginError::CannotLogIn(role) => format!("role \"{role}\" is not permitted to log in"),
            LoginError::PasswordFailed(user) => {
                format!("password authentication failed for user \"{user}\"")
            }
        }
    }
}

/// How a client that may connect proves who it is.
pub enum Method {
    /// No proof needed (loopback on a laptop, or `trust_loopback`).
    Trust,
    /// A SCRAM-SHA-256 exchange.
    Password(Box<dyn AuthMechanism>),
}

/// The server's gatekeeper, shared by every connection.
pub struct Authenticator {
    roles: Arc<RoleStore>,
    config: AuthConfig,
    scram_plain: ScramAuth,
    /// Advertises SCRAM-SHA-256-PLUS (channel binding to the server's
    /// certificate); only for TLS connections.
    scram_tls: Option<ScramAuth>,
    throttle: Throttle,
    live: Arc<AtomicUsize>,
    sessions: Arc<Mutex<HashMap<String, usize>>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// `certificate_pem` is the server's TLS certificate chain, if it has
    /// one, for channel binding.
    pub fn new(
        roles: Arc<RoleStore>,
        config: AuthConfig,
        certificate_pem: Option<&[u8]>,
    ) -> Result<Self, PgWireError> {
        let source: Arc<dyn AuthSource> = Arc::new(Verifiers(Arc::clone(&roles)));
        let scram_plain = ScramAuth::new(Arc::clone(&source));
        let scram_tls = match certificate_pem {
            Some(pem) => {
                let mut scram = ScramAuth::new(source);
                scram.configure_certificate(pem)?;
                Some(scram)
            }
            None => None,
        };
        Ok(Self {
            roles,
            config,
            scram_plain,
            scram_tls,
            throttle: Throttle::default(),
            live: Arc::new(AtomicUsize::new(0)),
            sessions: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn roles(&self) -> &Arc<RoleStore> {
        &self.roles
    }

    /// Counts a connection the listener accepted until the guard drops.
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.live.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(Arc::clone(&self.live))
    }

    /// Whether `user` connecting from `peer` may go on, and how it proves
    /// who it is.
    pub fn admit(&self, user: &str, peer: SocketAddr, secure: bool) -> Result<Method, LoginError> {
        if self.live.load(Ordering::SeqCst) > self.config.max_connections {
            return Err(LoginError::TooManyConnections);
        }
        let loopback = is_loopback(peer.ip());
        if self.config.require_tls && !secure && !loopback {
            return Err(LoginError::TlsRequired(peer.ip()));
        }
        let passwords = self.roles.passwords_set();
        if loopback && (!passwords || self.config.trust_loopback) {
            return match self.roles.get(user) {
                Some(role) if !role.login => Err(LoginError::CannotLogIn(user.to_owned())),
                Some(_) => Ok(Method::Trust),
                None if !passwords => Ok(Method::Trust),
                None => Err(LoginError::UnknownRole(user.to_owned())),
            };
        }
        let scram = match (&self.scram_tls, secure) {
            (Some(scram), true) => scram,
            _ => &self.scram_plain,
        };
        Ok(Method::Password(scram.create()))
    }

    /// After a correct password: whether the role may log in at all.
    pub fn check_role(&self, user: &str) -> Result<(), LoginError> {
        match self.roles.get(user) {
            Some(role) if role.login => Ok(()),
            Some(_) => Err(LoginError::CannotLogIn(user.to_owned())),
            None => Err(LoginError::PasswordFailed(user.to_owned())),
        }
    }

    /// Starts counting a session of `user` against its role's connection
    /// limit.
    pub fn open_session(&self, user: &str) -> Result<SessionGuard, LoginError> {
        let limit = self.roles.get(user).map_or(-1, |r| r.connection_limit);
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let count = sessions.entry(user.to_owned()).or_insert(0);
        if limit >= 0 && *count >= limit as usize {
            return Err(LoginError::TooManyForRole(user.to_owned()));
        }
        *count += 1;
        Ok(SessionGuard {
            user: user.to_owned(),
            sessions: Arc::clone(&self.sessions),
        })
    }

    /// A failed login from `ip`: waits longer the more recent failures that
    /// address has, so guessing passwords is slow.
    pub async fn failed(&self, ip: IpAddr) {
        let delay = self.throttle.failed(ip);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.throttle.forget(ip);
    }
}

/// True for 127.0.0.0/8 and ::1, also written as IPv4-mapped IPv6.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Holds one accepted connection in the count.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<AtomicUsize>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Holds one session of a role in its count.
#[derive(Debug)]
pub struct SessionGuard {
    user: String,
    sessions: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = sessions.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                sessions.remove(&self.user);
            }
        }
    }
}

/// Recent failed logins by address.
#[derive(Debug, Default)]
struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// Failures older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// The longest a failed login is held back.
const MAX_FAILURE_DELAY: Duration = Duration::from_secs(8);

impl Throttle {
    /// Records a failure; the delay before answering it: none for the first,
    /// then 250 ms doubling up to 8 s.
    fn failed(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > 10_000 {
            failures.retain(|_, (_, last)| now.duration_since(*last) < FAILURE_MEMORY);
        }
        let entry = failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILURE_MEMORY {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        match entry.0 {
            1 => Duration::ZERO,
            n => Duration::from_millis(250)
                .saturating_mul(1 << (n - 2).min(6))
                .min(MAX_FAILURE_DELAY),
        }
    }

    fn forget(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }
}

/// The stored verifiers, as pgwire's SCRAM exchange asks for them.
#[derive(Debug)]
struct Verifiers(Arc<RoleStore>);

#[async_trait]
impl AuthSource for Verifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Only SCRAM is offered, which asks for verifiers, never passwords.
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        let secret = self
            .0
            .get(user)
            .and_then(|role| role.scram_secret())
            .unwrap_or_else(|| self.0.mock_secret(user));
        Ok((secret, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(config: AuthConfig) -> (tempfile::TempDir, Authenticator) {
        let dir = tempfile::tempdir().unwrap();
        let roles = Arc::new(RoleStore::open(dir.path()).unwrap());
        let auth = Authenticator::new(roles, config, None).unwrap();
        (dir, auth)
    }

    fn local() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    fn remote() -> SocketAddr {
        "10.1.2.3:40000".parse().unwrap()
    }

    #[test]
    fn a_laptop_trusts_loopback_until_a_password_is_set() {
        let (_dir, auth) = authenticator(AuthConfig::default());
        assert!(matches!(
            auth.admit("anyone", local(), false),
            Ok(Method::Trust)
        ));
        assert!(matches!(
            auth.admit("strata", remote(), false),
            Ok(Method::Password(_))
        ));
        auth.roles()
            .set_admin_password_if_unset(&roles::Secret::new("pw"))
            .unwrap();
        assert!(matches!(
            auth.admit("strata", local(), false),
            Ok(Method::Password(_))
        ));
        assert!(matches!(
            auth.admit("anyone", local(), false),
            Ok(Method::Password(_))
        ));
    }

    #[test]
    fn explicit_trust_covers_known_roles_on_loopback_only() {
        let (_dir, auth) = authenticator(AuthConfig {
            trust_loopback: true,
            ..Default::default()
        });
        auth.roles()
            .set_admin_password_if_unset(&roles::Secret::new("pw"))
            .unwrap();
        assert!(matches!(
            auth.admit("strata", local(), false),
            Ok(Method::Trust)
        ));
        assert_eq!(
            auth.admit("nobody", local(), false).err(),
            Some(LoginError::UnknownRole("nobody".to_owned()))
        );
        assert!(matches!(
            auth.admit("strata", remote(), false),
            Ok(Method::Password(_))
        ));
    }

    #[test]
    fn plaintext_from_elsewhere_is_refused_when_tls_is_required() {
        let (_dir, auth) = authenticator(AuthConfig {
            require_tls: true,
            ..Default::default()
        });
        assert_eq!(
            auth.admit("strata", remote(), false)
                .err()
                .map(|e| e.sqlstate()),
            Some(SqlState::INVALID_AUTHORIZATION)
        );
        assert!(auth.admit("strata", remote(), true).is_ok());
        assert!(auth.admit("strata", local(), false).is_ok());
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:1".parse().unwrap();
        assert!(is_loopback(mapped.ip()));
    }

    #[test]
    fn connections_over_the_limit_are_refused() {
        let (_dir, auth) = authenticator(AuthConfig {
            max_connections: 1,
            ..Default::default()
        });
        let first = auth.connection_opened();
        assert!(auth.admit("strata", local(), false).is_ok());
        let second = auth.connection_opened();
        assert_eq!(
            auth.admit("strata", local(), false).err(),
            Some(LoginError::TooManyConnections)
        );
        drop(second);
        drop(first);
        assert!(auth.admit("strata", local(), false).is_ok());
    }

    #[test]
    fn repeated_failures_wait_longer() {
        let throttle = Throttle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let delays: Vec<Duration> = (0..10).map(|_| throttle.failed(ip)).collect();
        assert_eq!(delays[0], Duration::ZERO);
        assert_eq!(delays[1], Duration::from_millis(250));
        assert_eq!(delays[2], Duration::from_millis(500));
        assert_eq!(delays[9], MAX_FAILURE_DELAY);
        throttle.forget(ip);
        assert_eq!(throttle.failed(ip), Duration::ZERO);
    }
}
