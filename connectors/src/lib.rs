//! Everything that must be identical on every Strata node: the session state
//! (configuration, functions, object stores) and the Ballista codecs that carry
//! plans between the server, the scheduler and the executors.
//!
//! A plan is planned on the server, serialised by the logical codec, planned
//! physically on the scheduler and executed on executors; each of them builds
//! its `SessionState` through [`session::session_state`], so a function or a
//! table format known to one is known to all.

pub mod codec;
pub mod format;
pub mod gateway;
pub mod lake;
pub mod membership;
pub mod node;
pub mod options;
pub mod postgres;
pub mod query_memory;
pub mod session;
pub mod sqlstate;
