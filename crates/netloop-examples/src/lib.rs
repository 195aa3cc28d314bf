//! The servers of netloop's `proxy` and `chat` examples, as a library:
//! the examples (`examples/proxy.rs`, `examples/chat.rs`) read their
//! command line and run a reactor with these handlers, and the tests
//! (`tests/proxy_*.rs`, `tests/chat.rs`) run the same handlers in process,
//! wrapped in the test harness's recorder, to check their callbacks and
//! their state. Not published.
//!
//! - [`proxy`]: a TCP proxy with end-to-end backpressure and half-close
//!   passed through;
//! - [`chat`]: a line-based chat room that waits for slow readers and
//!   drops stalled ones.
//!
//! ```no_run
//! use netloop::Reactor;
//! use netloop_examples::proxy::{self, Config, Stats};
//!
//! let mut reactor = Reactor::with_state(Stats::default())?;
//! let upstream = "127.0.0.1:8080".parse().unwrap();
//! proxy::serve(&mut reactor, "127.0.0.1:9000".parse().unwrap(), Config::new(upstream))?;
//! reactor.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs)]

pub mod chat;
pub mod proxy;
