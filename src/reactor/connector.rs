//! Outbound connections: non-blocking connect, classified failures, a
//! user-space connect timeout and an optional reconnect policy.
//!
//! Completion follows mio's recipe: wait for a writable event, then
//! `take_error()` (a failed handshake) and `peer_addr()` (`ENOTCONN` means
//! the event was spurious: keep waiting). Without a user timeout a SYN that
//! gets no answer fails only after the kernel's ~127 s of retries, so
//! [`ConnectOptions::timeout`] defaults to 10 s.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::conn::close::CloseReason;
use crate::conn::options::ConnOptions;
use crate::conn::state::ConnState;
use crate::conn::{Flags, Intent, Origin};
use crate::handler::Handler;
use crate::reactor::core::Core;
use crate::reactor::schedule::TimerTask;
use crate::reactor::token::ConnId;

/// Why an outbound connect failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// No answer within the connect timeout (or the kernel's SYN retries).
    TimedOut,
    /// The peer answered with RST: nothing listens on that port.
    Refused,
    /// No route to the host or network, or an ICMP unreachable came back.
    Unreachable,
    /// The local address is not available (`EADDRNOTAVAIL`: no such local
    /// address, or out of ephemeral ports).
    AddrNotAvailable,
    /// The connection was made to itself (same local and peer address:
    /// a TCP simultaneous open to a free ephemeral port).
    SelfConnect,
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
            ConnectErrorKind::Other(kind) => write!(f, "{kind}"),
        }
    }
}

/// A failed connect: the classification and the underlying error.
#[derive(Debug)]
pub struct ConnectError {
    /// What kind of failure.
    pub kind: ConnectErrorKind,
    /// The address that was being connected to.
    pub addr: SocketAddr,
    /// The OS error, if there was one.
    pub source: Option<io::Error>,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connect to {} failed: {}", self.addr, self.kind)?;
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
pub struct ConnectOptions {
    /// Give up after this long (default 10 s). `None` leaves it to the
    /// kernel (about 127 s for an unanswered SYN).
    pub timeout: Option<Duration>,
    /// Local address to bind before connecting.
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
    pub fn conn(mut self, conn: ConnOptions) -> Self {
        self.conn = conn;
        self
    }
    /// Reconnects with this backoff after a failed connect or an unrequested close.
    pub fn reconnect(mut self, backoff: Backoff) -> Self {
        self.reconnect = Some(backoff);
        self
    }
}

/// What an outbound connection keeps to reconnect.
pub(crate) struct Outbound {
    pub(crate) addr: SocketAddr,
    pub(crate) opts: ConnectOptions,
    /// Failed attempts in a row (reset once connected).
    pub(crate) attempt: u32,
    /// A close, shutdown or lingering close asked for while connecting with
    /// bytes queued: applied once connected, after those bytes.
    parked: Option<Intent>,
    /// Attempts that ended with a reconnect to follow: handler timers set
    /// during an earlier attempt carry its number and do not fire.
    pub(crate) epoch: u32,
    /// Told the first attempt's outcome ([`ReactorHandle::connect_and_wait`](crate::ReactorHandle::connect_and_wait)).
    waiter: Option<Waiter>,
}

/// Where the outcome of a connection's first attempt is sent.
pub(crate) type Waiter = mpsc::SyncSender<Result<(), ConnectErrorKind>>;

impl Outbound {
    /// Tells a waiting thread how the attempt ended (once).
    fn tell(&mut self, outcome: Result<(), ConnectErrorKind>) {
        if let Some(waiter) = self.waiter.take() {
            let _ = waiter.try_send(outcome);
        }
    }
}

/// Whether a close, shutdown or lingering close waits for the connect to
/// complete: the write side is closing, so further sends are refused.
pub(crate) fn close_parked(origin: &Origin) -> bool {
    matches!(origin, Origin::Outbound(Some(o)) if o.parked.is_some())
}

/// Creates a non-blocking socket for `addr` with the options applied.
fn new_socket(addr: SocketAddr, opts: &ConnectOptions) -> io::Result<Socket> {
    opts.conn.validate()?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    opts.conn.apply(SockRef::from(&socket))?;
    Ok(socket)
}

/// Binds (if asked) and starts a non-blocking connect; the error if either
/// failed at once.
fn begin_connect(
    socket: SockRef<'_>,
    addr: SocketAddr,
    bind: Option<SocketAddr>,
) -> Option<io::Error> {
    if let Some(local) = bind {
        if let Err(e) = socket.bind(&local.into()) {
            return Some(e);
        }
    }
    match socket.connect(&addr.into()) {
        Ok(()) => None,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => None,
        Err(e) => Some(e),
    }
}

/// Creates the socket and starts connecting. `Ok((_, Some(e)))`: the
/// socket exists but connect failed at once.
fn start_connect(
    addr: SocketAddr,
    opts: &ConnectOptions,
) -> io::Result<(TcpStream, Option<io::Error>)> {
    let socket = new_socket(addr, opts)?;
    let early = begin_connect(SockRef::from(&socket), addr, opts.bind);
    Ok((TcpStream::from_std(socket.into()), early))
}

/// A small xorshift generator for backoff jitter (no `rand` dependency).
fn jitter_sample(seed: u64) -> f64 {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl<S: 'static> Core<S> {
    /// Starts connecting. Failures after the socket exists (refused,
    /// unreachable, timeout, ...) are reported to the handler through
    /// `on_connect_error` and `on_close`; only failing to create a socket
    /// at all (e.g. `EMFILE`) is returned here.
    pub(crate) fn connect(
        &mut self,
        addr: SocketAddr,
        opts: ConnectOptions,
        handler: Box<dyn Handler<S>>,
        waiter: Option<Waiter>,
    ) -> io::Result<ConnId> {
        let started = start_connect(addr, &opts)?;
        let outbound = Box::new(Outbound {
            addr,
            opts,
            attempt: 0,
            parked: None,
            epoch: 0,
            waiter,
        });
        self.add_outbound(started, outbound, handler)
    }

    /// Puts a socket whose connect has started in the slab, with its
    /// connect timeout (or its immediate failure, reported from the loop).
    fn add_outbound(
        &mut self,
        (stream, early): (TcpStream, Option<io::Error>),
        outbound: Box<Outbound>,
        handler: Box<dyn Handler<S>>,
    ) -> io::Result<ConnId> {
        let conn_opts = Rc::new(outbound.opts.conn.clone());
        let timeout = outbound.opts.timeout;
        let origin = Origin::Outbound(Some(outbound));
        let slot = self.add_conn(stream, ConnState::Connecting, conn_opts, handler, origin)?;
        let id = self.conn(slot).map(|c| c.id).expect("just added");
        self.attempt_started(slot, early, timeout);
        Ok(id)
    }

    /// A connect attempt is under way: arm its timeout, or report its
    /// immediate failure from the loop, like any other failure.
    fn attempt_started(
        &mut self,
        slot: usize,
        early: Option<io::Error>,
        timeout: Option<Duration>,
    ) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let id = conn.id;
        if let Some(e) = early {
            conn.request(Intent::Fail(crate::conn::write::errno(&e)));
            self.enqueue(slot);
        } else if let Some(timeout) = timeout {
            let deadline = self.clock.after(timeout);
            let timer = self.timers.insert(deadline, None, TimerTask::Deadline(id));
            self.replace_deadline_timer(slot, timer);
        }
    }

    /// A writable or error event on a connecting socket.
    pub(crate) fn finish_connect(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if !conn.flags.has(Flags::WRITABLE) && !conn.flags.has(Flags::HANGUP_HINT) {
            return;
        }
        match conn.stream.take_error() {
            Ok(Some(e)) | Err(e) => return self.connect_failed(state, slot, e),
            Ok(None) => {}
        }
        match conn.stream.peer_addr() {
            Ok(peer) => {
                if conn.stream.local_addr().is_ok_and(|local| local == peer) {
                    return self.connect_failed_with(
                        state,
                        slot,
                        ConnectErrorKind::SelfConnect,
                        None,
                    );
                }
            }
            // Spurious wake-up: the handshake is still under way.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                conn.flags.remove(Flags::WRITABLE | Flags::HANGUP_HINT);
                return;
            }
            Err(e) => return self.connect_failed(state, slot, e),
        }
        self.connected(state, slot);
    }

    /// Connecting → Open: cancel the timeout, run `on_open`, send what was
    /// queued meanwhile.
    fn connected(&mut self, state: &mut S, slot: usize) {
        self.cancel_deadline_timer(slot);
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        conn.state = ConnState::Open;
        let mut parked = None;
        if let Origin::Outbound(Some(o)) = &mut conn.origin {
            o.attempt = 0;
            parked = o.parked.take();
            o.tell(Ok(()));
        }
        if let Some(intent) = parked {
            // Applied right after on_open, before the queue is flushed
            // below, so the FIN follows the queued bytes.
            conn.request(intent);
        }
        // The idle and write-stall clocks start now, not at the connect call.
        conn.last_read = self.clock.now();
        conn.last_write = conn.last_read;
        self.metrics.connected.bump(1);
        self.arm_idle_timer(slot);
        self.opened(state, slot);
        if let Some(conn) = conn_at!(self, slot) {
            if conn.state.flushes() && !conn.send.is_empty() {
                self.flush(state, slot);
            } else if conn.send.is_empty() && conn.flags.take(Flags::WRITE_INTEREST) {
                let token = conn.id.0.token();
                if let Err(e) =
                    self.registry
                        .reregister(&mut conn.stream, token, mio::Interest::READABLE)
                {
                    self.fail(state, slot, e);
                }
            }
        }
    }

    /// Keeps a close, shutdown or lingering close asked for while
    /// connecting, to apply once connected (the strongest one wins).
    pub(crate) fn park_until_connected(&mut self, slot: usize, intent: Intent) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if let Origin::Outbound(Some(o)) = &mut conn.origin {
            if o.parked.as_ref().is_none_or(|p| intent.rank() > p.rank()) {
                o.parked = Some(intent);
            }
        }
    }

    /// The connect timeout fired while still connecting.
    pub(crate) fn connect_timed_out(&mut self, state: &mut S, slot: usize) {
        self.connect_failed_with(state, slot, ConnectErrorKind::TimedOut, None);
    }

    pub(crate) fn connect_failed(&mut self, state: &mut S, slot: usize, err: io::Error) {
        let kind = ConnectErrorKind::of(&err);
        self.connect_failed_with(state, slot, kind, Some(err));
    }

    /// Connecting → Closed: `on_connect_error`, then `on_close`.
    fn connect_failed_with(
        &mut self,
        state: &mut S,
        slot: usize,
        kind: ConnectErrorKind,
        source: Option<io::Error>,
    ) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let addr = match &mut conn.origin {
            Origin::Outbound(Some(o)) => {
                o.tell(Err(kind));
                o.addr
            }
            _ => conn
                .stream
                .peer_addr()
                .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into()),
        };
        log::debug!("{}: connect to {addr} failed: {kind}", conn.id);
        let error = ConnectError { kind, addr, source };
        self.dispatch(state, slot, |h, ctx| h.on_connect_error(ctx, &error));
        self.close_now(state, slot, CloseReason::ConnectFailed(kind));
    }

    /// Instead of closing, whether the connection in `slot` (ending for
    /// `reason`) waits to reconnect: an outbound connection with a
    /// reconnect policy that nobody ended on purpose, while the reactor
    /// runs. It keeps its id, handler, statistics and a fresh socket;
    /// `on_disconnect` tells an established one, and the next attempt
    /// starts after the backoff's delay.
    pub(crate) fn reconnect_instead(
        &mut self,
        state: &mut S,
        slot: usize,
        reason: CloseReason,
    ) -> bool {
        if self.shutting_down || self.stopping || reason == CloseReason::Panicked {
            return false;
        }
        let Some(conn) = conn_at!(self, slot) else {
            return false;
        };
        if conn.flags.has(Flags::NO_RECONNECT) {
            return false;
        }
        let id = conn.id;
        let Origin::Outbound(Some(o)) = &mut conn.origin else {
            return false;
        };
        if o.opts.reconnect.is_none() {
            return false;
        }
        let socket = match new_socket(o.addr, &o.opts) {
            Ok(socket) => TcpStream::from_std(socket.into()),
            Err(e) => {
                log::warn!("{id}: cannot reconnect to {}: {e}; closing", o.addr);
                return false;
            }
        };
        o.parked = None;
        o.epoch = o.epoch.wrapping_add(1);
        let was_open = conn.state != ConnState::Connecting;
        self.release_attempt(slot, socket);
        self.metrics.disconnects.bump(1);
        log::debug!("{id}: disconnected ({reason}); reconnecting");
        if was_open {
            self.dispatch(state, slot, |h, ctx| h.on_disconnect(ctx, reason));
        }
        let Some(conn) = conn_at!(self, slot) else {
            return true;
        };
        if conn.flags.has(Flags::NO_RECONNECT) {
            // `stop_reconnecting` in `on_disconnect`: this was the last one.
            conn.pending = None;
            self.close_now(state, slot, reason);
        } else if conn.pending.is_some() {
            // A close in `on_disconnect` ends it now.
            self.apply_pending(state, slot);
        } else {
            self.schedule_reconnect(slot);
        }
        true
    }

    /// Ends one attempt of a reconnecting connection: its socket is closed
    /// (replaced by `fresh`, not yet connected), its queue, input, timers
    /// and readiness dropped; the connection waits in `Reconnecting`.
    fn release_attempt(&mut self, slot: usize, fresh: TcpStream) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let mut old = std::mem::replace(&mut conn.stream, fresh);
        conn.fd = conn.stream.as_raw_fd();
        // Dropping the old stream closes it (and takes it out of epoll);
        // events of it already returned this turn find the connection in
        // `Reconnecting` and are ignored.
        let _ = self.registry.deregister(&mut old);
        drop(old);
        conn.state = ConnState::Reconnecting;
        conn.pending = None;
        conn.send.clear();
        conn.flags = conn.flags.masked(Flags::QUEUED);
        let input = std::mem::take(&mut conn.input);
        let timers = [
            conn.idle_timer.take(),
            conn.stall_timer.take(),
            conn.deadline_timer.take(),
        ];
        for t in timers.into_iter().flatten() {
            self.timers.cancel(t);
        }
        self.recycle_input_buf(input);
    }

    /// Schedules the next attempt after the backoff's delay for the number
    /// of attempts that failed in a row.
    fn schedule_reconnect(&mut self, slot: usize) {
        let now = self.clock.now();
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let id = conn.id;
        let Origin::Outbound(Some(o)) = &mut conn.origin else {
            return;
        };
        let Some(backoff) = o.opts.reconnect else {
            return;
        };
        let delay = backoff.delay(o.attempt, jitter_sample(now ^ id.as_u64()));
        o.attempt = o.attempt.saturating_add(1);
        let deadline = self.clock.after(delay);
        let timer = self.timers.insert(deadline, None, TimerTask::Reconnect(id));
        conn.deadline_timer = Some(timer);
    }

    /// The reconnect timer fired: the next attempt, on the socket made
    /// when the last one ended, with the same id and handler.
    pub(crate) fn reconnect(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.state != ConnState::Reconnecting {
            return;
        }
        conn.deadline_timer = None;
        let Origin::Outbound(Some(o)) = &conn.origin else {
            return;
        };
        let (timeout, addr) = (o.opts.timeout, o.addr);
        let early = begin_connect(SockRef::from(&conn.stream), addr, o.opts.bind);
        conn.state = ConnState::Connecting;
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        let early = match self
            .registry
            .register(&mut conn.stream, conn.id.0.token(), interest)
        {
            Ok(()) => early,
            Err(e) => Some(e),
        };
        conn.flags.insert(Flags::WRITE_INTEREST);
        log::debug!("{}: reconnecting to {addr}", conn.id);
        self.attempt_started(slot, early, timeout);
    }
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
