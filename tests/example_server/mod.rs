//! Runs an example server's handlers (from the netloop-http and
//! netloop-examples crates) on a reactor thread, with shared state of any type, for the example
//! tests. Ends like the harness's `Server::finish`: no connection left,
//! exactly one `on_close` for each recorded connection, and the counters
//! agree that every connection was closed once.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use netloop::{CloseReason, ConnectErrorKind, MetricsSnapshot, Reactor, ReactorHandle};

use crate::common::{Log, PATIENCE, wait_until};

/// A reactor with state `S` running on its own thread.
pub struct Running<S: 'static> {
    pub addr: SocketAddr,
    pub handle: ReactorHandle<S>,
    pub log: Log,
    thread: Option<JoinHandle<MetricsSnapshot>>,
}

/// Starts a reactor with `state()`; `setup` listens (wrapping handlers in
/// `Recorder`s with the given log) and returns the address to use.
pub fn start<S, M, F>(state: M, setup: F) -> Running<S>
where
    S: 'static,
    M: FnOnce() -> S + Send + 'static,
    F: FnOnce(&mut Reactor<S>, Log) -> SocketAddr + Send + 'static,
{
    let log = Log::default();
    let thread_log = log.clone();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = Reactor::with_state(state()).expect("reactor");
        let addr = setup(&mut reactor, thread_log);
        tx.send((addr, reactor.handle()))
            .expect("test thread waits");
        reactor.run().expect("reactor run")
    });
    let (addr, handle) = rx.recv().expect("reactor started");
    Running {
        addr,
        handle,
        log,
        thread: Some(thread),
    }
}

impl<S: 'static> Running<S> {
    /// Runs `f` on the reactor's state (on the loop thread) and returns its result.
    pub fn query<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut netloop::ReactorCtx<'_, S>) -> T + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.handle
            .post(move |rc| {
                let _ = tx.send(f(rc));
            })
            .expect("reactor running");
        rx.recv_timeout(PATIENCE).expect("reactor answers")
    }

    /// Waits until the reactor holds no connections (all `on_close`s ran).
    pub fn wait_no_conns(&self) {
        let handle = self.handle.clone();
        wait_until("the reactor holds no connections", || {
            handle.metrics().open == 0
        });
    }

    /// Waits until the callback log satisfies `cond`.
    pub fn wait_log(&self, what: &str, cond: impl Fn(&Log) -> bool) {
        wait_until(what, || cond(&self.log));
    }

    /// The reactor's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.handle.metrics()
    }

    /// Waits until no connection is left, stops the reactor and checks
    /// that every connection was closed exactly once.
    pub fn finish(mut self) -> MetricsSnapshot {
        self.wait_no_conns();
        let _ = self.handle.stop();
        let m = self
            .thread
            .take()
            .expect("running")
            .join()
            .expect("reactor thread panicked");
        assert_eq!(m.open, 0, "connections left open: {m:?}");
        self.log.assert_one_close_each();
        let failed_connects = m.closed_with(CloseReason::ConnectFailed(ConnectErrorKind::Refused));
        assert_eq!(
            m.closed_total(),
            m.accepted + m.connected + failed_connects,
            "every connection closed exactly once: {m:?}"
        );
        m
    }
}

impl<S: 'static> Drop for Running<S> {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.handle.stop();
            let _ = t.join();
        }
    }
}
