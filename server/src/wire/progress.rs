//! Progress NOTICEs (`SET strata.progress = on`): while a statement runs
//! longer than [`INTERVAL`], the client gets a NOTICE every [`INTERVAL`]
//! with its job's stages and tasks done, the rows its stages produced and
//! the time elapsed; a statement the server runs itself reports rows sent
//! and time.

use std::sync::Arc;
use std::time::Duration;

use pgwire::error::ErrorInfo;
use pgwire::messages::response::NoticeResponse;
use tokio::time::Instant;

use crate::engine::Engine;
use crate::engine::control::TaskStatus;

/// How often a long statement reports.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// The progress of one statement of session `pid`.
pub struct Progress {
    engine: Arc<Engine>,
    pid: i32,
    started: Instant,
    next: Instant,
}

impl Progress {
    pub fn new(engine: Arc<Engine>, pid: i32) -> Self {
        let started = Instant::now();
        Self {
            engine,
            pid,
            started,
            next: started + INTERVAL,
        }
    }

    /// Resolves when the next NOTICE is due.
    pub async fn due(&self) {
        tokio::time::sleep_until(self.next).await;
    }

    /// The NOTICE to send now, `rows` having been sent so far.
    pub async fn notice(&mut self, rows: usize) -> NoticeResponse {
        self.next = Instant::now() + INTERVAL;
        let elapsed = self.started.elapsed().as_secs_f64();
        let job = self
            .engine
            .history()
            .running(self.pid)
            .and_then(|record| record.job_id);
        let message = match job {
            Some(job_id) => match self.engine.cluster().job_stages(&job_id).await {
                Ok(stages) => {
                    let done = stages
                        .iter()
                        .filter(|s| s.stage_status == "Successful")
                        .count();
                    let tasks: usize = stages.iter().map(|s| s.tasks.len()).sum();
                    let tasks_done = stages
                        .iter()
                        .flat_map(|s| s.tasks.iter().flatten())
                        .filter(|t| matches!(t.status, TaskStatus::Successful))
                        .count();
                    let produced: usize = stages.iter().map(|s| s.output_rows).sum();
                    format!(
                        "progress: job {job_id}: {done} of {} stages done, {tasks_done} of \
                         {tasks} tasks, {produced} rows produced, {rows} rows sent, \
                         {elapsed:.1} s elapsed",
                        stages.len()
                    )
                }
                Err(e) => format!(
                    "progress: job {job_id}: {rows} rows sent, {elapsed:.1} s elapsed \
                     (the scheduler cannot say more: {e})"
                ),
            },
            None => format!("progress: {rows} rows sent, {elapsed:.1} s elapsed"),
        };
        NoticeResponse::from(ErrorInfo::new(
            "NOTICE".to_owned(),
            "00000".to_owned(),
            message,
        ))
    }
}
