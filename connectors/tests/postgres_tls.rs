//! TLS to a PostgreSQL source, against the PostgreSQL on this machine
//! (Debian's runs with `ssl = on` and a self-signed certificate issued to
//! `localhost`).

use strata_connectors::postgres::source::{PasswordRef, PgSource};

/// The certificate file the server presents, read from the server itself.
async fn server_certificate() -> String {
    let url = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
    let source = PgSource::new("plain", url, PasswordRef::None).unwrap();
    let client = source.connect().await.unwrap_or_else(|e| {
        panic!(
            "{e}\nPostgreSQL is needed on 127.0.0.1:5432: \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    });
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(
        ssl, "on",
        "the PostgreSQL on this machine must run with ssl = on (Debian's default)"
    );
    client
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0)
}

/// Whether a connection to `url` is encrypted, or why it failed.
async fn encrypted(url: &str) -> Result<bool, String> {
    let source = PgSource::new("tls", url, PasswordRef::None).map_err(|e| e.to_string())?;
    let client = source.connect().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sources_connect_with_tls_as_sslmode_says() {
    let cert = server_certificate().await;
    let at =
        |host: &str, options: &str| format!("postgres://postgres@{host}:5432/postgres?{options}");

    assert_eq!(
        encrypted(&at("127.0.0.1", "sslmode=disable")).await,
        Ok(false)
    );
    assert_eq!(
        encrypted(&at("127.0.0.1", "sslmode=prefer")).await,
        Ok(true)
    );
    assert_eq!(
        encrypted(&at("127.0.0.1", "sslmode=require")).await,
        Ok(true)
    );
    // No sslmode: prefer, as libpq.
    assert_eq!(
        encrypted("postgres://postgres@127.0.0.1:5432/postgres").await,
        Ok(true)
    );
    // The self-signed certificate as the root: its name is localhost.
    let root = format!("sslrootcert={cert}");
    assert_eq!(
        encrypted(&at("localhost", &format!("sslmode=verify-full&{root}"))).await,
        Ok(true)
    );
    assert_eq!(
        encrypted(&at("127.0.0.1", &format!("sslmode=verify-ca&{root}"))).await,
        Ok(true)
    );
    let wrong_name = encrypted(&at("127.0.0.1", &format!("sslmode=verify-full&{root}")))
        .await
        .unwrap_err();
    assert!(
        wrong_name.contains("cannot be reached") && wrong_name.contains("certificate"),
        "{wrong_name}"
    );
    // Roots that did not sign it: the public CAs Debian trusts.
    let unknown = encrypted(&at(
        "localhost",
        "sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt",
    ))
    .await
    .unwrap_err();
    assert!(unknown.contains("certificate"), "{unknown}");
    // The key=value form too.
    assert_eq!(
        encrypted(&format!(
            "host=localhost port=5432 user=postgres dbname=postgres sslmode=verify-full sslrootcert='{cert}'"
        ))
        .await,
        Ok(true)
    );
    let missing = encrypted(&at(
        "localhost",
        "sslmode=verify-ca&sslrootcert=/nonexistent.pem",
    ))
    .await
    .unwrap_err();
    assert!(missing.contains("/nonexistent.pem"), "{missing}");
}
