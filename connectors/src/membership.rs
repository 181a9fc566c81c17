//! Cluster membership: who may talk to a scheduler's or executor's ports.
//!
//! Every member holds one secret (`STRATA_CLUSTER_SECRET`, or a file named
//! by `--cluster-secret-file`), as Spark's `spark.authenticate.secret`. From
//! it each member derives the same TLS identity: a certificate authority and
//! a member certificate, both with Ed25519 keys drawn from the secret with
//! HKDF. Members then speak mutual TLS to each other: a member's ports accept
//! only a peer that proves it holds a certificate of that authority, and a
//! member connects only to a peer that does. The secret itself never crosses
//! the wire, and all cluster traffic (plans, shuffle data, results) is
//! encrypted.
//!
//! Ballista builds its gRPC and Flight servers itself, without TLS; each
//! member's public ports are therefore [`crate::gateway`]s in front of
//! Ballista's services, which listen on loopback only. Ballista's clients
//! take TLS through the endpoint override this module provides
//! ([`Membership::endpoint_override`]), installed on every node by
//! [`crate::session::session_config`] once the process has [`join`]ed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ballista_core::extension::EndpointOverrideFn;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use ring::hkdf;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The environment variable holding the cluster secret.
pub const SECRET_ENV: &str = "STRATA_CLUSTER_SECRET";

/// The shortest secret accepted: 16 characters, as a pass phrase of a few
/// words or a random token.
pub const MIN_SECRET_LEN: usize = 16;

/// The name every member's certificate carries and every member checks:
/// members are reached by many names (service names, addresses), so the
/// identity is the cluster's, not the host's.
pub const MEMBER_NAME: &str = "strata-cluster";

/// ALPN for HTTP/2, which gRPC and Flight run on.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN for HTTP/1.1, which the scheduler's REST API also answers.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// How long a member waits to connect to another.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a call between scheduler and executor may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Errors setting up membership.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("the cluster secret is shorter than {MIN_SECRET_LEN} characters")]
    SecretTooShort,
    #[error("cannot read the cluster secret file {path}: {reason}")]
    SecretFile { path: PathBuf, reason: String },
    #[error("cannot derive the cluster's TLS identity: {0}")]
    Identity(String),
}

/// The shared secret. Its text is never shown: `Debug` prints a mask.
#[derive(Clone)]
pub struct ClusterSecret(String);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(********)")
    }
}

impl ClusterSecret {
    /// A secret from its text; surrounding white space (a file's trailing
    /// newline) is not part of it.
    pub fn new(text: &str) -> Result<Self, MembershipError> {
        let text = text.trim();
        if text.chars().count() < MIN_SECRET_LEN {
            return Err(MembershipError::SecretTooShort);
        }
        Ok(Self(text.to_owned()))
    }

    /// The secret from `file` when given, else from `STRATA_CLUSTER_SECRET`;
    /// `None` when neither is set.
    pub fn resolve(file: Option<&Path>) -> Result<Option<Self>, MembershipError> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| MembershipError::SecretFile {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            return Self::new(&text).map(Some);
        }
        match std::env::var(SECRET_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::new(&text).map(Some),
            _ => Ok(None),
        }
    }
}

/// This member's TLS identity and the configurations built from it.
pub struct Membership {
    authority_pem: String,
    certificate_pem: String,
    key_pem: String,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership").finish_non_exhaustive()
    }
}

/// An Ed25519 key drawn from the secret for one purpose (`label`).
fn derived_key(secret: &ClusterSecret, label: &[u8]) -> Result<KeyPair, MembershipError> {
    // PKCS#8 v1 wrapping of a raw Ed25519 seed (RFC 8410, section 7).
    const PKCS8_ED25519_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"strata cluster membership v1")
        .extract(secret.0.as_bytes());
    let info = [label];
    let okm = prk
        .expand(&info, hkdf::HKDF_SHA256)
        .map_err(|_| MembershipError::Identity("key derivation failed".to_owned()))?;
    let mut seed = [0u8; 32];
    okm.fill(&mut seed)
        .map_err(|_| MembershipError::Identity("key derivation failed".to_owned()))?;
    let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
    pkcs8.extend_from_slice(&seed);
    KeyPair::try_from(pkcs8.as_slice()).map_err(|e| MembershipError::Identity(e.to_string()))
}

impl Membership {
    /// Derives the cluster's authority and this member's certificate from
    /// the secret. Every member derives the same keys.
    pub fn derive(secret: &ClusterSecret) -> Result<Self, MembershipError> {
        let identity = |e: rcgen::Error| MembershipError::Identity(e.to_string());
        let authority_key = derived_key(secret, b"authority")?;
        let member_key = derived_key(secret, b"member")?;

        let mut authority = CertificateParams::new(Vec::<String>::new()).map_err(identity)?;
        authority
            .distinguished_name
            .push(DnType::CommonName, "Strata cluster authority");
        authority.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        authority.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        authority.not_before = date_time_ymd(2025, 1, 1);
        authority.not_after = date_time_ymd(2125, 1, 1);
        let authority_cert = authority.self_signed(&authority_key).map_err(identity)?;

        let mut member = CertificateParams::new(vec![MEMBER_NAME.to_owned()]).map_err(identity)?;
        member
            .distinguished_name
            .push(DnType::CommonName, "Strata cluster member");
        member.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        member.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        member.not_before = date_time_ymd(2025, 1, 1);
        member.not_after = date_time_ymd(2125, 1, 1);
        let issuer = Issuer::new(authority, &authority_key);
        let member_cert = member.signed_by(&member_key, &issuer).map_err(identity)?;

        let authority_der: CertificateDer<'static> = authority_cert.der().clone();
        let member_der: CertificateDer<'static> = member_cert.der().clone();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(member_key.serialize_der()));

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(authority_der)
            .map_err(|e| MembershipError::Identity(e.to_string()))?;
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = |e: rustls::Error| MembershipError::Identity(e.to_string());

        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::clone(&roots),
            Arc::clone(&provider),
        )
        .build()
        .map_err(|e| MembershipError::Identity(e.to_string()))?;
        let mut server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![member_der.clone()], key_der.clone_key())
            .map_err(tls)?;
        server.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];

        let server_verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots,
            Arc::clone(&provider),
        )
        .build()
        .map_err(|e| MembershipError::Identity(e.to_string()))?;
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(MemberVerifier(server_verifier)))
            .with_client_auth_cert(vec![member_der], key_der)
            .map_err(tls)?;
        client.alpn_protocols = vec![ALPN_HTTP1.to_vec()];

        Ok(Self {
            authority_pem: authority_cert.pem(),
            certificate_pem: member_cert.pem(),
            key_pem: member_key.serialize_pem(),
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// The TLS configuration of a member's public ports: TLS 1.3, HTTP/2 or
    /// HTTP/1.1, a client certificate of the cluster's authority required.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.server)
    }

    /// The TLS configuration for HTTP/1.1 clients of a member (the
    /// scheduler's REST API): this member's certificate, the peer checked as
    /// a member whatever name it was reached by.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.client)
    }

    /// Makes a gRPC endpoint of Ballista's a mutual-TLS one. Ballista writes
    /// some endpoints as `http://` whatever its TLS setting; those are
    /// rebuilt as `https://` with the timeouts Ballista gives them.
    pub fn secure(&self, endpoint: Endpoint) -> Result<Endpoint, tonic::transport::Error> {
        let endpoint = match endpoint.uri().scheme_str() {
            Some("https") => endpoint,
            _ => {
                let authority = endpoint
                    .uri()
                    .authority()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default();
                Endpoint::from_shared(format!("https://{authority}"))?
                    .connect_timeout(CONNECT_TIMEOUT)
                    .timeout(CALL_TIMEOUT)
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(300))
                    .keep_alive_timeout(Duration::from_secs(20))
                    .keep_alive_while_idle(true)
            }
        };
        endpoint.tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&self.authority_pem))
                .identity(Identity::from_pem(&self.certificate_pem, &self.key_pem))
                .domain_name(MEMBER_NAME),
        )
    }

    /// [`Self::secure`] as Ballista's endpoint override.
    pub fn endpoint_override(self: &Arc<Self>) -> EndpointOverrideFn {
        let membership = Arc::clone(self);
        Arc::new(move |endpoint| Ok(membership.secure(endpoint)?))
    }
}

/// Checks a peer's certificate as a member's: issued by the cluster's
/// authority to [`MEMBER_NAME`], whatever host name or address the peer was
/// reached by.
#[derive(Debug)]
struct MemberVerifier(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for MemberVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let member =
            ServerName::try_from(MEMBER_NAME).map_err(|e| rustls::Error::General(e.to_string()))?;
        self.0
            .verify_server_cert(end_entity, intermediates, &member, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

static JOINED: OnceLock<Arc<Membership>> = OnceLock::new();

/// Makes this process a member: from now on its Ballista clients connect
/// with the cluster's TLS identity. A process joins once; a second call
/// keeps the first membership (all members of a process share one secret).
pub fn join(membership: Arc<Membership>) -> Arc<Membership> {
    Arc::clone(JOINED.get_or_init(|| membership))
}

/// The membership this process joined, if any.
pub fn joined() -> Option<Arc<Membership>> {
    JOINED.get().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_never_shown() {
        assert!(matches!(
            ClusterSecret::new("too short"),
            Err(MembershipError::SecretTooShort)
        ));
        let secret = ClusterSecret::new("  correct horse battery staple\n").expect("secret");
        assert_eq!(secret.0, "correct horse battery staple");
        assert!(!format!("{secret:?}").contains("horse"));
    }

    #[test]
    fn every_member_derives_the_same_authority_and_another_secret_another() {
        let secret = ClusterSecret::new("correct horse battery staple").expect("secret");
        let a = Membership::derive(&secret).expect("derive");
        let b = Membership::derive(&secret).expect("derive");
        assert_eq!(a.authority_pem, b.authority_pem);
        assert_eq!(a.key_pem, b.key_pem);
        let other = ClusterSecret::new("incorrect horse battery staple").expect("secret");
        let c = Membership::derive(&other).expect("derive");
        assert_ne!(a.authority_pem, c.authority_pem);
        assert_ne!(a.key_pem, c.key_pem);
    }
}
