//! A reactor driven from the test thread with `Reactor::turn`, for tests
//! that must control exactly when the loop runs (a peer reset before
//! accept, a send onto a socket that was reset between two turns, ...).

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use netloop::{Handler, ListenOptions, Reactor};

use super::{Log, PATIENCE, Recorder};

/// A reactor and its listener, both owned by the test thread.
pub struct Inline {
    pub reactor: Reactor,
    pub addr: SocketAddr,
    pub log: Log,
}

impl Inline {
    /// Listens on 127.0.0.1 (port 0); accepted connections get recorded
    /// `make()` handlers.
    pub fn new<H, F>(opts: ListenOptions, make: F) -> Inline
    where
        H: Handler,
        F: Fn() -> H + 'static,
    {
        let log = Log::default();
        let thread_log = log.clone();
        let mut reactor = Reactor::new().expect("reactor");
        let listener = reactor
            .listen("127.0.0.1:0".parse().unwrap(), opts, move || {
                Recorder::new(make(), thread_log.clone())
            })
            .expect("listen");
        let addr = reactor.listener_addr(listener).expect("listener address");
        Inline { reactor, addr, log }
    }

    /// A blocking client (the kernel completes the handshake without the
    /// reactor turning).
    pub fn client(&self) -> TcpStream {
        super::client(self.addr)
    }

    /// One turn, waiting at most a millisecond for events.
    pub fn turn(&mut self) {
        self.reactor
            .turn(Some(Duration::from_millis(1)))
            .expect("turn");
    }

    /// Turns until `cond` holds, failing after [`PATIENCE`].
    pub fn turn_until(&mut self, what: &str, mut cond: impl FnMut(&mut Reactor, &Log) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !cond(&mut self.reactor, &self.log) {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            self.turn();
        }
    }

    /// Turns until the reactor holds no connections, then checks that each
    /// connection got exactly one `on_close`, last.
    pub fn finish(mut self) {
        self.turn_until("the reactor holds no connections", |r, _| {
            r.conn_count() == 0
        });
        self.log.assert_one_close_each();
    }
}
