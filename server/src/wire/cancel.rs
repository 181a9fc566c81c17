//! Stopping the statement a connection runs: on a cancel request (a client
//! opens a second connection carrying the process id and secret key it got at
//! startup) or when the client goes away mid-statement.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The token of the statement a connection is running, and the
/// connection's own, which `pg_terminate_backend` cancels.
#[derive(Debug, Default)]
pub struct CancelSlot {
    current: Mutex<Option<CancellationToken>>,
    terminated: CancellationToken,
}

impl CancelSlot {
    /// A fresh token for the statement about to run; terminating the
    /// connection cancels it too.
    pub fn begin(&self) -> CancellationToken {
        let token = self.terminated.child_token();
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        token
    }

    /// Cancelled when the connection is to end.
    pub fn terminated(&self) -> CancellationToken {
        self.terminated.clone()
    }

    /// Ends the connection: its running statement fails with FATAL 57P01
    /// and the connection closes.
    pub(crate) fn terminate(&self) {
        self.terminated.cancel();
    }

    pub(crate) fn cancel(&self) {
        if let Some(token) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            token.cancel();
        }
    }
}

/// The live connections, by process id.
#[derive(Debug)]
pub struct CancelRegistry {
    next_pid: AtomicI32,
    connections: Mutex<HashMap<i32, (i32, Weak<CancelSlot>)>>,
}

impl Default for CancelRegistry {
    fn default() -> Self {
        Self {
            next_pid: AtomicI32::new(10_000),
            connections: Mutex::new(HashMap::new()),
        }
    }
}

impl CancelRegistry {
    /// A new process id and secret key.
    pub fn allocate(&self) -> (i32, i32) {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let secret = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        (pid, secret)
    }

    /// Registers a connection until the returned registration is dropped.
    pub fn register(
        self: &Arc<Self>,
        pid: i32,
        secret: i32,
        slot: Arc<CancelSlot>,
    ) -> Registration {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid, (secret, Arc::downgrade(&slot)));
        Registration {
            registry: Arc::downgrade(self),
            pid,
        }
    }

    fn cancel(&self, pid: i32, secret: &SecretKey) {
        let slot = {
            let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
            match connections.get(&pid) {
                // A 4-byte key may arrive decoded as bytes or as an integer.
                Some((expected, slot)) if secret.as_i32() == Some(*expected) => slot.upgrade(),
                _ => None,
            }
        };
        match slot {
            Some(slot) => {
                tracing::info!(pid, "cancel request");
                slot.cancel();
            }
            // PostgreSQL ignores unknown or mismatched keys silently.
            None => tracing::debug!(pid, "cancel request for no known connection"),
        }
    }
}

#[async_trait]
impl CancelHandler for CancelRegistry {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.cancel(request.pid, &request.secret_key);
    }
}

/// Removes a connection from the registry when dropped.
#[derive(Debug)]
pub struct Registration {
    registry: Weak<CancelRegistry>,
    pid: i32,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            registry
                .connections
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&self.pid);
        }
    }
}

/// Starts watching `socket` for the client going away, which cancels the
/// statement running in `slot`; the protocol handler, busy with the
/// statement, would only notice when it next writes. Returns the socket to
/// serve, the watcher, to be aborted when the connection ends, and the raw
/// socket, for a message sent outside the protocol handler's turn.
pub fn watch_peer(
    socket: TcpStream,
    slot: Weak<CancelSlot>,
) -> std::io::Result<(TcpStream, JoinHandle<()>, std::net::TcpStream)> {
    let socket = socket.into_std()?;
    let watched = TcpStream::from_std(socket.try_clone()?)?;
    let raw = socket.try_clone()?;
    let socket = TcpStream::from_std(socket)?;
    Ok((socket, tokio::spawn(watch(watched, slot)), raw))
}

async fn watch(socket: TcpStream, slot: Weak<CancelSlot>) {
    loop {
        // The peer closing shows as read-closed readiness even while
        // messages it sent (a Sync after an Execute) wait unread.
        let closed = match socket.ready(Interest::READABLE).await {
            Ok(ready) => ready.is_read_closed(),
            Err(_) => true,
        };
        if closed {
            if let Some(slot) = slot.upgrade() {
                tracing::debug!("the client went away; stopping its statement");
                slot.cancel();
            }
            return;
        }
        // Readable with data for the protocol handler. This registration's
        // readiness stays set, so look again in a moment rather than spin.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
