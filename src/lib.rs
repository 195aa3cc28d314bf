//! netloop: a single-threaded, mio-based TCP reactor.
//!
//! One thread, one `epoll`, one hand-written loop: listeners and
//! connections live in a slab, each connection buffers what the kernel will
//! not take yet (with water marks and a hard cap), and one [`Handler`] per
//! connection gets a callback for every TCP event: read, EOF, half-close,
//! lingering close, keepalive failure, water marks and the final close.
//! Unix domain stream sockets ([`Reactor::listen_unix`],
//! [`Reactor::connect_unix`]) get the same handlers and callbacks.
//!
//! ```no_run
//! use bytes::BytesMut;
//! use netloop::{Ctx, Handler, ListenOptions, Reactor};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
//!         if ctx.send(input).is_ok() {
//!             input.clear();
//!         }
//!     }
//! }
//!
//! let mut reactor = Reactor::new()?;
//! reactor.listen("127.0.0.1:7000".parse().unwrap(), ListenOptions::default(), || Echo)?;
//! reactor.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! To use many cores, [`ServerBuilder`] runs one reactor per core, each on
//! its own thread with its own `SO_REUSEPORT` listener on the same address;
//! other threads reach a reactor through a [`ReactorHandle`] or, routed by
//! connection id, a [`ServerHandle`]:
//!
//! ```
//! use std::io::Read;
//! use std::time::{Duration, Instant};
//! use netloop::bytes::BytesMut;
//! use netloop::{Ctx, Handler, ServerBuilder};
//!
//! /// Ignores what clients send; the server pushes notices to them.
//! struct Subscriber;
//!
//! impl Handler for Subscriber {
//!     fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
//!         input.clear();
//!     }
//!
//!     fn on_shutdown(&mut self, ctx: &mut Ctx<'_>) {
//!         let _ = ctx.send(b"bye\n");
//!         ctx.close(); // flush, then FIN: done long before the deadline
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let server = ServerBuilder::new("127.0.0.1:0".parse()?)
//!         .threads(2) // default: one reactor per core
//!         .start(|| Subscriber)?;
//!     let mut client = std::net::TcpStream::connect(server.local_addr())?;
//!     let waiting = Instant::now();
//!     while server.metrics().total.open < 1 && waiting.elapsed() < Duration::from_secs(10) {
//!         std::thread::sleep(Duration::from_millis(1));
//!     }
//!
//!     // From any thread: a closure runs on every reactor, on its own loop.
//!     server.post_all(|rc| {
//!         let ids: Vec<_> = rc.conn_ids().collect();
//!         for id in ids {
//!             let _ = rc.conn(id).send(b"news\n");
//!         }
//!     })?;
//!
//!     // Graceful shutdown: listeners close now, handlers get on_shutdown,
//!     // and whatever is still open after 5 s is closed (nothing queued) or reset.
//!     server.shutdown(Duration::from_secs(5))?;
//!     let summary = server.join()?; // each reactor's run() summary, and the sum
//!     let mut got = String::new();
//!     client.read_to_string(&mut got)?;
//!     assert_eq!(got, "news\nbye\n");
//!     assert_eq!(summary.reactors.len(), 2);
//!     assert_eq!(summary.total.accepted, 1);
//!     Ok(())
//! }
//! ```
//!
//! Guarantees and non-guarantees: [`guarantees`].

#![warn(missing_docs)]

// Linux only: the send path relies on `MSG_NOSIGNAL`, the liveness code on
// `SIOCOUTQ` and `TCP_INFO`, pinning on `sched_setaffinity`.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "netloop supports Linux only (it relies on MSG_NOSIGNAL, SIOCOUTQ, TCP_INFO and sched_setaffinity)"
);

/// The connection in `slot` of a core, borrowing only the slab (so other
/// fields of the core stay usable while the connection is held).
macro_rules! conn_at {
    ($core:expr, $slot:expr) => {
        match $core.entries.get_mut($slot) {
            Some($crate::reactor::core::Entry::Conn(c)) => Some(c),
            _ => None,
        }
    };
}

/// Listening sockets that outlive a process: socket activation and zero-downtime restart.
pub mod activation;
mod conn;
mod error;
/// What netloop promises, each promise with the test that checks it, and what it does not.
pub mod guarantees;
mod metrics;
mod reactor;
mod server;
mod sys;
mod timer;
#[cfg(feature = "tls")]
pub mod tls;
mod token;
mod unix;

pub use bytes;
pub use conn::ConnStats;
pub use conn::close::{CloseReason, LingerOutcome, TlsAlert, TlsFailure};
pub use conn::connect::{Backoff, ConnectError, ConnectErrorKind, ConnectOptions};
pub use conn::options::{ConnOptions, DEFAULT_LINGER, Keepalive, OnOverflow};
pub use conn::state::ConnState;
pub use error::{Error, Result};
pub use metrics::MetricsSnapshot;
/// The mio this crate is built on: [`Interest`](mio::Interest) and the
/// sources [`ReactorCtx::register_source`] takes.
pub use mio;
pub use reactor::Reactor;
pub use reactor::ctx::{ConnRef, Conns, Ctx, ReactorCtx};
pub use reactor::handle::ReactorHandle;
pub use reactor::handler::{self, Discard, Echo, Handler, Verdict};
pub use reactor::listener::ListenOptions;
pub use reactor::source::{Readiness, SourceId};
pub use server::{MAX_REACTORS, ServerBuilder, ServerHandle, ServerSummary};
pub use sys::{PeerCred, TcpInfo};
pub use timer::TimerId;
pub use token::{ConnId, ListenerId};
pub use unix::UnixAddr;

/// Internals exposed for the fuzz targets and their stable harnesses only:
/// not part of the API, and free to change in any release.
#[doc(hidden)]
pub mod internals {
    pub use crate::conn::send_buf::SendBuf;
}

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
