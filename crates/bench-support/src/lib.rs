//! netloop's benchmark code, shared by the criterion benches
//! (`benches/echo.rs`), the bench programs under `benches/servers/` and the
//! load generator `examples/pingpong.rs`: the three echo servers compared
//! side by side ([`netloop_echo`], [`tokio_echo`], [`mio_echo`]), the
//! netloop load generator ([`loadgen`]), a latency histogram
//! ([`histogram`]) and readers of `/proc` ([`procfs`]). Not published.
//!
//! Every contender gets identical settings: a listener from [`listener`]
//! (or netloop's `ListenOptions::default()`, which sets the same options):
//! `SO_REUSEADDR`, `TCP_NODELAY` (inherited by accepted sockets), backlog
//! 4096; and reads of up to 64 KiB ([`READ_BUF`]). netloop and the bare mio
//! loop read into one buffer of that size per server thread, shared by all
//! connections; tokio, written the idiomatic way, gives each connection's
//! task its own buffer of that size, allocated when the connection is
//! accepted (not zeroed). What the kernel does not take at once, netloop
//! and mio keep per connection; a tokio task keeps it in its buffer and
//! waits in `write_all`.

#![warn(missing_docs)]

pub mod histogram;
pub mod loadgen;
pub mod mio_echo;
pub mod netloop_echo;
pub mod procfs;
pub mod tokio_echo;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use socket2::{Domain, Protocol, Socket, Type};

/// Read buffer size of every contender: the mio loop's shared buffer, each
/// tokio task's buffer (netloop's shared scratch buffer is this size too).
pub const READ_BUF: usize = 64 * 1024;

/// A listening socket with the settings every contender shares.
pub fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// The contenders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    /// netloop's `Echo` handler on a `Reactor`, default options.
    Netloop,
    /// tokio, current_thread runtime, a task per connection, each with its
    /// own 64 KiB buffer (allocated, not zeroed, when the task starts).
    Tokio,
    /// A bare hand-written mio loop: the floor.
    Mio,
}

impl Contender {
    /// Every contender, in the order the benches run them.
    pub const ALL: [Contender; 3] = [Contender::Netloop, Contender::Tokio, Contender::Mio];

    /// The contender's name in bench ids and output.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Netloop => "netloop",
            Contender::Tokio => "tokio",
            Contender::Mio => "mio",
        }
    }

    /// Starts this contender's echo server on a thread of this process.
    pub fn spawn(self) -> io::Result<Running> {
        match self {
            Contender::Netloop => netloop_echo::spawn(),
            Contender::Tokio => tokio_echo::spawn(Some(READ_BUF)),
            Contender::Mio => mio_echo::spawn(),
        }
    }
}

/// An echo server running on its own thread; stopped when dropped.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() + Send>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// A server on `thread`, listening on `addr`; `stop` makes the thread
    /// end (dropping the value calls it, then joins the thread).
    pub fn new(addr: SocketAddr, stop: Box<dyn FnOnce() + Send>, thread: JoinHandle<()>) -> Self {
        Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `--name value` command-line options (no dependency for the bench programs).
pub struct Args(Vec<String>);

impl Args {
    /// The program's arguments.
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }

    /// Whether the flag `--name` is present.
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    /// The value after `--name`, parsed; `default` when absent. Exits with a
    /// message on a value that does not parse.
    pub fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        let Some(i) = self.0.iter().position(|a| a == name) else {
            return default;
        };
        match self.0.get(i + 1).map(|v| v.parse()) {
            Some(Ok(v)) => v,
            _ => {
                eprintln!("{name} needs a valid value");
                std::process::exit(2);
            }
        }
    }
}
