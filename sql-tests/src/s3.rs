//! An S3-compatible server for tests of a lake in S3: moto's server mode
//! (PyPI `moto[server]`, installed by the README's test command), started
//! on a loopback port of its own with one bucket.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A running moto server; stopped when dropped.
pub struct S3Server {
    _child: Child,
    pub endpoint: String,
}

/// Test credentials (moto accepts any).
pub const ACCESS_KEY: &str = "strata-test-key";
pub const SECRET_KEY: &str = "strata-test-secret";

impl S3Server {
    /// Starts moto with the Python of `STRATA_TEST_PYTHON` and creates `bucket`.
    pub async fn start(bucket: &str) -> Result<Self, String> {
        let python = std::env::var("STRATA_TEST_PYTHON").map_err(|_| {
            "STRATA_TEST_PYTHON is not set: run the tests with scripts/test-all.sh, which \
             installs moto[server] into a virtualenv"
                .to_owned()
        })?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start moto ({python} -m moto.server): {e}"))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match http.put(format!("{endpoint}/{bucket}")).send().await {
                Ok(response) if response.status().is_success() => break,
                Ok(response) => {
                    return Err(format!("moto refused the bucket: {}", response.status()));
                }
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(format!(
                        "moto did not answer on {endpoint}: {e} (is moto[server] installed in {python}?)"
                    ));
                }
            }
        }
        Ok(Self {
            _child: child,
            endpoint,
        })
    }

    /// Puts an object (moto takes unsigned writes).
    pub async fn put(&self, bucket: &str, key: &str, body: &'static [u8]) -> Result<(), String> {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}/{key}", self.endpoint))
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("PUT {key}: {}", response.status()))
        }
    }

    /// The environment a Strata process needs to use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STRATA_S3_ENDPOINT", self.endpoint.clone()),
            ("STRATA_S3_ALLOW_HTTP", "true".to_owned()),
            ("STRATA_S3_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ]
    }
}
