//! Errors of operations on connections and reactors.
//!
//! The convention: operations on connections and on a running reactor
//! (send, the close verbs, pause, stats, handle requests, `call`) return
//! [`Result`] with [`Error`], whose variants name the misuse or the state
//! that refused them; making sockets (`Reactor::new`, `listen`, `connect`,
//! `listener_addr`, `ServerBuilder::start`) returns `std::io::Result`,
//! since only the operating system refuses those. `Error` converts into
//! `io::Error`, so both work with `?` in a function returning either.
//!
//! An operation that does not apply to the kind of socket at hand (a TCP
//! query on a Unix domain connection, Unix credentials of a TCP one, a TCP
//! option asked of a Unix listener) fails with [`Error::Unsupported`];
//! where the convention calls for `io::Result`, with an `io::Error` of
//! kind [`Unsupported`](io::ErrorKind::Unsupported) that carries that
//! `Error` (reachable through `io::Error::get_ref` and `downcast_ref`).

use std::fmt;
use std::io;

/// What an operation on a connection or reactor can fail with. Misuse
/// (a stale id, a send after close) is an error value, never a panic.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No open connection has this id: it closed already (ids are never
    /// reused), or it was never valid.
    NoSuchConn,
    /// No registered event source has this id (deregistered already, or
    /// never valid), or it is not of the type asked for
    /// ([`ReactorCtx::take_source`](crate::ReactorCtx::take_source)), or its
    /// own callback holds it.
    NoSuchSource,
    /// The id belongs to another reactor; route it through a
    /// [`ServerHandle`](crate::ServerHandle) instead.
    ForeignConn,
    /// The connection's write side is closed or closing: nothing was sent.
    WriteClosed,
    /// The message would push the send queue past its hard cap; nothing of
    /// it was sent or queued.
    QueueFull {
        /// Bytes queued before the attempt.
        queued: usize,
        /// The size of the refused message.
        len: usize,
        /// The connection's `max_send_queue`.
        cap: usize,
    },
    /// A reconnecting connection is between attempts
    /// ([`ConnState::Reconnecting`](crate::ConnState::Reconnecting)):
    /// nothing was sent.
    NotConnected,
    /// An outbound connect failed ([`ReactorHandle::connect_and_wait`](crate::ReactorHandle::connect_and_wait)).
    Connect(ConnectErrorKind),
    /// The reactor has stopped; the request was not delivered.
    Stopped,
    /// A call that waits for the reactor was made on the reactor's own
    /// thread, where it would wait for itself
    /// ([`ReactorHandle::call`](crate::ReactorHandle::call) and the
    /// handle methods built on it): use the callback's context instead.
    OnLoopThread,
    /// The operation does not apply to this kind of socket (e.g.
    /// [`Ctx::tcp_info`](crate::Ctx::tcp_info) on a Unix domain
    /// connection, [`Ctx::peer_cred`](crate::Ctx::peer_cred) on a TCP one);
    /// the text names what was asked and why it does not apply.
    ///
    /// ```
    /// let e = netloop::Error::Unsupported("TCP_INFO: not a TCP connection");
    /// let io: std::io::Error = e.into();
    /// assert_eq!(io.kind(), std::io::ErrorKind::Unsupported);
    /// let inner = io.get_ref().and_then(|e| e.downcast_ref::<netloop::Error>());
    /// assert!(matches!(inner, Some(netloop::Error::Unsupported(_))));
    /// ```
    Unsupported(&'static str),
    /// A system call failed.
    Io(io::Error),
}

/// `Result` with netloop's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchConn => f.write_str("no such connection (closed or never opened)"),
            Error::NoSuchSource => {
                f.write_str("no such event source (deregistered or never registered)")
            }
            Error::ForeignConn => f.write_str("connection belongs to another reactor"),
            Error::WriteClosed => f.write_str("write side of the connection is closed"),
            Error::QueueFull { queued, len, cap } => write!(
                f,
                "send queue full: {queued} bytes queued + {len} would exceed the cap of {cap}"
            ),
            Error::NotConnected => f.write_str("not connected: waiting to reconnect"),
            Error::Connect(kind) => write!(f, "connect failed: {kind}"),
            Error::Stopped => f.write_str("reactor has stopped"),
            Error::OnLoopThread => {
                f.write_str("called on the reactor's own thread, where it would wait for itself")
            }
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            e @ Error::Unsupported(_) => io::Error::new(io::ErrorKind::Unsupported, e),
            other => io::Error::other(other.to_string()),
        }
    }
}

/// Why an outbound connect failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// No answer within the connect timeout (or the kernel's SYN retries).
    TimedOut,
    /// The peer answered with RST: nothing listens on that port (for a
    /// Unix domain socket: a socket file nobody listens on).
    Refused,
    /// No route to the host or network, or an ICMP unreachable came back.
    Unreachable,
    /// The local address is not available (`EADDRNOTAVAIL`: no such local
    /// address, or out of ephemeral ports).
    AddrNotAvailable,
    /// The connection was made to itself (same local and peer address:
    /// a TCP simultaneous open to a free ephemeral port).
    SelfConnect,
    /// The host name did not resolve, or resolved to no address
    /// ([`Reactor::connect_host`](crate::Reactor::connect_host)).
    Unresolved,
    /// The TCP connection was made but the TLS handshake failed or timed
    /// out (cargo feature `tls`); the close reason,
    /// [`CloseReason::Tls`](crate::CloseReason::Tls), says how.
    Tls,
    /// Any other error.
    Other(io::ErrorKind),
}

impl ConnectErrorKind {
    /// Classifies a connect error.
    ///
    /// ```
    /// use std::io;
    /// use netloop::ConnectErrorKind;
    /// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    /// assert_eq!(ConnectErrorKind::of(&refused), ConnectErrorKind::Refused);
    /// let no_route = io::Error::from_raw_os_error(113); // EHOSTUNREACH
    /// assert_eq!(ConnectErrorKind::of(&no_route), ConnectErrorKind::Unreachable);
    /// ```
    pub fn of(err: &io::Error) -> ConnectErrorKind {
        match err.raw_os_error() {
            Some(libc::ETIMEDOUT) => ConnectErrorKind::TimedOut,
            Some(libc::ECONNREFUSED) => ConnectErrorKind::Refused,
            Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ENETDOWN) => {
                ConnectErrorKind::Unreachable
            }
            Some(libc::EADDRNOTAVAIL) => ConnectErrorKind::AddrNotAvailable,
            Some(_) => ConnectErrorKind::Other(err.kind()),
            // An error made without an errno: go by its kind.
            None => match err.kind() {
                io::ErrorKind::TimedOut => ConnectErrorKind::TimedOut,
                io::ErrorKind::ConnectionRefused => ConnectErrorKind::Refused,
                io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                    ConnectErrorKind::Unreachable
                }
                io::ErrorKind::AddrNotAvailable => ConnectErrorKind::AddrNotAvailable,
                kind => ConnectErrorKind::Other(kind),
            },
        }
    }
}

impl fmt::Display for ConnectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectErrorKind::TimedOut => f.write_str("timed out"),
            ConnectErrorKind::Refused => f.write_str("refused"),
            ConnectErrorKind::Unreachable => f.write_str("unreachable"),
            ConnectErrorKind::AddrNotAvailable => f.write_str("address not available"),
            ConnectErrorKind::SelfConnect => f.write_str("connected to itself"),
            ConnectErrorKind::Unresolved => f.write_str("host name not resolved"),
            ConnectErrorKind::Tls => f.write_str("TLS handshake failed"),
            ConnectErrorKind::Other(kind) => write!(f, "{kind}"),
        }
    }
}
