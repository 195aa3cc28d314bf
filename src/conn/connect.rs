//! What an outbound connection is made of: its options (timeout, bind,
//! reconnect backoff), how a failed connect is classified, the record a
//! reconnecting connection keeps, and the socket calls that start a
//! non-blocking connect. The loop's side (completion, timeouts, the next
//! attempt) is in `reactor::connector`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use mio::net::{TcpStream, UnixStream};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::conn::options::ConnOptions;
use crate::conn::stream::Stream;
pub use crate::error::ConnectErrorKind;
use crate::unix::{self, UnixAddr};

/// A failed connect: the classification and the underlying error.
#[derive(Debug)]
pub struct ConnectError {
    /// What kind of failure.
    pub kind: ConnectErrorKind,
    /// The address that was being connected to (`0.0.0.0:0` for a Unix
    /// domain connect: see `unix_addr`).
    pub addr: SocketAddr,
    /// The Unix domain address that was being connected to, for a
    /// [`connect_unix`](crate::Reactor::connect_unix).
    pub unix_addr: Option<UnixAddr>,
    /// The OS error, if there was one.
    pub source: Option<io::Error>,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.unix_addr {
            Some(unix) => write!(f, "connect to {unix} failed: {}", self.kind)?,
            None => write!(f, "connect to {} failed: {}", self.addr, self.kind)?,
        }
        if let Some(e) = &self.source {
            write!(f, " ({e})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectError {}

/// Exponential backoff between reconnect attempts.
///
/// ```
/// use std::time::Duration;
/// let b = netloop::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// assert_eq!(b.delay(0, 0.0), Duration::from_millis(100));
/// assert_eq!(b.delay(3, 0.0), Duration::from_millis(800));
/// assert_eq!(b.delay(20, 0.0), Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// Delay before the first retry.
    pub start: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Fraction of the delay (0.0 to 1.0) replaced by a random amount, so
    /// many clients do not retry in lockstep.
    pub jitter: f64,
}

impl Backoff {
    /// Doubling from `start` up to `max`, with 20% jitter.
    pub fn new(start: Duration, max: Duration) -> Backoff {
        Backoff {
            start,
            max,
            jitter: 0.2,
        }
    }

    /// Sets the jitter fraction.
    pub fn jitter(mut self, jitter: f64) -> Backoff {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// The delay before retry number `attempt` (0-based), with `random` in
    /// `[0, 1)` choosing the jitter.
    ///
    /// Never panics and never exceeds `max`, whatever the (public) fields
    /// hold: a jitter or `random` outside `[0, 1]` (or NaN) is clamped
    /// (NaN counts as 0).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let unit = |x: f64| if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
        let factor = 2f64.powi(attempt.min(30) as i32);
        let base = (self.start.as_secs_f64() * factor).min(self.max.as_secs_f64());
        let jittered = base * (1.0 - unit(self.jitter) * unit(random));
        Duration::try_from_secs_f64(jittered)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// Options of an outbound connection.
///
/// ```
/// use std::time::Duration;
/// use netloop::{Backoff, ConnectOptions};
/// let opts = ConnectOptions::default()
///     .timeout(Duration::from_secs(2))
///     .reconnect(Backoff::new(Duration::from_millis(100), Duration::from_secs(10)));
/// assert_eq!(opts.timeout, Some(Duration::from_secs(2)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Give up after this long (default 10 s). `None` leaves it to the
    /// kernel (about 127 s for an unanswered SYN).
    pub timeout: Option<Duration>,
    /// Local address to bind before connecting (TCP only: a Unix connect
    /// with it fails with an `Unsupported` error).
    pub bind: Option<SocketAddr>,
    /// Connection options (socket options, marks, timeouts).
    pub conn: ConnOptions,
    /// Reconnect after a failed connect or a close the handler did not ask
    /// for: the peer closed (also when the handler then completes the close,
    /// as the default `on_eof` does) or reset, a keepalive, user, idle or
    /// write-stall timeout, a socket error. Not after the handler's own
    /// `close`, `shutdown_write`, `linger_close` or `abort` (before the peer
    /// closed), [`Ctx::stop_reconnecting`](crate::Ctx::stop_reconnecting),
    /// a panic, or a reactor stop or shutdown. The delay grows with each
    /// failed attempt and starts over once connected. The connection keeps
    /// its id and handler across attempts (see
    /// [`Reactor::connect`](crate::Reactor::connect)).
    pub reconnect: Option<Backoff>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: Some(Duration::from_secs(10)),
            bind: None,
            conn: ConnOptions::default(),
            reconnect: None,
        }
    }
}

impl ConnectOptions {
    /// Sets the connect timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Binds to a local address first.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = Some(addr);
        self
    }
    /// Sets the connection options.
    /// (A TLS configuration set before is kept, unless `conn` has one.)
    pub fn conn(mut self, conn: ConnOptions) -> Self {
        self.conn = conn.keeping_tls_of(&self.conn);
        self
    }
    /// Reconnects with this backoff after a failed connect or an unrequested close.
    pub fn reconnect(mut self, backoff: Backoff) -> Self {
        self.reconnect = Some(backoff);
        self
    }
}

/// Where an outbound connection goes.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    Unix(UnixAddr),
}

impl Target {
    /// The parts of a [`ConnectError`] that name the address.
    pub(crate) fn error_addrs(&self) -> (SocketAddr, Option<UnixAddr>) {
        match self {
            Target::Tcp(addr) => (*addr, None),
            Target::Unix(addr) => (([0, 0, 0, 0], 0).into(), Some(addr.clone())),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "{addr}"),
            Target::Unix(addr) => write!(f, "unix:{addr}"),
        }
    }
}

/// What an outbound connection keeps: where it goes, its options, and the
/// state of its attempts (to reconnect, and to try a name's addresses).
pub(crate) struct Outbound {
    /// The address of the current (or last) try.
    pub(crate) target: Target,
    /// A host name resolved (off the loop's thread) before each attempt,
    /// whose addresses are tried in order.
    pub(crate) name: Option<(Box<str>, u16)>,
    /// A name's addresses not yet tried in this attempt.
    pub(crate) untried: Vec<SocketAddr>,
    /// The name is being resolved for this attempt: the one answer is due.
    pub(crate) resolving: bool,
    pub(crate) opts: ConnectOptions,
    /// Failed attempts in a row (reset once connected).
    pub(crate) attempt: u32,
    /// No reconnect after this attempt: the handler ended the connection
    /// on purpose, or called `stop_reconnecting`.
    pub(crate) stop: bool,
    /// Attempts that ended with a reconnect to follow: handler timers set
    /// during an earlier attempt carry its number and do not fire.
    pub(crate) epoch: u32,
    /// Told the first attempt's outcome ([`ReactorHandle::connect_and_wait`](crate::ReactorHandle::connect_and_wait)).
    pub(crate) waiter: Option<Waiter>,
}

/// Where the outcome of a connection's first attempt is sent.
pub(crate) type Waiter = mpsc::SyncSender<Result<(), ConnectErrorKind>>;

impl Outbound {
    /// The record of a connection to `target`.
    pub(crate) fn new(target: Target, opts: ConnectOptions, waiter: Option<Waiter>) -> Outbound {
        Outbound {
            target,
            name: None,
            untried: Vec::new(),
            resolving: false,
            opts,
            attempt: 0,
            stop: false,
            epoch: 0,
            waiter,
        }
    }

    /// The record of a connection to `host`:`port`, by name.
    pub(crate) fn by_name(
        host: &str,
        port: u16,
        opts: ConnectOptions,
        waiter: Option<Waiter>,
    ) -> Outbound {
        let placeholder = Target::Tcp(SocketAddr::from(([0, 0, 0, 0], port)));
        Outbound {
            name: Some((host.into(), port)),
            ..Outbound::new(placeholder, opts, waiter)
        }
    }

    /// The host name, for a connection made by name.
    pub(crate) fn host(&self) -> Option<(&str, u16)> {
        self.name.as_ref().map(|(host, port)| (&**host, *port))
    }

    /// Tells a waiting thread how the attempt ended (once).
    pub(crate) fn tell(&mut self, outcome: Result<(), ConnectErrorKind>) {
        if let Some(waiter) = self.waiter.take() {
            let _ = waiter.try_send(outcome);
        }
    }
}

/// Creates a non-blocking socket for `target` with the options applied.
pub(crate) fn new_socket(target: &Target, opts: &ConnectOptions) -> io::Result<Socket> {
    opts.conn.validate()?;
    let addr = match target {
        Target::Tcp(addr) => *addr,
        Target::Unix(_) => return new_unix_socket(opts),
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    opts.conn.apply(SockRef::from(&socket))?;
    Ok(socket)
}

/// A Unix domain socket for a connect, refusing the TCP-only options.
fn new_unix_socket(opts: &ConnectOptions) -> io::Result<Socket> {
    opts.conn.check_unix()?;
    if opts.bind.is_some() {
        return Err(crate::error::Error::Unsupported(
            "ConnectOptions::bind: a TCP address, not for a Unix connect",
        )
        .into());
    }
    let socket = unix::new_socket()?;
    opts.conn.apply_unix(SockRef::from(&socket))?;
    Ok(socket)
}

/// Binds (if asked) and starts a non-blocking connect; the error if either
/// failed at once. A Unix connect completes at once or fails (with
/// `EAGAIN` when the listener's backlog is full: it does not wait).
pub(crate) fn begin_connect(
    socket: SockRef<'_>,
    target: &Target,
    bind: Option<SocketAddr>,
) -> Option<io::Error> {
    let addr = match target {
        Target::Tcp(addr) => (*addr).into(),
        Target::Unix(addr) => match addr.sock_addr() {
            Ok(addr) => addr,
            Err(e) => return Some(e),
        },
    };
    if let (Some(local), Target::Tcp(_)) = (bind, target) {
        if let Err(e) = socket.bind(&local.into()) {
            return Some(e);
        }
    }
    match socket.connect(&addr) {
        Ok(()) => None,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => None,
        Err(e) => Some(e),
    }
}

/// The stream of a socket made by [`new_socket`] for `target`.
pub(crate) fn into_stream(socket: Socket, target: &Target) -> Stream {
    match target {
        Target::Tcp(_) => Stream::Tcp(TcpStream::from_std(socket.into())),
        Target::Unix(_) => Stream::Unix(UnixStream::from_std(socket.into())),
    }
}

/// Creates the socket and starts connecting. `Ok((_, Some(e)))`: the
/// socket exists but connect failed at once.
pub(crate) fn start_connect(
    target: &Target,
    opts: &ConnectOptions,
) -> io::Result<(Stream, Option<io::Error>)> {
    let socket = new_socket(target, opts)?;
    let early = begin_connect(SockRef::from(&socket), target, opts.bind);
    Ok((into_stream(socket, target), early))
}

/// A small xorshift generator for backoff jitter (no `rand` dependency).
pub(crate) fn jitter_sample(seed: u64) -> f64 {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        let e = io::Error::from_raw_os_error;
        assert_eq!(
            ConnectErrorKind::of(&e(libc::ECONNREFUSED)),
            ConnectErrorKind::Refused
        );
        assert_eq!(
            ConnectErrorKind::of(&e(libc::ETIMEDOUT)),
            ConnectErrorKind::TimedOut
        );
        assert_eq!(
            ConnectErrorKind::of(&e(libc::EHOSTUNREACH)),
            ConnectErrorKind::Unreachable
        );
        assert_eq!(
            ConnectErrorKind::of(&e(libc::ENETUNREACH)),
            ConnectErrorKind::Unreachable
        );
        assert_eq!(
            ConnectErrorKind::of(&e(libc::EADDRNOTAVAIL)),
            ConnectErrorKind::AddrNotAvailable
        );
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_down() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100)).jitter(0.5);
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(20));
        assert_eq!(b.delay(10, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay(10, 1.0), Duration::from_millis(50));
        let s = jitter_sample(42);
        assert!((0.0..1.0).contains(&s));
    }
}
