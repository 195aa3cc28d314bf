//! Talking to a reactor from other threads.
//!
//! A [`ReactorHandle`] posts closures to a queue that the loop drains at the
//! start of its next turn, in posting order. One `mio::Waker` per reactor
//! wakes the poll; a flag makes many posts between two turns cost a single
//! wake-up (one `eventfd` write). Once the reactor has stopped, posting
//! returns [`Error::Stopped`] instead of queueing work that would never run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::reactor::ctx::ReactorCtx;
use crate::reactor::token::ConnId;

/// Work posted to the loop.
pub(crate) type Task<S> = Box<dyn for<'a> FnOnce(&mut ReactorCtx<'a, S>) + Send>;

struct Queue<S> {
    tasks: Vec<Task<S>>,
    closed: bool,
}

/// What a reactor shares with its handles.
pub(crate) struct Shared<S> {
    queue: Mutex<Queue<S>>,
    waker: mio::Waker,
    /// A wake-up is on its way: further posts need not write the eventfd.
    wake_pending: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
    index: u8,
}

impl<S> Shared<S> {
    pub(crate) fn new(waker: mio::Waker, metrics: Arc<Metrics>, index: u8) -> Self {
        Shared {
            queue: Mutex::new(Queue {
                tasks: Vec::new(),
                closed: false,
            }),
            waker,
            wake_pending: AtomicBool::new(false),
            metrics,
            index,
        }
    }

    /// Takes the posted tasks, in order. The flag is cleared first, so a
    /// post that lands after the swap wakes the loop again.
    pub(crate) fn take_tasks(&self, into: &mut Vec<Task<S>>) {
        self.wake_pending.store(false, Ordering::SeqCst);
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut q.tasks, into);
    }

    /// Refuses further posts and returns what was still queued.
    pub(crate) fn close(&self) -> Vec<Task<S>> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.closed = true;
        std::mem::take(&mut q.tasks)
    }

    fn post(&self, task: Task<S>) -> Result<()> {
        {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.closed {
                return Err(Error::Stopped);
            }
            q.tasks.push(task);
        }
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            self.waker.wake().map_err(Error::Io)?;
        }
        Ok(())
    }
}

/// A `Send + Sync + Clone` handle to a reactor running on another thread.
///
/// ```
/// use std::time::Duration;
/// let mut reactor = netloop::Reactor::new().unwrap();
/// let handle = reactor.handle();
/// let t = std::thread::spawn(move || {
///     handle.post(|rc| rc.stop()).unwrap();
/// });
/// reactor.run().unwrap();
/// t.join().unwrap();
/// ```
pub struct ReactorHandle<S = ()> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for ReactorHandle<S> {
    fn clone(&self) -> Self {
        ReactorHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S: 'static> ReactorHandle<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> Self {
        ReactorHandle { shared }
    }

    /// The index of the reactor (as carried by its [`ConnId`]s).
    pub fn reactor_index(&self) -> usize {
        self.shared.index as usize
    }

    /// Runs `f` on the loop thread at its next turn. Closures run in the
    /// order they were posted.
    pub fn post<F>(&self, f: F) -> Result<()>
    where
        F: for<'a> FnOnce(&mut ReactorCtx<'a, S>) + Send + 'static,
    {
        self.shared.post(Box::new(f))
    }

    /// Sends bytes to a connection (queued behind earlier sends; an
    /// unknown or closed id is logged and dropped on the loop).
    pub fn send(&self, id: ConnId, data: Bytes) -> Result<()> {
        self.post(move |rc| {
            if let Err(e) = rc.conn(id).send_bytes(data) {
                log::debug!("handle send to {id}: {e}");
            }
        })
    }

    /// Closes a connection gracefully.
    pub fn close(&self, id: ConnId) -> Result<()> {
        self.post(move |rc| {
            let _ = rc.conn(id).close();
        })
    }

    /// Aborts a connection (RST).
    pub fn abort(&self, id: ConnId) -> Result<()> {
        self.post(move |rc| {
            let _ = rc.conn(id).abort();
        })
    }

    /// Stops the reactor: `run()` returns after aborting what is open.
    pub fn stop(&self) -> Result<()> {
        self.post(|rc| rc.stop())
    }

    /// Starts a graceful shutdown with the given grace period.
    pub fn shutdown(&self, grace: Duration) -> Result<()> {
        self.post(move |rc| rc.shutdown(grace))
    }

    /// The reactor's counters, read without stopping the loop.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Whether the reactor has stopped (posts would fail).
    pub fn is_stopped(&self) -> bool {
        self.shared.queue.lock().map(|q| q.closed).unwrap_or(true)
    }
}
