//! A member's public port: mutual TLS in front of a Ballista service.
//!
//! Ballista's scheduler and executor services serve plain HTTP/2 and cannot
//! be given TLS, so with a cluster secret they listen on loopback only and a
//! gateway takes their public port. The gateway accepts a connection only
//! after a TLS handshake in which the peer proved membership
//! ([`crate::membership`]), then relays bytes to the service. A peer
//! speaking plain HTTP (Ballista's own connectivity check, curl, a stray
//! client) gets a small HTTP server instead that answers every gRPC call
//! with status 16 UNAUTHENTICATED and every other request with 401, so it
//! learns what is wrong and reaches nothing.
//!
//! The public and internal addresses share the port number, because an
//! executor registers one port per service and Ballista binds what it
//! registers: the public side listens on the member's own addresses, the
//! service on a loopback address. Ballista's services stay reachable from
//! the member's own host (in a container, from the container only).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::membership::{Membership, SECRET_ENV};

/// How long a peer may take to open TLS.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused plain-HTTP peer is answered before being dropped.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(30);
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a peer that is not a member is told.
const NOT_A_MEMBER: &str = "not a member of this Strata cluster: members connect with mutual TLS derived from the cluster secret (STRATA_CLUSTER_SECRET)";

/// Errors opening a gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "refusing to serve {what} on {addr} without a cluster secret: anyone who reaches it could run tasks or read results. Set {SECRET_ENV} (or --cluster-secret-file) to the same secret of at least 16 characters on every member, or listen on loopback"
    )]
    Unprotected {
        what: &'static str,
        addr: SocketAddr,
    },
    #[error(
        "{listen} is a wildcard address and the advertised host {host} names no address of this machine to serve cluster members on; listen on a specific address or advertise one"
    )]
    NoAddress { listen: SocketAddr, host: String },
}

/// Refuses to serve `what` on `addr` beyond loopback without membership.
pub fn check_protected(
    what: &'static str,
    addr: SocketAddr,
    membership: Option<&Membership>,
) -> Result<(), GatewayError> {
    if membership.is_none() && !addr.ip().is_loopback() {
        return Err(GatewayError::Unprotected { what, addr });
    }
    Ok(())
}

/// The loopback address Ballista's services listen on behind gateways
/// whose public addresses are `public`: 127.0.0.1, or 127.0.0.2 when a
/// gateway itself takes 127.0.0.1 (a cluster on one host).
pub fn internal_ip(public: &[SocketAddr]) -> IpAddr {
    let first = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if public.iter().any(|addr| addr.ip() == first) {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
    } else {
        first
    }
}

/// A gateway's public listeners, bound, not yet serving.
#[derive(Debug)]
pub struct BoundGateway {
    listeners: Vec<TcpListener>,
    /// The addresses the listeners are bound to, all with one port.
    pub public: Vec<SocketAddr>,
}

impl BoundGateway {
    /// Binds `listen` (port 0 picks one). A wildcard address is replaced by
    /// the addresses `advertise` resolves to: the wildcard would take the
    /// port on loopback too, where the service behind the gateway listens.
    pub async fn bind(listen: SocketAddr, advertise: &str) -> Result<Self, GatewayError> {
        let mut wanted = if listen.ip().is_unspecified() {
            let mut found: Vec<SocketAddr> = tokio::net::lookup_host((advertise, listen.port()))
                .await
                .map(|addrs| {
                    addrs
                        .filter(|a| !a.ip().is_unspecified() && a.is_ipv4() == listen.is_ipv4())
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            found.dedup();
            if found.is_empty() {
                return Err(GatewayError::NoAddress {
                    listen,
                    host: advertise.to_owned(),
                });
            }
            found
        } else {
            vec![listen]
        };
        let mut listeners = Vec::with_capacity(wanted.len());
        let mut port = listen.port();
        for addr in &mut wanted {
            addr.set_port(port);
            let listener = TcpListener::bind(*addr)
                .await
                .map_err(|source| GatewayError::Bind {
                    addr: *addr,
                    source,
                })?;
            let bound = listener.local_addr().map_err(|source| GatewayError::Bind {
                addr: *addr,
                source,
            })?;
            port = bound.port();
            *addr = bound;
            listeners.push(listener);
        }
        Ok(Self {
            listeners,
            public: wanted,
        })
    }

    /// The port every public address has.
    pub fn port(&self) -> u16 {
        self.public.first().map_or(0, SocketAddr::port)
    }

    /// Serves members on the public addresses, relaying each connection to
    /// `internal`.
    pub fn serve(self, internal: SocketAddr, membership: &Membership) -> Gateway {
        let acceptor = TlsAcceptor::from(membership.server_config());
        let tasks = self
            .listeners
            .into_iter()
            .map(|listener| tokio::spawn(accept(listener, internal, acceptor.clone())))
            .collect();
        tracing::info!(public = ?self.public, %internal, "cluster gateway open");
        Gateway {
            public: self.public,
            internal,
            tasks,
        }
    }
}

/// A serving gateway; dropping it closes its public port.
#[derive(Debug)]
pub struct Gateway {
    pub public: Vec<SocketAddr>,
    pub internal: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, internal: SocketAddr, acceptor: TlsAcceptor) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tokio::spawn(connection(tcp, peer, internal, acceptor.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::warn!(error = %e, "cluster gateway cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(tcp: TcpStream, peer: SocketAddr, internal: SocketAddr, acceptor: TlsAcceptor) {
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return,
    }
    if first[0] != TLS_HANDSHAKE {
        tracing::debug!(%peer, "plain connection to a cluster port refused");
        refuse(tcp).await;
        return;
    }
    let mut tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "refused a connection that is not a cluster member's");
            return;
        }
        Err(_) => return,
    };
    let mut service = match TcpStream::connect(internal).await {
        Ok(service) => service,
        Err(e) => {
            tracing::warn!(%internal, error = %e, "cluster gateway cannot reach its service");
            return;
        }
    };
    let _ = service.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut service).await;
}

/// Answers a plain-HTTP peer until it goes away or [`REFUSAL_TIMEOUT`].
async fn refuse(tcp: TcpStream) {
    let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let service = hyper::service::service_fn(refusal);
    let _ = tokio::time::timeout(
        REFUSAL_TIMEOUT,
        server.serve_connection(TokioIo::new(tcp), service),
    )
    .await;
}

async fn refusal(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let grpc = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let response = if grpc {
        Response::builder()
            .status(StatusCode::OK)
            .header(hyper::header::CONTENT_TYPE, "application/grpc")
            .header("grpc-status", "16")
            .header("grpc-message", NOT_A_MEMBER)
            .body(Full::new(Bytes::new()))
    } else {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(format!("{NOT_A_MEMBER}\n"))))
    };
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}
