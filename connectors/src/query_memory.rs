//! A query's memory limit on each node that runs it
//! (`strata.query_memory_limit`).
//!
//! Each task already has its own pool (on an executor, Ballista's share of
//! the executor's memory per slot). A session that sets a limit gets one
//! budget per query on each executor, shared by all the query's tasks
//! running there, and one for a query the server runs itself: every
//! reservation is charged to the task's pool and to the budget. The budget
//! shares itself out as DataFusion's `FairSpillPool` does: what cannot
//! spill takes what it needs while any is left, and each consumer that can
//! spill gets an equal part of the rest, so a sort or aggregation spills
//! before it starves the merge that follows. What cannot be covered is
//! refused as a pool refuses it: operators that can spill do, the others
//! fail with ResourcesExhausted (SQLSTATE 53200) naming the limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::options::{ByteCount, StrataOptions};
use ballista_core::JobId;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

/// The limit a job's configuration sets, if any.
pub fn limit_of(config: &SessionConfig) -> Option<u64> {
    config
        .options()
        .extensions
        .get::<StrataOptions>()
        .map(|options| options.query_memory_limit.0)
        .filter(|&limit| limit > 0)
}

/// What one query may take on one node.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    held: Mutex<Held>,
}

/// What a query's consumers hold.
#[derive(Debug, Default)]
struct Held {
    /// Consumers that can spill.
    spillers: usize,
    spillable: usize,
    unspillable: usize,
}

impl Budget {
    /// A budget of `limit` bytes, none of it used.
    pub fn new(limit: u64) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            held: Mutex::new(Held::default()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Charges `additional` bytes for `reservation`, or says why not.
    fn try_charge(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let mut held = self.held();
        let (total, available) = if reservation.consumer().can_spill() {
            let for_spillers = self.limit.saturating_sub(held.unspillable);
            let share = for_spillers
                .checked_div(held.spillers)
                .unwrap_or(for_spillers);
            (reservation.size().saturating_add(additional), share)
        } else {
            let free = self.limit.saturating_sub(held.unspillable + held.spillable);
            (additional, free)
        };
        if total > available {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the query's memory limit (strata.query_memory_limit = {}) is reached: {} held \
                 on this node, {} more asked for by {}",
                ByteCount(self.limit as u64),
                ByteCount((held.spillable + held.unspillable) as u64),
                ByteCount(additional as u64),
                reservation.consumer().name(),
            )));
        }
        held.charge(reservation, additional);
        Ok(())
    }
}

impl Held {
    fn charge(&mut self, reservation: &MemoryReservation, bytes: usize) {
        match reservation.consumer().can_spill() {
            true => self.spillable += bytes,
            false => self.unspillable += bytes,
        }
    }

    fn release(&mut self, reservation: &MemoryReservation, bytes: usize) {
        match reservation.consumer().can_spill() {
            true => self.spillable = self.spillable.saturating_sub(bytes),
            false => self.unspillable = self.unspillable.saturating_sub(bytes),
        }
    }
}

/// The budgets of the queries running on this executor, by job id; a budget
/// lives while a task of its query holds it.
#[derive(Debug, Default)]
pub struct Budgets {
    jobs: Mutex<HashMap<JobId, Weak<Budget>>>,
}

impl Budgets {
    /// The budget of `job_id`, made with `limit` by its first task here.
    pub fn for_job(&self, job_id: &JobId, limit: u64) -> Arc<Budget> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.retain(|_, budget| budget.strong_count() > 0);
        if let Some(budget) = jobs.get(job_id).and_then(Weak::upgrade) {
            return budget;
        }
        let budget = Arc::new(Budget::new(limit));
        jobs.insert(job_id.clone(), Arc::downgrade(&budget));
        budget
    }
}

/// `context` with its memory pool also charging `budget`.
pub fn within(context: &TaskContext, budget: &Arc<Budget>) -> Result<Arc<TaskContext>> {
    let runtime = context.runtime_env();
    let pool: Arc<dyn MemoryPool> = Arc::new(BudgetedPool {
        inner: Arc::clone(&runtime.memory_pool),
        budget: Arc::clone(budget),
    });
    let runtime = RuntimeEnvBuilder::from_runtime_env(&runtime)
        .with_memory_pool(pool)
        .build_arc()?;
    Ok(Arc::new(TaskContext::new(
        context.task_id(),
        context.session_id(),
        context.session_config().clone(),
        context.scalar_functions().clone(),
        context.higher_order_functions().clone(),
        context.aggregate_functions().clone(),
        context.window_functions().clone(),
        runtime,
    )))
}

/// A task's pool that charges its query's budget too.
#[derive(Debug)]
struct BudgetedPool {
    inner: Arc<dyn MemoryPool>,
    budget: Arc<Budget>,
}

impl std::fmt::Display for BudgetedPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} within a query limit of {}",
            self.inner,
            ByteCount(self.budget.limit as u64)
        )
    }
}

impl MemoryPool for BudgetedPool {
    fn name(&self) -> &str {
        "query-budgeted"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer);
        if consumer.can_spill() {
            self.budget.held().spillers += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer);
        if consumer.can_spill() {
            let mut held = self.budget.held();
            held.spillers = held.spillers.saturating_sub(1);
        }
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional);
        self.budget.held().charge(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
        self.budget.held().release(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.budget.try_charge(reservation, additional)?;
        if let Err(e) = self.inner.try_grow(reservation, additional) {
            self.budget.held().release(reservation, additional);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        match self.inner.memory_limit() {
            MemoryLimit::Finite(inner) => MemoryLimit::Finite(inner.min(self.budget.limit)),
            MemoryLimit::Infinite | MemoryLimit::Unknown => MemoryLimit::Finite(self.budget.limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    use super::*;

    #[test]
    fn the_tasks_of_a_query_share_its_budget() {
        let budgets = Budgets::default();
        let job = JobId::new("job");
        let budget = budgets.for_job(&job, 1000);
        assert!(Arc::ptr_eq(&budget, &budgets.for_job(&job, 1000)));
        let pool = |budget: &Arc<Budget>| -> Arc<dyn MemoryPool> {
            Arc::new(BudgetedPool {
                inner: Arc::new(GreedyMemoryPool::new(10_000)),
                budget: Arc::clone(budget),
            })
        };
        let (first, second) = (pool(&budget), pool(&budget));
        let a = MemoryConsumer::new("a").register(&first);
        let b = MemoryConsumer::new("b").register(&second);
        a.try_grow(600).expect("within the budget");
        let refused = b.try_grow(600).expect_err("over the query's budget");
        assert!(matches!(refused, DataFusionError::ResourcesExhausted(_)));
        assert!(
            refused
                .to_string()
                .contains("strata.query_memory_limit = 1000")
        );
        b.try_grow(400).expect("the rest of the budget");
        drop(a);
        b.try_grow(600).expect("freed by the other task");
        // Another query has its own budget.
        let other = pool(&budgets.for_job(&JobId::new("other"), 1000));
        MemoryConsumer::new("c")
            .register(&other)
            .try_grow(900)
            .expect("another query's budget");
    }

    #[test]
    fn spilling_consumers_leave_room_for_those_that_cannot() {
        let budget = Arc::new(Budget::new(1000));
        let pool: Arc<dyn MemoryPool> = Arc::new(BudgetedPool {
            inner: Arc::new(GreedyMemoryPool::new(10_000)),
            budget: Arc::clone(&budget),
        });
        let merge = MemoryConsumer::new("merge").register(&pool);
        merge.try_grow(300).expect("what cannot spill comes first");
        let sorter = MemoryConsumer::new("sorter")
            .with_can_spill(true)
            .register(&pool);
        sorter.try_grow(700).expect("the rest");
        sorter.try_grow(1).expect_err("more than the rest: spill");
        // Two spillers share what is left.
        let other = MemoryConsumer::new("other sorter")
            .with_can_spill(true)
            .register(&pool);
        other.try_grow(351).expect_err("more than half of the rest");
        sorter.shrink(700);
        other.try_grow(350).expect("half of the rest");
        // Freed by the merge, the spillers' memory is the merge's again.
        merge.free();
        let again = MemoryConsumer::new("merge again").register(&pool);
        again.try_grow(650).expect("all but what the spiller holds");
    }
}
