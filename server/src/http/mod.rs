//! The web console and `/metrics`, on the server's HTTP listener (`--http`,
//! 127.0.0.1:8080 by default): the cluster, the running and recent
//! statements, and one statement's distributed plan with a progress bar
//! per stage. Users log in as they do over SQL (HTTP Basic with their role's
//! password; loopback is trusted where SQL trusts it); what a role sees
//! follows `strata.queries`, and only superusers may cancel.

mod console;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authenticator, is_loopback};
use crate::engine::Engine;

/// Where the console listens when nothing says otherwise.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";

/// How many ports after the default one are tried when it is taken.
const DEFAULT_PORT_TRIES: u16 = 10;

/// Where the console listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpListen {
    /// [`DEFAULT_HTTP`], or the next free port after it, as Spark's UI
    /// does; no console if none is free.
    Default,
    /// Exactly this address; the server does not start if it is taken.
    At(String),
    /// No console.
    Off,
}

impl HttpListen {
    /// `off`/`none` or an address.
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "off" | "none" | "false" => HttpListen::Off,
            addr => HttpListen::At(addr.to_owned()),
        }
    }
}

/// Errors starting the console.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr} for the console: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(
        "refusing to serve the console on {0} with no password set: anyone who can reach it \
         could see every statement; set a password or use --http 127.0.0.1:8080"
    )]
    Unprotected(SocketAddr),
}

/// Binds the console's listener, if there is to be one.
pub async fn bind(listen: &HttpListen) -> Result<Option<TcpListener>, HttpError> {
    match listen {
        HttpListen::Off => Ok(None),
        HttpListen::At(addr) => {
            TcpListener::bind(addr)
                .await
                .map(Some)
                .map_err(|source| HttpError::Listen {
                    addr: addr.clone(),
                    source,
                })
        }
        HttpListen::Default => {
            let base: SocketAddr = DEFAULT_HTTP.parse().expect("a valid default address");
            for offset in 0..DEFAULT_PORT_TRIES {
                let addr = SocketAddr::new(base.ip(), base.port() + offset);
                match TcpListener::bind(addr).await {
                    Ok(listener) => return Ok(Some(listener)),
                    Err(e) => tracing::debug!(%addr, error = %e, "console port taken"),
                }
            }
            tracing::warn!(
                "no console: ports {}-{} are taken; choose one with --http",
                base.port(),
                base.port() + DEFAULT_PORT_TRIES - 1
            );
            Ok(None)
        }
    }
}

/// What every request is served with.
#[derive(Clone)]
struct Console {
    engine: Arc<Engine>,
    auth: Arc<Authenticator>,
}

/// Who is asking: a role that may log in.
#[derive(Debug, Clone)]
struct Viewer {
    user: String,
    superuser: bool,
}

impl Viewer {
    /// What `strata.queries` calls the viewer: `None` sees everything.
    fn scope(&self) -> Option<&str> {
        (!self.superuser).then_some(self.user.as_str())
    }
}

/// Serves the console on `listener` until `shutdown`.
pub fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    auth: Arc<Authenticator>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, HttpError> {
    let addr = listener.local_addr().map_err(|source| HttpError::Listen {
        addr: "the console's address".to_owned(),
        source,
    })?;
    if !is_loopback(addr.ip()) && !auth.roles().passwords_set() {
        return Err(HttpError::Unprotected(addr));
    }
    let console = Console { engine, auth };
    let app = Router::new()
        .route("/", get(|| async { Redirect::to("/queries") }))
        .route("/metrics", get(metrics))
        .route("/queries", get(queries))
        .route("/queries/{id}", get(query))
        .route("/queries/{id}/cancel", post(cancel))
        .route("/cluster", get(cluster))
        .layer(middleware::from_fn_with_state(console.clone(), login))
        .with_state(console);
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the console stopped");
        }
    }))
}

/// Lets a request through as the role it proves to be.
async fn login(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&console, peer.ip(), request.headers()).await {
        Ok(viewer) => {
            request.extensions_mut().insert(viewer);
            next.run(request).await
        }
        Err(refusal) => refusal,
    }
}

/// The role a request's Basic credentials prove, or the refusal to send.
async fn authenticate(
    console: &Console,
    ip: IpAddr,
    headers: &HeaderMap,
) -> Result<Viewer, Response> {
    let roles = console.auth.roles();
    let credentials = basic_credentials(headers);
    let trusted =
        is_loopback(ip) && (!roles.passwords_set() || console.auth.config().trust_loopback);
    let user = match credentials {
        // Trusted without a login: the administrator, as psql on a laptop.
        None if trusted && !roles.passwords_set() => crate::auth::roles::ADMIN_ROLE.to_owned(),
        None => return Err(ask_to_log_in("log in with a Strata role")),
        Some((user, _)) if trusted => user,
        Some((user, password)) => {
            if !roles.check_password(&user, &password) {
                tracing::info!(%user, %ip, "console login failed");
                console.engine.metrics().login_failed();
                console.auth.failed(ip).await;
                return Err(ask_to_log_in("wrong user name or password"));
            }
            console.auth.succeeded(ip);
            user
        }
    };
    if let Err(refused) = console.auth.check_role(&user) {
        return Err(ask_to_log_in(&refused.message()));
    }
    let superuser = roles.principal(&user).superuser;
    Ok(Viewer { user, superuser })
}

/// `user` and `password` of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// False for a form another site's page posted: a browser names the page's
/// origin, which must be the console's own host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, host)| host);
    origin_host.is_some() && origin_host == host
}

fn ask_to_log_in(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            WWW_AUTHENTICATE,
            "Basic realm=\"Strata\", charset=\"UTF-8\"",
        )],
        format!("{message}\n"),
    )
        .into_response()
}

async fn metrics(State(console): State<Console>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        console.engine.metrics().render(),
    )
        .into_response()
}

async fn queries(
    State(console): State<Console>,
    axum::Extension(viewer): axum::Extension<Viewer>,
) -> Html<String> {
    let records = console.engine.history().visible(viewer.scope());
    Html(console::queries_page(&viewer.user, &records))
}

async fn query(
    State(console): State<Console>,
    axum::Extension(viewer): axum::Extension<Viewer>,
    Path(id): Path<u64>,
) -> Response {
    let Some(record) = console.engine.history().get(id, viewer.scope()) else {
        return (
            StatusCode::NOT_FOUND,
            Html(console::not_found_page(&viewer.user, id)),
        )
            .into_response();
    };
    // Another role's statement shows without its plan, as without its text.
    let mine = viewer.superuser || record.user == viewer.user;
    let job = match (&record.job_id, mine) {
        (Some(job_id), true) => {
            let cluster = console.engine.cluster();
            Some(match cluster.job_stages(job_id).await {
                Ok(stages) => Ok((cluster.job(job_id).await.ok(), stages)),
                Err(e) => Err(e.to_string()),
            })
        }
        _ => None,
    };
    Html(console::query_page(
        &viewer.user,
        viewer.superuser,
        &record,
        job,
    ))
    .into_response()
}

async fn cancel(
    State(console): State<Console>,
    axum::Extension(viewer): axum::Extension<Viewer>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "a cancel must come from the console's own page\n",
        )
            .into_response();
    }
    if !viewer.superuser {
        return (
            StatusCode::FORBIDDEN,
            "only superusers may cancel statements from the console\n",
        )
            .into_response();
    }
    if let Some(record) = console.engine.history().get(id, None)
        && record.state == "running"
    {
        tracing::info!(query_id = id, pid = record.pid, by = %viewer.user, "cancelled from the console");
        console.engine.activity().cancel(record.pid);
    }
    Redirect::to(&format!("/queries/{id}")).into_response()
}

async fn cluster(
    State(console): State<Console>,
    axum::Extension(viewer): axum::Extension<Viewer>,
) -> Html<String> {
    let cluster = console.engine.cluster();
    let executors = cluster.executors().await.map_err(|e| e.to_string());
    Html(console::cluster_page(
        &viewer.user,
        cluster.url(),
        cluster.health(),
        executors,
        console.engine.activity().session_count(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            format!("Basic {}", STANDARD.encode("alice:pa:ss"))
                .parse()
                .unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("alice".to_owned(), "pa:ss".to_owned()))
        );
        headers.insert(AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&headers), None);
    }

    #[test]
    fn cancels_come_from_the_console_itself() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers), "curl sends no origin");
        headers.insert(ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
    }

    #[test]
    fn listen_settings_parse() {
        assert_eq!(HttpListen::parse("off"), HttpListen::Off);
        assert_eq!(
            HttpListen::parse("0.0.0.0:9090"),
            HttpListen::At("0.0.0.0:9090".to_owned())
        );
    }
}
