//! A cluster whose members share a secret: scheduler, executors and server
//! as separate processes, every cluster port speaking mutual TLS. Members
//! run a query with shuffles over two executors and cancel a job that
//! outlived its timeout; a real Ballista client that
//! is not a member cannot submit a job, nor fetch a partition from an
//! executor's Flight port, while the same client holding the membership
//! can; plain HTTP gets 401; a member refuses to listen beyond loopback
//! without a secret; the secret appears in no log.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::client::BallistaClient;
use ballista_core::extension::{BallistaConfigGrpcEndpoint, SessionConfigExt};
use ballista_core::serde::scheduler::{PartitionId, ShuffleLayout};
use datafusion::arrow::array::Int64Array;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;
use strata_connectors::codec::{logical_codec, physical_codec};
use strata_connectors::membership::{ClusterSecret, Membership};
use strata_sql_tests::cluster::{Cluster, binaries_dir, other_address};
use tokio_postgres::NoTls;

const SECRET: &str = "members-only-9d2e71c4b8a5";
const OTHER_SECRET: &str = "someone-else-3c6f0a9e27d1";

/// A Ballista client of the scheduler at `scheduler`: a member when given
/// a membership, else a plain one as any Ballista user would write.
async fn ballista_context(
    scheduler: SocketAddr,
    membership: Option<Arc<Membership>>,
) -> SessionContext {
    let url = format!("df://{scheduler}");
    let mut config = SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(logical_codec())
        .with_ballista_physical_extension_codec(physical_codec());
    if let Some(membership) = membership {
        config = config
            .with_ballista_use_tls(true)
            .with_ballista_override_create_grpc_client_endpoint(membership.endpoint_override());
    }
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .build();
    SessionContext::remote_with_state(&url, state)
        .await
        .expect("a Ballista context")
}

async fn run_one(context: &SessionContext) -> Result<i64, String> {
    let batches = context
        .sql("SELECT CAST(41 + 1 AS BIGINT) AS answer")
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    batches
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<Int64Array>())
        .map(|a| a.value(0))
        .ok_or_else(|| "no rows".to_owned())
}

fn membership(secret: &str) -> Arc<Membership> {
    Arc::new(Membership::derive(&ClusterSecret::new(secret).expect("a secret")).expect("derive"))
}

/// A shuffle file an executor wrote: `<work>/<job>/<stage>/<partition>/data-<file>.arrow`.
struct ShuffleFile {
    job_id: String,
    stage_id: usize,
    partition_id: usize,
    file_id: u64,
}

fn shuffle_files(work: &Path) -> Vec<ShuffleFile> {
    let mut found = Vec::new();
    let mut stack = vec![work.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(file_id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("data-")?.strip_suffix(".arrow"))
                .and_then(|n| n.parse().ok())
            else {
                continue;
            };
            let parts: Vec<String> = path
                .strip_prefix(work)
                .map(|p| {
                    p.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            if let [job, stage, partition, _] = parts.as_slice()
                && let (Ok(stage_id), Ok(partition_id)) = (stage.parse(), partition.parse())
            {
                found.push(ShuffleFile {
                    job_id: job.clone(),
                    stage_id,
                    partition_id,
                    file_id,
                });
            }
        }
    }
    found
}

/// Rows of `file` fetched from the Flight service at `flight` as a member
/// (with `membership`) or as anyone.
async fn fetch(
    flight: SocketAddr,
    file: &ShuffleFile,
    membership: Option<Arc<Membership>>,
) -> Result<usize, String> {
    let tls = membership.is_some();
    let endpoint =
        membership.map(|m| Arc::new(BallistaConfigGrpcEndpoint::new(m.endpoint_override())));
    let mut client = BallistaClient::try_new(
        &flight.ip().to_string(),
        flight.port(),
        16 * 1024 * 1024,
        tls,
        endpoint,
        1,
        0,
        0,
        0,
    )
    .await
    .map_err(|e| e.to_string())?;
    let partition = PartitionId {
        job_id: file.job_id.clone().into(),
        stage_id: file.stage_id,
        partition_id: file.partition_id,
    };
    let stream = client
        .fetch_partition(
            "executor",
            &partition,
            Some(file.file_id),
            ShuffleLayout::Passthrough,
            true,
        )
        .await
        .map_err(|e| e.to_string())?;
    let batches: Vec<_> = stream.try_collect().await.map_err(|e| e.to_string())?;
    Ok(batches.iter().map(|b| b.num_rows()).sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_ports_serve_members_only() {
    let cluster = Cluster::start_with_env(2, 2, 15, "", &[("STRATA_CLUSTER_SECRET", SECRET)])
        .await
        .unwrap_or_else(|e| panic!("cannot start a cluster with a secret: {e}"));

    // Members work together: a grouping with shuffles over both executors,
    // its results fetched by the server, all over mutual TLS.
    let (client, connection) = tokio_postgres::connect(&cluster.database().conninfo, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", cluster.logs()));
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT value % 7 AS g, count(*) AS n FROM generate_series(1, 70000) \
             GROUP BY value % 7 ORDER BY g",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("a member's query failed: {e}\n{}", cluster.logs()));
    let counts: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(counts, (0..7).map(|g| (g, 10_000)).collect::<Vec<_>>());

    // A statement stopped by its timeout has its job cancelled on the
    // scheduler, over the members' TLS too.
    client
        .batch_execute(
            "CREATE TABLE t AS SELECT value AS v FROM generate_series(1, 200000); \
             SET statement_timeout = '1s'",
        )
        .await
        .unwrap_or_else(|e| panic!("a lake table: {e}\n{}", cluster.logs()));
    let timed_out = client
        .query_one(
            "SELECT count(*) FROM t a JOIN t b ON a.v % 100 = b.v % 100",
            &[],
        )
        .await
        .expect_err("the join outlived its timeout");
    assert_eq!(
        timed_out.as_db_error().map(|e| e.code().code()),
        Some("57014"),
        "{timed_out}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cluster.logs_in_full().contains("cancelled job") {
        assert!(
            std::time::Instant::now() < deadline,
            "the job was not cancelled:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!cluster.logs_in_full().contains("could not cancel job"));

    // A Ballista client that is not a member cannot submit a job ...
    let outsider = ballista_context(cluster.scheduler_addr, None).await;
    let refused = run_one(&outsider)
        .await
        .expect_err("a non-member ran a job");
    assert!(
        refused.contains("not a member of this Strata cluster"),
        "a non-member's job was refused with: {refused}"
    );
    // ... nor one holding another cluster's identity (TLS refuses it) ...
    let stranger = ballista_context(cluster.scheduler_addr, Some(membership(OTHER_SECRET))).await;
    run_one(&stranger)
        .await
        .expect_err("a member of another cluster ran a job");
    // ... while the same client holding the membership can.
    let member = ballista_context(cluster.scheduler_addr, Some(membership(SECRET))).await;
    assert_eq!(
        run_one(&member)
            .await
            .unwrap_or_else(|e| panic!("a member's job failed: {e}\n{}", cluster.logs())),
        42
    );

    // A partition on an executor: a member fetches it, nobody else can.
    let (index, file) = (0..2)
        .find_map(|i| {
            shuffle_files(&cluster.work_dir(i))
                .into_iter()
                .next()
                .map(|f| (i, f))
        })
        .unwrap_or_else(|| panic!("no executor kept a shuffle file\n{}", cluster.logs()));
    let flight = cluster.executors[index]
        .as_ref()
        .expect("a running executor")
        .flight;
    let rows = fetch(flight, &file, Some(membership(SECRET)))
        .await
        .unwrap_or_else(|e| panic!("a member could not fetch a partition: {e}"));
    assert!(rows > 0, "the member's fetch returned no rows");
    let refused = fetch(flight, &file, None)
        .await
        .expect_err("a non-member fetched a partition");
    assert!(
        refused.contains("not a member of this Strata cluster"),
        "a non-member's fetch was refused with: {refused}"
    );
    fetch(flight, &file, Some(membership(OTHER_SECRET)))
        .await
        .expect_err("a member of another cluster fetched a partition");

    // Plain HTTP to the scheduler's REST API is told what is wrong.
    let response = reqwest::get(format!("http://{}/api/jobs", cluster.scheduler_addr))
        .await
        .expect("an HTTP answer");
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    let logs = cluster.logs_in_full();
    assert!(
        !logs.contains(SECRET),
        "the cluster secret is in a log:\n{logs}"
    );

    // Without a secret, members do not listen beyond loopback.
    let bin = binaries_dir().expect("the binaries");
    let listen = SocketAddr::new(other_address(), 0).to_string();
    for (binary, args) in [
        ("strata-scheduler", vec!["--listen", listen.as_str()]),
        (
            "strata-executor",
            vec![
                "--listen",
                listen.as_str(),
                "--grpc-listen",
                listen.as_str(),
            ],
        ),
    ] {
        let output = tokio::process::Command::new(bin.join(binary))
            .args(&args)
            .env_remove("STRATA_CLUSTER_SECRET")
            .env_remove("STRATA_CLUSTER_SECRET_FILE")
            .env_remove("STRATA_CONFIG")
            .output()
            .await
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{binary} started unprotected");
        assert!(
            stderr.contains("without a cluster secret") && stderr.contains("STRATA_CLUSTER_SECRET"),
            "{binary} said: {stderr}"
        );
    }
}
