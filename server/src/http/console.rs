//! The console's pages, rendered on the server: plain HTML, a little CSS,
//! and a script that reloads a page while what it shows is still running.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::engine::control::{
    ClusterHealth, ExecutorInfo, JobResponse, QueryStageSummary, TaskStatus,
};
use crate::engine::strata_schema::QueryRecord;

/// What the query page knows of a statement's job: the job and its stages,
/// or why the scheduler could not say.
pub type JobView = Result<(Option<JobResponse>, Vec<QueryStageSummary>), String>;

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#cfd6e4;text-decoration:none}header a:hover{color:#fff}
header .brand{font-weight:700;color:#fff}header .who{margin-left:auto;color:#9aa4b5}
main{padding:16px 24px}h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #e3e6eb;padding:6px 8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#eef0f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.sql{font-family:monospace;max-width:640px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
pre{background:#fff;border:1px solid #e3e6eb;padding:8px;overflow:auto;font-size:13px}
.state-running{color:#1a73e8}.state-finished{color:#188038}.state-failed{color:#c5221f}
.state-cancelled{color:#b06000}
progress{width:160px}dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}
dt{color:#5f6b7a}dd{margin:0}
button{background:#c5221f;color:#fff;border:0;padding:6px 14px;border-radius:4px;cursor:pointer}
svg text{font-size:12px;font-family:system-ui,sans-serif}
";

/// Escapes `text` for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: the navigation, `body`, and when `refresh` a reload
/// every second.
fn page(title: &str, user: &str, body: &str, refresh: bool) -> String {
    let script = if refresh {
        "<script>setTimeout(function(){location.reload()},1000)</script>"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} · Strata</title><style>{STYLE}</style></head><body>\
         <header><span class=\"brand\">Strata</span><a href=\"/queries\">Queries</a>\
         <a href=\"/cluster\">Cluster</a><a href=\"/metrics\">Metrics</a>\
         <span class=\"who\">{user}</span></header><main>{body}</main>{script}</body></html>",
        title = escape(title),
        user = escape(user),
    )
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{:.1} min", ms / 60_000.0)
    }
}

fn state_cell(state: &str) -> String {
    format!("<span class=\"state-{state}\">{state}</span>")
}

/// Running statements first, then the recent ones, newest first.
pub fn queries_page(user: &str, records: &[QueryRecord]) -> String {
    let mut body = String::from("<h1>Queries</h1>");
    let running: Vec<&QueryRecord> = records
        .iter()
        .rev()
        .filter(|r| r.state == "running")
        .collect();
    let recent: Vec<&QueryRecord> = records
        .iter()
        .rev()
        .filter(|r| r.state != "running")
        .take(200)
        .collect();
    for (title, id, rows) in [
        ("Running", "running", running),
        ("Recent", "recent", recent),
    ] {
        let _ = write!(
            body,
            "<h2>{title} ({})</h2><table id=\"{id}\"><thead><tr><th>Id</th><th>User</th>\
             <th>Database</th><th>Statement</th><th>State</th><th>Started</th>\
             <th>Duration</th><th>Rows</th><th>Job</th></tr></thead><tbody>",
            rows.len()
        );
        for r in rows {
            let _ = write!(
                body,
                "<tr class=\"query\" data-query-id=\"{id}\" data-state=\"{state}\">\
                 <td><a href=\"/queries/{id}\">{id}</a></td><td>{user}</td><td>{db}</td>\
                 <td class=\"sql\" title=\"{sql}\">{sql}</td><td>{state_cell}</td><td>{start}</td>\
                 <td class=\"num\">{duration}</td><td class=\"num\">{rows}</td><td>{job}</td></tr>",
                id = r.id,
                state = r.state,
                user = escape(&r.user),
                db = escape(&r.database),
                sql = escape(&r.query),
                state_cell = state_cell(r.state),
                start = time(r.started),
                duration = duration(r.duration_ms()),
                rows = r.rows.map(|n| n.to_string()).unwrap_or_default(),
                job = escape(r.job_id.as_deref().unwrap_or("")),
            );
        }
        body.push_str("</tbody></table>");
    }
    let refresh = records.iter().any(|r| r.state == "running");
    page("Queries", user, &body, refresh)
}

pub fn not_found_page(user: &str, id: u64) -> String {
    page(
        "Not found",
        user,
        &format!("<h1>Query {id}</h1><p>No such statement is kept.</p>"),
        false,
    )
}

/// One stage, as the page draws it.
struct StageView<'a> {
    id: usize,
    summary: &'a QueryStageSummary,
    upstream: Vec<usize>,
    done: usize,
    total: usize,
    spills: u64,
}

impl<'a> StageView<'a> {
    fn of(summary: &'a QueryStageSummary) -> Self {
        let plan = summary.stage_plan.as_deref().unwrap_or("");
        let done = summary
            .tasks
            .iter()
            .flatten()
            .filter(|t| matches!(t.status, TaskStatus::Successful))
            .count();
        Self {
            id: summary.stage_id.parse().unwrap_or(0),
            summary,
            upstream: upstream_stages(plan),
            done,
            total: summary.tasks.len(),
            spills: metric_sum(plan, "spill_count="),
        }
    }

    /// The share of its tasks that finished, 0 to 1.
    fn progress(&self) -> f64 {
        if self.total == 0 {
            if self.summary.stage_status == "Successful" {
                1.0
            } else {
                0.0
            }
        } else {
            self.done as f64 / self.total as f64
        }
    }
}

/// The stages a stage's plan reads the output of.
fn upstream_stages(plan: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for marker in ["UnresolvedShuffleExec: stage=", "upstream_stage: "] {
        for (at, _) in plan.match_indices(marker) {
            let digits: String = plan[at + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(id) = digits.parse()
                && !found.contains(&id)
            {
                found.push(id);
            }
        }
    }
    found
}

/// The sum of a metric (`spill_count=`) over the operators of a plan
/// rendered with its metrics.
fn metric_sum(plan: &str, name: &str) -> u64 {
    plan.match_indices(name)
        .filter_map(|(at, _)| {
            let digits: String = plan[at + name.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .sum()
}

/// Columns of the stage graph (`stages` in id order): a stage sits one column right of the
/// furthest stage it reads; one whose plan is not known yet (it has not
/// started) right of every stage with a lower id, which Ballista gives the
/// stages that feed it.
fn columns(stages: &[StageView]) -> BTreeMap<usize, usize> {
    let mut column: BTreeMap<usize, usize> = BTreeMap::new();
    for stage in stages {
        let at = if stage.upstream.is_empty() && stage.summary.stage_plan.is_none() {
            column.values().max().map_or(0, |c| c + 1)
        } else {
            stage
                .upstream
                .iter()
                .filter_map(|up| column.get(up))
                .max()
                .map_or(0, |c| c + 1)
        };
        column.insert(stage.id, at);
    }
    column
}

const BOX_W: usize = 190;
const BOX_H: usize = 84;
const GAP_X: usize = 70;
const GAP_Y: usize = 18;

/// The stages (in id order) as a graph: a box per stage with its progress bar, an arrow
/// from each stage to the stages that read it.
fn stage_graph(stages: &[StageView]) -> String {
    let column = columns(stages);
    let mut rows_in_column: BTreeMap<usize, usize> = BTreeMap::new();
    let mut position: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for stage in stages {
        let c = column.get(&stage.id).copied().unwrap_or(0);
        let row = rows_in_column.entry(c).or_insert(0);
        position.insert(
            stage.id,
            (10 + c * (BOX_W + GAP_X), 10 + *row * (BOX_H + GAP_Y)),
        );
        *row += 1;
    }
    let width = 20 + (column.values().max().copied().unwrap_or(0) + 1) * (BOX_W + GAP_X);
    let height = 20 + rows_in_column.values().max().copied().unwrap_or(1) * (BOX_H + GAP_Y);
    let mut svg = format!(
        "<svg id=\"stage-graph\" width=\"{width}\" height=\"{height}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" \
         refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#7a8699\"/></marker></defs>"
    );
    for stage in stages {
        let Some(&(x, y)) = position.get(&stage.id) else {
            continue;
        };
        for up in &stage.upstream {
            if let Some(&(ux, uy)) = position.get(up) {
                let _ = write!(
                    svg,
                    "<line class=\"edge\" data-from=\"{up}\" data-to=\"{id}\" x1=\"{x1}\" \
                     y1=\"{y1}\" x2=\"{x}\" y2=\"{y2}\" stroke=\"#7a8699\" \
                     marker-end=\"url(#arrow)\"/>",
                    id = stage.id,
                    x1 = ux + BOX_W,
                    y1 = uy + BOX_H / 2,
                    y2 = y + BOX_H / 2,
                );
            }
        }
    }
    for stage in stages {
        let Some(&(x, y)) = position.get(&stage.id) else {
            continue;
        };
        let status = &stage.summary.stage_status;
        let fill = match status.as_str() {
            "Successful" => "#188038",
            "Failed" => "#c5221f",
            "Running" => "#1a73e8",
            _ => "#9aa4b5",
        };
        let bar = ((BOX_W - 20) as f64 * stage.progress()).round() as usize;
        let _ = write!(
            svg,
            "<g class=\"stage\" data-stage-id=\"{id}\" data-status=\"{status}\" \
             data-done=\"{done}\" data-total=\"{total}\">\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" \
             fill=\"#fff\" stroke=\"{fill}\" stroke-width=\"2\"/>\
             <text x=\"{tx}\" y=\"{t1}\" font-weight=\"700\">Stage {id}</text>\
             <text x=\"{tx}\" y=\"{t2}\" fill=\"{fill}\">{status}</text>\
             <rect class=\"bar-bg\" x=\"{tx}\" y=\"{by}\" width=\"{bw}\" height=\"8\" fill=\"#e3e6eb\"/>\
             <rect class=\"bar\" x=\"{tx}\" y=\"{by}\" width=\"{bar}\" height=\"8\" fill=\"{fill}\"/>\
             <text x=\"{tx}\" y=\"{t3}\">{done}/{total} tasks · {rows} rows</text></g>",
            id = stage.id,
            status = escape(status),
            done = stage.done,
            total = stage.total,
            tx = x + 10,
            t1 = y + 18,
            t2 = y + 34,
            by = y + 44,
            bw = BOX_W - 20,
            t3 = y + 72,
            rows = stage.summary.output_rows,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One statement: what it is, its job's stages drawn as a graph with a
/// progress bar each, and a table of their tasks, rows, time and spills.
pub fn query_page(
    user: &str,
    may_cancel: bool,
    record: &QueryRecord,
    job: Option<JobView>,
) -> String {
    let mut body = format!(
        "<h1>Query {id}</h1><dl id=\"summary\" data-state=\"{state}\">\
         <dt>State</dt><dd id=\"state\">{state_cell}</dd><dt>User</dt><dd>{user}</dd>\
         <dt>Database</dt><dd>{db}</dd><dt>Session</dt><dd>{pid}</dd>\
         <dt>Started</dt><dd>{start}</dd><dt>Duration</dt><dd>{duration}</dd>\
         <dt>Rows</dt><dd>{rows}</dd><dt>Job</dt><dd id=\"job\">{job}</dd>",
        id = record.id,
        state = record.state,
        state_cell = state_cell(record.state),
        user = escape(&record.user),
        db = escape(&record.database),
        pid = record.pid,
        start = time(record.started),
        duration = duration(record.duration_ms()),
        rows = record.rows.map(|n| n.to_string()).unwrap_or_default(),
        job = escape(
            record
                .job_id
                .as_deref()
                .unwrap_or("none: run in the server")
        ),
    );
    if let Some(error) = &record.error {
        let _ = write!(
            body,
            "<dt>Error</dt><dd id=\"error\">{} ({})</dd>",
            escape(error),
            record.sqlstate.unwrap_or("")
        );
    }
    body.push_str("</dl>");
    if may_cancel && record.state == "running" {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/queries/{}/cancel\">\
             <button id=\"cancel\" type=\"submit\">Cancel</button></form>",
            record.id
        );
    }
    let _ = write!(
        body,
        "<h2>Statement</h2><pre id=\"sql\">{}</pre>",
        escape(&record.query)
    );
    match job {
        None => {}
        Some(Err(e)) => {
            let _ = write!(
                body,
                "<h2>Stages</h2><p id=\"stages-unavailable\">The scheduler cannot say: {}</p>",
                escape(&e)
            );
        }
        Some(Ok((job, summaries))) => {
            let mut stages: Vec<StageView> = summaries.iter().map(StageView::of).collect();
            stages.sort_by_key(|s| s.id);
            let done = stages.iter().filter(|s| s.progress() >= 1.0).count();
            let _ = write!(
                body,
                "<h2>Stages</h2><p id=\"job-progress\" data-stages=\"{n}\" \
                 data-stages-done=\"{done}\">{status}{done} of {n} stages done</p>{graph}",
                n = stages.len(),
                status = job
                    .map(|j| format!("Job {}: ", escape(&j.status)))
                    .unwrap_or_default(),
                graph = stage_graph(&stages),
            );
            body.push_str(
                "<table id=\"stages\"><thead><tr><th>Stage</th><th>Status</th>\
                 <th>Progress</th><th>Tasks</th><th>Input rows</th><th>Output rows</th>\
                 <th>Compute time</th><th>Task time (median/max)</th><th>Spills</th>\
                 </tr></thead><tbody>",
            );
            for stage in &stages {
                let s = stage.summary;
                let task_time = s
                    .task_duration_percentiles
                    .as_ref()
                    .map(|p| format!("{} / {}", duration(p.median as f64), duration(p.max as f64)))
                    .unwrap_or_default();
                let _ = write!(
                    body,
                    "<tr class=\"stage-row\" data-stage-id=\"{id}\"><td>{id}</td>\
                     <td>{status}</td><td><progress value=\"{done}\" max=\"{total}\">\
                     </progress></td><td class=\"num\">{done}/{total}</td>\
                     <td class=\"num\">{input}</td><td class=\"num\">{output}</td>\
                     <td>{compute}</td><td>{task_time}</td><td class=\"num\">{spills}</td></tr>",
                    id = stage.id,
                    status = escape(&s.stage_status),
                    done = stage.done,
                    total = stage.total,
                    input = s.input_rows,
                    output = s.output_rows,
                    compute = escape(s.elapsed_compute.as_deref().unwrap_or("")),
                    spills = stage.spills,
                );
            }
            body.push_str("</tbody></table>");
            for stage in &stages {
                if let Some(plan) = &stage.summary.stage_plan {
                    let _ = write!(
                        body,
                        "<details><summary>Stage {} plan with metrics</summary>\
                         <pre>{}</pre></details>",
                        stage.id,
                        escape(plan)
                    );
                }
            }
        }
    }
    page(
        &format!("Query {}", record.id),
        user,
        &body,
        record.state == "running",
    )
}

/// The scheduler, its health and its executors.
pub fn cluster_page(
    user: &str,
    scheduler: &str,
    health: ClusterHealth,
    executors: Result<Vec<ExecutorInfo>, String>,
    sessions: usize,
) -> String {
    let health_text = match health {
        ClusterHealth::Ready => "ready".to_owned(),
        ClusterHealth::NoExecutors(since) => {
            format!("no executor for {} s", since.elapsed().as_secs())
        }
        ClusterHealth::Unreachable(since) => {
            format!("scheduler unreachable for {} s", since.elapsed().as_secs())
        }
    };
    let mut body = format!(
        "<h1>Cluster</h1><dl><dt>Scheduler</dt><dd>{}</dd><dt>Health</dt>\
         <dd id=\"health\">{}</dd><dt>Sessions</dt><dd>{sessions}</dd></dl>",
        escape(scheduler),
        escape(&health_text),
    );
    match executors {
        Err(e) => {
            let _ = write!(
                body,
                "<p id=\"executors-unavailable\">The scheduler cannot say: {}</p>",
                escape(&e)
            );
        }
        Ok(executors) => {
            let slots: u32 = executors.iter().map(|e| e.specification.vcores).sum();
            let _ = write!(
                body,
                "<h2>Executors ({n}, {slots} slots)</h2><table id=\"executors\"><thead><tr>\
                 <th>Executor</th><th>Host</th><th>Flight port</th><th>Slots</th>\
                 <th>Memory</th><th>Peak memory</th><th>Last heartbeat</th>\
                 </tr></thead><tbody>",
                n = executors.len(),
            );
            let now = Utc::now().timestamp_millis();
            for e in &executors {
                let mib = |bytes: Option<u64>| {
                    bytes
                        .map(|b| format!("{} MiB", b / (1024 * 1024)))
                        .unwrap_or_default()
                };
                let seen = e
                    .last_seen
                    .and_then(|ms| i64::try_from(ms).ok())
                    .map(|ms| format!("{:.1} s ago", (now - ms).max(0) as f64 / 1000.0))
                    .unwrap_or_default();
                let _ = write!(
                    body,
                    "<tr class=\"executor\" data-executor-id=\"{id}\"><td>{id}</td>\
                     <td>{host}</td><td class=\"num\">{port}</td><td class=\"num\">{slots}</td>\
                     <td class=\"num\">{memory}</td><td class=\"num\">{peak}</td><td>{seen}</td></tr>",
                    id = escape(&e.id),
                    host = escape(&e.host),
                    port = e.port,
                    slots = e.specification.vcores,
                    memory = mib(e.memory("proc_physical_memory")),
                    peak = mib(e.memory("peak_physical_memory")),
                );
            }
            body.push_str("</tbody></table>");
        }
    }
    page("Cluster", user, &body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn stages_are_linked_by_the_shuffles_they_read() {
        let plan = "ShuffleWriterExec: partitioning: None\n  \
                    SortMergeJoinExec\n    ShuffleReaderExec: upstream_stage: 1, partitioning: x\n    \
                    UnresolvedShuffleExec: stage=3, partitioning: y\n";
        assert_eq!(upstream_stages(plan), vec![3, 1]);
        assert_eq!(
            metric_sum(
                "Sort metrics=[spill_count=2, x] Agg metrics=[spill_count=3]",
                "spill_count="
            ),
            5
        );
    }
}
