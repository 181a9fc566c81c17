//! A Strata cluster as separate OS processes: a `strata-scheduler`, some
//! `strata-executor`s and a `strata-server` in remote mode, each on loopback
//! ports it picks itself and reports on its first line of output. The same
//! topology as docker-compose.yml, without Docker.
//!
//! The binaries are the workspace's own, found next to the running test
//! (`target/<profile>/`); the README's test command builds them first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Database;

/// How long a process may take to report that it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One process of the cluster; killed when dropped.
pub struct Node {
    child: Child,
    log: PathBuf,
}

impl Node {
    /// The last lines of what the process logged.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no goodbye to the scheduler, as when a machine dies.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// An executor and the addresses it reported.
pub struct Executor {
    pub node: Node,
    pub flight: SocketAddr,
    pub metrics: SocketAddr,
}

/// Task counts from an executor's `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub running: u64,
    pub started: u64,
}

/// A running cluster, removed (processes and files) when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub scheduler: Node,
    pub scheduler_addr: SocketAddr,
    /// Executors by the order they were started; `None` once killed.
    pub executors: Vec<Option<Executor>>,
    pub server: Node,
    pub server_addr: SocketAddr,
    /// The server's web console and `/metrics`.
    pub console_addr: SocketAddr,
    slots: usize,
    http: reqwest::Client,
    /// Environment every process of the cluster starts with.
    env: Vec<(String, String)>,
}

impl Cluster {
    /// Starts a scheduler, `executors` executors with `slots` task slots
    /// each, and a server in remote mode that gives up waiting for
    /// executors after `executor_wait` seconds.
    pub async fn start(executors: usize, slots: usize, executor_wait: u64) -> Result<Self, String> {
        Self::start_with_config(executors, slots, executor_wait, "").await
    }

    /// Like [`Cluster::start`], with `server_config` as the server's TOML
    /// settings file (sources, say).
    pub async fn start_with_config(
        executors: usize,
        slots: usize,
        executor_wait: u64,
        server_config: &str,
    ) -> Result<Self, String> {
        Self::start_with_env(executors, slots, executor_wait, server_config, &[]).await
    }

    /// Like [`Cluster::start_with_config`], every process also getting `env`.
    pub async fn start_with_env(
        executors: usize,
        slots: usize,
        executor_wait: u64,
        server_config: &str,
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let bin = binaries_dir()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config_path = dir.path().join("server.toml");
        std::fs::write(&config_path, server_config).map_err(|e| e.to_string())?;
        let config_arg = config_path.to_string_lossy().into_owned();
        let (scheduler, line) = spawn(
            &bin,
            "strata-scheduler",
            &["--listen", "127.0.0.1:0"],
            &env,
            dir.path(),
            "scheduler",
            "strata-scheduler listening on ",
        )
        .await?;
        let scheduler_addr = first_addr(&line)?;
        let data = dir.path().join("data");
        let data_arg = data.to_string_lossy().into_owned();
        let (server, line) = spawn(
            &bin,
            "strata-server",
            &[
                "--listen",
                "127.0.0.1:0",
                "--scheduler",
                &scheduler_addr.to_string(),
                "--data-dir",
                &data_arg,
                "--executor-wait",
                &executor_wait.to_string(),
                "--config",
                &config_arg,
                "--http",
                "127.0.0.1:0",
                // Every query goes to the cluster, small ones too: these
                // tests are about the cluster.
                "--fast-path",
                "off",
            ],
            &env,
            dir.path(),
            "server",
            "Strata is listening on ",
        )
        .await?;
        let server_addr = first_addr(&line)?;
        let console_addr = console_addr(&line)?;
        let mut cluster = Cluster {
            dir,
            bin,
            scheduler,
            scheduler_addr,
            executors: Vec::new(),
            server,
            server_addr,
            console_addr,
            slots,
            env,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| e.to_string())?,
        };
        for _ in 0..executors {
            cluster.start_executor().await?;
        }
        Ok(cluster)
    }

    /// Starts one more executor; returns its index.
    pub async fn start_executor(&mut self) -> Result<usize, String> {
        let index = self.executors.len();
        let work = self.dir.path().join(format!("executor-{index}"));
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let work_arg = work.to_string_lossy().into_owned();
        let (node, line) = spawn(
            &self.bin,
            "strata-executor",
            &[
                "--scheduler",
                &self.scheduler_addr.to_string(),
                "--listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--slots",
                &self.slots.to_string(),
                "--work-dir",
                &work_arg,
            ],
            &self.env,
            self.dir.path(),
            &format!("executor-{index}"),
            "strata-executor ready: ",
        )
        .await?;
        let flight = addr_after(&line, "flight ")?;
        let metrics = addr_after(&line, "metrics ")?;
        self.executors.push(Some(Executor {
            node,
            flight,
            metrics,
        }));
        Ok(index)
    }

    /// SIGKILLs executor `index`.
    pub async fn kill_executor(&mut self, index: usize) {
        if let Some(mut executor) = self.executors.get_mut(index).and_then(Option::take) {
            executor.node.kill().await;
        }
    }

    /// The server as a target for suites.
    pub fn database(&self) -> Database {
        Database {
            name: "strata-cluster".to_owned(),
            conninfo: format!(
                "host=127.0.0.1 port={} user=strata dbname=lake",
                self.server_addr.port()
            ),
        }
    }

    /// A folder for the test's own files, removed with the cluster.
    pub fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    /// Executor `index`'s work folder (its shuffle files).
    pub fn work_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("executor-{index}"))
    }

    /// The lake's folder (the server's default, under its data folder).
    pub fn lake_root(&self) -> PathBuf {
        self.dir.path().join("data").join("lake")
    }

    /// Task counts of executor `index`, from its `/metrics`.
    pub async fn task_counts(&self, index: usize) -> Result<TaskCounts, String> {
        let executor = self
            .executors
            .get(index)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("executor {index} is not running"))?;
        let text = self
            .http
            .get(format!("http://{}/metrics", executor.metrics))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let value = |name: &str| -> Result<u64, String> {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("/metrics of executor {index} has no {name}"))
        };
        Ok(TaskCounts {
            running: value("strata_executor_tasks_running")?,
            started: value("strata_executor_tasks_started_total")?,
        })
    }

    /// Running tasks summed over the live executors.
    pub async fn running_tasks(&self) -> Result<u64, String> {
        let mut total = 0;
        for index in 0..self.executors.len() {
            if self.executors[index].is_some() {
                total += self.task_counts(index).await?.running;
            }
        }
        Ok(total)
    }

    /// A JSON document from the scheduler's REST API (`/api/jobs`, ...).
    pub async fn scheduler_api(&self, path: &str) -> Result<serde_json::Value, String> {
        self.http
            .get(format!("http://{}{path}", self.scheduler_addr))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())
    }

    /// Every process's whole log.
    pub fn logs_in_full(&self) -> String {
        let mut nodes: Vec<&Node> = vec![&self.scheduler, &self.server];
        nodes.extend(self.executors.iter().flatten().map(|e| &e.node));
        nodes
            .into_iter()
            .map(|node| std::fs::read_to_string(&node.log).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The tail of every process's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = format!("--- scheduler\n{}\n", self.scheduler.log_tail(30));
        for (index, executor) in self.executors.iter().enumerate() {
            if let Some(executor) = executor {
                out += &format!("--- executor-{index}\n{}\n", executor.node.log_tail(30));
            }
        }
        out += &format!("--- server\n{}\n", self.server.log_tail(30));
        out
    }
}

/// A server in its embedded default (in-process scheduler and executor) as
/// a process of its own, so a test can kill it and start another over the
/// same data folder.
pub struct ServerProcess {
    pub node: Node,
    pub addr: SocketAddr,
    /// Its web console and `/metrics`.
    pub console_addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `strata-server` over `data`, logging to `<data>/../<label>.log`.
    pub async fn start(data: &Path, label: &str) -> Result<Self, String> {
        Self::start_with_env(data, label, &[]).await
    }

    /// Like [`ServerProcess::start`], the process getting `env` too.
    pub async fn start_with_env(
        data: &Path,
        label: &str,
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        Self::start_listening(data, label, "127.0.0.1:0", env).await
    }

    /// Like [`ServerProcess::start_with_env`], listening on `listen`.
    pub async fn start_listening(
        data: &Path,
        label: &str,
        listen: &str,
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let bin = binaries_dir()?;
        let logs = data.parent().unwrap_or(data);
        std::fs::create_dir_all(logs).map_err(|e| e.to_string())?;
        let data_arg = data.to_string_lossy().into_owned();
        let (node, line) = spawn(
            &bin,
            "strata-server",
            &[
                "--listen",
                listen,
                "--data-dir",
                &data_arg,
                "--http",
                "127.0.0.1:0",
            ],
            &env,
            logs,
            label,
            "Strata is listening on ",
        )
        .await?;
        Ok(Self {
            addr: first_addr(&line)?,
            console_addr: console_addr(&line)?,
            node,
        })
    }

    pub fn database(&self) -> Database {
        Database {
            name: "strata-process".to_owned(),
            conninfo: format!(
                "host=127.0.0.1 port={} user=strata dbname=lake",
                self.addr.port()
            ),
        }
    }
}

/// Where the workspace's binaries are: `STRATA_BIN_DIR`, or next to this test.
pub fn binaries_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("STRATA_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            // target/<profile>/deps/<test> -> target/<profile>
            exe.parent()
                .and_then(Path::parent)
                .map(Path::to_owned)
                .ok_or_else(|| format!("cannot place {}", exe.display()))?
        }
    };
    for name in ["strata-scheduler", "strata-executor", "strata-server"] {
        if !dir.join(name).is_file() {
            return Err(format!(
                "{name} is not built in {}: run `cargo build --workspace --bins` first \
                 (scripts/test-all.sh does)",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

/// Starts `name` with `args`, logging to `<dir>/<label>.log`, and waits for
/// the line on its stdout that starts with `ready`.
async fn spawn(
    bin: &Path,
    name: &str,
    args: &[&str],
    env: &[(String, String)],
    dir: &Path,
    label: &str,
    ready: &str,
) -> Result<(Node, String), String> {
    let log = dir.join(format!("{label}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut child = Command::new(bin.join(name))
        .args(args)
        .env("STRATA_LOG_LEVEL", "info")
        .env_remove("STRATA_CONFIG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| format!("{name} has no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(START_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with(ready) {
                return Some(line);
            }
        }
        None
    })
    .await;
    let node = Node { child, log };
    match found {
        Ok(Some(line)) => {
            // Keep reading so the process never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok((node, line))
        }
        Ok(None) => Err(format!(
            "{name} exited before it was ready:\n{}",
            node.log_tail(40)
        )),
        Err(_) => Err(format!(
            "{name} was not ready within {START_TIMEOUT:?}:\n{}",
            node.log_tail(40)
        )),
    }
}

fn first_addr(line: &str) -> Result<SocketAddr, String> {
    line.split_whitespace()
        .find_map(|word| word.parse().ok())
        .ok_or_else(|| format!("no address in `{line}`"))
}

/// The console's address in the server's first line (`console at http://a/`).
fn console_addr(line: &str) -> Result<SocketAddr, String> {
    line.split_once("console at http://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|addr| addr.parse().ok())
        .ok_or_else(|| format!("no console address in `{line}`"))
}

fn addr_after(line: &str, key: &str) -> Result<SocketAddr, String> {
    line.split_once(key)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|word| word.parse().ok())
        .ok_or_else(|| format!("no {key}address in `{line}`"))
}

/// An address of this machine other than loopback, which connections to
/// it come from.
pub fn other_address() -> std::net::IpAddr {
    // Connecting a UDP socket sends nothing; it only picks the route.
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let ip = socket
        .connect("192.0.2.1:9")
        .and_then(|_| socket.local_addr())
        .map(|addr| addr.ip())
        .unwrap_or_else(|e| panic!("this test needs a network interface besides loopback: {e}"));
    assert!(
        !ip.is_loopback() && !ip.is_unspecified(),
        "this test needs a network interface besides loopback, found only {ip}"
    );
    ip
}
