//! TLS to PostgreSQL sources, with libpq's `sslmode` meanings.
//!
//! | sslmode | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | no | - |
//! | `prefer` (the default) | if the server offers it | no |
//! | `require` | yes | no; against `sslrootcert` when given, as libpq does |
//! | `verify-ca` | yes | signed by a root of `sslrootcert` (else the system's) |
//! | `verify-full` | yes | as `verify-ca`, and issued to the host connected to |
//!
//! tokio-postgres knows only `disable`, `prefer` and `require` and no
//! `sslrootcert`: [`TlsSettings::split`] takes them out of the URL first.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// How a connection is encrypted and its server checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The TLS settings of a source's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// PEM file of the roots a server certificate must chain to.
    pub root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// The TLS settings of `url` (a `postgres://` URL or `key=value`
    /// connection string) and the URL tokio-postgres can read: `verify-*`
    /// become `require` and `sslrootcert` goes.
    pub fn split(url: &str) -> Result<(String, Self), String> {
        let mut settings = TlsSettings {
            mode: SslMode::Prefer,
            root_cert: None,
        };
        let mut take = |key: &str, value: &str| -> Result<Option<String>, String> {
            match key {
                "sslmode" => {
                    settings.mode = match value {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => return Err(format!("sslmode \"{other}\" is not known")),
                    };
                    let plain = match settings.mode {
                        SslMode::Disable => "disable",
                        SslMode::Prefer => "prefer",
                        _ => "require",
                    };
                    Ok(Some(plain.to_owned()))
                }
                "sslrootcert" => {
                    settings.root_cert = Some(PathBuf::from(value));
                    Ok(None)
                }
                "sslcert" | "sslkey" => Err(format!(
                    "{key}: client certificates are not supported; use a password"
                )),
                _ => Ok(Some(value.to_owned())),
            }
        };
        let cleaned = if let Some((base, query)) = url
            .starts_with("postgres")
            .then(|| url.split_once('?'))
            .flatten()
        {
            let mut kept = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                if let Some(value) = take(key, &percent_decode(value))? {
                    let value = if key == "sslmode" {
                        value
                    } else {
                        value_as_given(pair)
                    };
                    kept.push(format!("{key}={value}"));
                }
            }
            if kept.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        } else if url.starts_with("postgres") {
            url.to_owned()
        } else {
            let mut kept = Vec::new();
            for (key, value) in key_values(url)? {
                if let Some(value) = take(&key, &value)? {
                    kept.push(format!(
                        "{key}='{}'",
                        value.replace('\\', "\\\\").replace('\'', "\\'")
                    ));
                }
            }
            kept.join(" ")
        };
        Ok((cleaned, settings))
    }

    /// The URL tokio-postgres reads and the rustls configuration for `url`,
    /// built once per URL in this process: every slice of every scan
    /// connects, and reading the system's roots each time would cost more
    /// than the connection.
    pub fn for_url(url: &str) -> Result<(String, Option<ClientConfig>), String> {
        type Prepared = (String, Option<ClientConfig>);
        static PREPARED: LazyLock<Mutex<HashMap<String, Prepared>>> = LazyLock::new(Mutex::default);
        let mut prepared = PREPARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = prepared.get(url) {
            return Ok(found.clone());
        }
        let (plain_url, settings) = Self::split(url)?;
        let found = (plain_url, settings.client_config()?);
        prepared.insert(url.to_owned(), found.clone());
        Ok(found)
    }

    /// The rustls configuration for these settings; `None` for `disable`.
    pub fn client_config(&self) -> Result<Option<ClientConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.root_cert) {
            (SslMode::Disable, _) => return Ok(None),
            (SslMode::Prefer, _) | (SslMode::Require, None) => Arc::new(Verifier {
                provider: Arc::clone(&provider),
                roots: None,
            }),
            (SslMode::Require | SslMode::VerifyCa, _) => Arc::new(Verifier {
                roots: Some(self.webpki(&provider)?),
                provider: Arc::clone(&provider),
            }),
            (SslMode::VerifyFull, _) => self.webpki(&provider)?,
        };
        Ok(Some(
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        ))
    }

    /// The standard verifier over `sslrootcert`'s roots, or the system's.
    fn webpki(&self, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, String> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
                roots.add_parsable_certificates(certs);
                if roots.is_empty() {
                    return Err(format!(
                        "sslrootcert {} holds no certificate",
                        path.display()
                    ));
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
            .build()
            .map_err(|e| e.to_string())
    }
}

/// `%XX` escapes decoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of a `key=value` URL pair, still encoded.
fn value_as_given(pair: &str) -> String {
    pair.split_once('=').map_or("", |(_, v)| v).to_owned()
}

/// The pairs of a `key=value` connection string, values unquoted.
fn key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("expected = after {key}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted value of {key}")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// How a server's certificate is checked: not at all (`prefer`, and
/// `require` without roots, as libpq does), against roots whatever name it
/// was issued to (`verify-ca`), or fully (`verify-full`, the plain WebPKI
/// verifier). Handshake signatures are always checked.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    /// `None`: the certificate is not checked.
    roots: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        match roots.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_leave_a_url_tokio_postgres_reads() {
        let (url, tls) = TlsSettings::split(
            "postgres://app@db:5432/shop?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://app@db:5432/shop?sslmode=require&application_name=x"
        );
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));

        let (url, tls) = TlsSettings::split("postgres://db/shop").unwrap();
        assert_eq!(
            (url.as_str(), tls.mode),
            ("postgres://db/shop", SslMode::Prefer)
        );

        let (url, tls) =
            TlsSettings::split("host=db dbname='my shop' sslmode=verify-ca sslrootcert=/ca.pem")
                .unwrap();
        assert_eq!(url, "host='db' dbname='my shop' sslmode='require'");
        assert_eq!(tls.mode, SslMode::VerifyCa);

        assert!(TlsSettings::split("postgres://db/x?sslmode=sometimes").is_err());
        assert!(TlsSettings::split("postgres://db/x?sslcert=/c.pem").is_err());
    }
}
