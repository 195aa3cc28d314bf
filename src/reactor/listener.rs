//! Listeners: bound with socket2, accepting under a per-turn budget.
//!
//! Accept errors fall in three groups:
//! - the connection died in the queue (`ECONNABORTED`, `EPROTO`, `EPERM`
//!   from a firewall, ...): skip it and accept the next;
//! - out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`):
//!   the connection stays queued in the kernel and, edge-triggered, no new
//!   event will come for it. Accepting pauses and is retried when one of our
//!   connections closes or from a timer (10 ms doubling to 1 s), so the loop
//!   neither spins nor stalls, and queued clients are served once
//!   descriptors free up. Logged at most once a second;
//! - anything else: logged and retried the same way, never fatal.
//!
//! With `max_connections`, accepting pauses at the limit and resumes as soon
//! as a connection of this listener closes.
//!
//! A listener is TCP or Unix domain ([`ListenSocket`]); a Unix one bound to
//! a path keeps the socket file it created and removes it when closed or
//! dropped (`crate::unix`).

use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use mio::Interest;
use mio::event::Source;
use mio::net::{TcpListener, UnixListener};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::conn::options::ConnOptions;
use crate::conn::state::ConnState;
use crate::conn::stream::Stream;
use crate::conn::{Flags, Origin};
use crate::reactor::core::{Core, Entry};
use crate::reactor::handler::Handler;
use crate::reactor::schedule::TimerTask;
use crate::sys;
use crate::token::ListenerId;
use crate::unix::{self, InUse, SocketFile, UnixAddr};

/// Options of a listener and of the connections it accepts.
///
/// ```
/// use netloop::{ListenOptions, ConnOptions};
/// let opts = ListenOptions::default()
///     .reuse_port(true)
///     .max_connections(10_000)
///     .conn(ConnOptions::default().max_send_queue(1 << 20));
/// assert_eq!(opts.backlog, 4096);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListenOptions {
    /// `listen()` backlog (default 4096; the kernel caps it at `somaxconn`).
    /// The std/mio default of 128 makes bursts of connects wait for SYN
    /// retransmits.
    pub backlog: u32,
    /// `SO_REUSEADDR` (default on): rebind while old connections sit in TIME_WAIT.
    pub reuse_address: bool,
    /// `SO_REUSEPORT`: several sockets (one per reactor) share the address.
    pub reuse_port: bool,
    /// `IPV6_V6ONLY` for IPv6 addresses; `None` leaves the system default.
    pub only_v6: Option<bool>,
    /// Pause accepting while this many connections of this listener are open.
    pub max_connections: Option<usize>,
    /// Most accepts per turn before other work gets a go.
    pub accept_budget: usize,
    /// Options of accepted connections. Socket options are set once on the
    /// listener; accepted sockets inherit them (on a Unix listener, which
    /// passes nothing on, the buffer sizes are set on each accepted socket).
    pub conn: ConnOptions,
    /// For a Unix listener on a path
    /// ([`Reactor::listen_unix`](crate::Reactor::listen_unix)): when a
    /// socket file is already there and nothing listens on it (a connect
    /// to it is refused: a dead process left it), remove it and bind.
    /// Off by default: the listen then fails with `AddrInUse`, naming the
    /// path. A live listener's file is never removed (the probe is a
    /// connection it sees open and close at once), nor anything that is
    /// not a socket.
    pub unlink_stale: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 4096,
            reuse_address: true,
            reuse_port: false,
            only_v6: None,
            max_connections: None,
            accept_budget: 256,
            conn: ConnOptions::default(),
            unlink_stale: false,
        }
    }
}

impl ListenOptions {
    /// Sets the backlog.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }
    /// Sets `SO_REUSEADDR`.
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = on;
        self
    }
    /// Sets `SO_REUSEPORT`.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }
    /// Sets `IPV6_V6ONLY`.
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }
    /// Sets the connection limit.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }
    /// Sets the accept budget per turn.
    pub fn accept_budget(mut self, n: usize) -> Self {
        self.accept_budget = n.max(1);
        self
    }
    /// Sets the options of accepted connections.
    /// (A TLS configuration set before is kept, unless `conn` has one.)
    pub fn conn(mut self, conn: ConnOptions) -> Self {
        self.conn = conn.keeping_tls_of(&self.conn);
        self
    }
    /// Removes a stale socket file before a Unix listener binds; see
    /// [`unlink_stale`](Self::unlink_stale).
    ///
    /// ```
    /// let opts = netloop::ListenOptions::default().unlink_stale(true);
    /// assert!(opts.unlink_stale);
    /// ```
    pub fn unlink_stale(mut self, on: bool) -> Self {
        self.unlink_stale = on;
        self
    }

    /// Creates, configures, binds and starts listening on a socket.
    pub(crate) fn bind(&self, addr: SocketAddr) -> io::Result<Socket> {
        self.conn.validate()?;
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.set_cloexec(true)?;
        socket.set_reuse_address(self.reuse_address)?;
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if let (Some(v6only), true) = (self.only_v6, addr.is_ipv6()) {
            socket.set_only_v6(v6only)?;
        }
        self.conn.apply(SockRef::from(&socket))?;
        socket.bind(&addr.into())?;
        socket.listen(self.backlog.min(i32::MAX as u32) as i32)?;
        Ok(socket)
    }

    /// Creates a Unix domain socket, binds it to `addr` (dealing with a
    /// stale socket file as [`unlink_stale`](Self::unlink_stale) says)
    /// and starts listening. Returns the socket file it created, if any.
    pub(crate) fn bind_unix(&self, addr: &UnixAddr) -> io::Result<(Socket, Option<SocketFile>)> {
        self.conn.validate()?;
        self.conn.check_unix()?;
        if self.reuse_port {
            return Err(crate::error::Error::Unsupported(
                "ListenOptions::reuse_port: Unix sockets cannot share a path",
            )
            .into());
        }
        let socket = unix::new_socket()?;
        let sock_addr = addr.sock_addr()?;
        match socket.bind(&sock_addr) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
                self.bind_in_use(&socket, addr, &sock_addr)?
            }
            other => other?,
        }
        let file = addr.as_path().map(SocketFile::created).transpose()?;
        socket.listen(self.backlog.min(i32::MAX as u32) as i32)?;
        Ok((socket, file))
    }

    /// The bind found `addr` in use: remove a stale socket file and bind
    /// again if allowed, else say what is there.
    fn bind_in_use(
        &self,
        socket: &Socket,
        addr: &UnixAddr,
        sock_addr: &socket2::SockAddr,
    ) -> io::Result<()> {
        let Some(path) = addr.as_path() else {
            return Err(unix::in_use_error(addr, None));
        };
        let what = unix::probe(path)?;
        if what != InUse::Stale || !self.unlink_stale {
            return Err(unix::in_use_error(addr, Some(what)));
        }
        log::info!("{addr}: removing a stale socket file");
        std::fs::remove_file(path)?;
        socket.bind(sock_addr)
    }
}

/// A listening socket, TCP or Unix domain.
pub(crate) enum ListenSocket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl ListenSocket {
    fn accept(&self) -> io::Result<Stream> {
        match self {
            ListenSocket::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
            ListenSocket::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            ListenSocket::Tcp(l) => l.local_addr(),
            ListenSocket::Unix(_) => Err(crate::error::Error::Unsupported(
                "listener_addr: a Unix listener has no IP address (see unix_listener_addr)",
            )
            .into()),
        }
    }

    fn source(&mut self) -> &mut dyn Source {
        match self {
            ListenSocket::Tcp(l) => l,
            ListenSocket::Unix(l) => l,
        }
    }
}

/// Makes the handler of each accepted connection.
pub(crate) type Factory<S> = Box<dyn FnMut() -> Box<dyn Handler<S>>>;

/// Whether closing a listener's descriptor closes the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// Bound here and never handed out: closing it resets the connections
    /// still waiting in its accept queue, so a shutdown accepts them first.
    Exclusive,
    /// Inherited, or handed out with `listener_sockets`: another process
    /// may accept what is queued, so a shutdown leaves the queue alone.
    Shared,
}

/// A connection taken from the queue of a listener closing at shutdown,
/// opened on the next pass over the ready queue.
pub(crate) struct Drained<S> {
    stream: Stream,
    opts: Rc<ConnOptions>,
    handler: Box<dyn Handler<S>>,
    listener: ListenerId,
}

/// At most this many connections are taken from one queue at shutdown
/// (the kernel caps a queue at `somaxconn`, 4096 by default).
const DRAIN_MAX: usize = 1 << 16;

/// Why a listener is not accepting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Paused {
    at_limit: bool,
    resource: bool,
}

pub(crate) struct Listener<S> {
    pub(crate) id: ListenerId,
    socket: ListenSocket,
    /// The socket file this listener created (Unix, on a path): removed
    /// when the listener is dropped, after the socket is closed.
    _file: Option<SocketFile>,
    conn_opts: Rc<ConnOptions>,
    max_connections: Option<usize>,
    accept_budget: usize,
    factory: Factory<S>,
    /// Whether another process may hold the socket too.
    ownership: Ownership,
    /// An event said connections may be waiting (cleared on EAGAIN).
    readable: bool,
    /// In the ready queue.
    pub(crate) queued: bool,
    paused: Paused,
    /// Next retry delay after a resource error, in ms.
    backoff_ms: u64,
    /// Open connections accepted here.
    open: usize,
    last_error_log: Option<u64>,
    errors_since_log: u64,
}

impl<S: 'static> Listener<S> {
    /// The handler for an accepted stream, with the stream's Unix socket
    /// options applied. A factory that panics costs only this connection:
    /// `None`, and the stream is reset.
    fn handler_for(&mut self, stream: &Stream) -> Option<Box<dyn Handler<S>>> {
        let Ok(handler) = panic::catch_unwind(AssertUnwindSafe(&mut self.factory)) else {
            log::error!(
                "{:?}: handler factory panicked; connection dropped",
                self.id
            );
            let _ = sys::set_abortive_close(stream);
            return None;
        };
        if stream.is_unix() && self.conn_opts.has_unix_options() {
            if let Err(e) = self.conn_opts.apply_unix(SockRef::from(stream)) {
                log::debug!("{:?}: socket options of an accepted socket: {e}", self.id);
            }
        }
        Some(handler)
    }

    /// Accepts every queued connection (up to `max_connections` and
    /// [`DRAIN_MAX`]) into `into`, stopping at an empty queue or an error
    /// that would pause accepting. Returns how many factories panicked.
    fn take_queued(&mut self, into: &mut Vec<Drained<S>>) -> u64 {
        let mut panics = 0;
        for _ in 0..DRAIN_MAX {
            if self.max_connections.is_some_and(|max| self.open >= max) {
                break;
            }
            match self.socket.accept() {
                Ok(stream) => {
                    let Some(handler) = self.handler_for(&stream) else {
                        panics += 1;
                        continue;
                    };
                    self.open += 1;
                    into.push(Drained {
                        stream,
                        opts: self.conn_opts.clone(),
                        handler,
                        listener: self.id,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted || is_connection_error(&e) => {}
                Err(e) => {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        log::warn!("{:?}: accept at shutdown failed: {e}", self.id);
                    }
                    break;
                }
            }
        }
        panics
    }
}

/// Accept errors after which the next queued connection can be accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ECONNRESET
        )
    )
}

const RETRY_MIN_MS: u64 = 10;
const RETRY_MAX_MS: u64 = 1000;

impl<S: 'static> Core<S> {
    /// Binds a listener and registers it; connections get handlers from `factory`.
    pub(crate) fn listen<H, F>(
        &mut self,
        addr: SocketAddr,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        let socket = opts.bind(addr)?;
        let socket = ListenSocket::Tcp(TcpListener::from_std(socket.into()));
        self.add_listener(socket, None, opts, factory, Ownership::Exclusive)
    }

    /// Binds a Unix domain listener and registers it.
    pub(crate) fn listen_unix<H, F>(
        &mut self,
        addr: &UnixAddr,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        let (socket, file) = opts.bind_unix(addr)?;
        let socket = ListenSocket::Unix(UnixListener::from_std(socket.into()));
        self.add_listener(socket, file, opts, factory, Ownership::Exclusive)
    }

    /// Registers a listening socket (bound here, or handed in) and puts it
    /// in the slab; connections get handlers from `factory`.
    pub(crate) fn add_listener<H, F>(
        &mut self,
        mut socket: ListenSocket,
        file: Option<SocketFile>,
        opts: ListenOptions,
        mut factory: F,
        ownership: Ownership,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        let key = self.next_key()?;
        self.registry
            .register(socket.source(), key.token(), Interest::READABLE)?;
        let id = ListenerId(key);
        let listener = Listener {
            id,
            socket,
            _file: file,
            conn_opts: Rc::new(opts.conn),
            max_connections: opts.max_connections,
            accept_budget: opts.accept_budget.max(1),
            factory: Box::new(move || Box::new(factory())),
            ownership,
            readable: true,
            queued: false,
            paused: Paused::default(),
            backoff_ms: RETRY_MIN_MS,
            open: 0,
            last_error_log: None,
            errors_since_log: 0,
        };
        let slot = self.entries.insert(Entry::Listener(Box::new(listener)));
        debug_assert_eq!(slot, key.slot());
        // Connections may already be queued: try at once.
        self.enqueue(slot);
        Ok(id)
    }

    fn listener_mut(&mut self, id: ListenerId) -> Option<&mut Listener<S>> {
        match self.entries.get_mut(id.0.slot()) {
            Some(Entry::Listener(l)) if l.id == id => Some(l),
            _ => None,
        }
    }

    pub(crate) fn listener_addr(&self, id: ListenerId) -> io::Result<SocketAddr> {
        match self.entries.get(id.0.slot()) {
            Some(Entry::Listener(l)) if l.id == id => l.socket.local_addr(),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such listener")),
        }
    }

    /// The address a Unix listener is bound to.
    pub(crate) fn unix_listener_addr(
        &self,
        id: ListenerId,
    ) -> io::Result<std::os::unix::net::SocketAddr> {
        match self.entries.get(id.0.slot()) {
            Some(Entry::Listener(l)) if l.id == id => match &l.socket {
                ListenSocket::Unix(u) => u.local_addr(),
                ListenSocket::Tcp(_) => Err(crate::error::Error::Unsupported(
                    "unix_listener_addr: a TCP listener (see listener_addr)",
                )
                .into()),
            },
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such listener")),
        }
    }

    /// Stops accepting and closes the listening socket.
    pub(crate) fn close_listener(&mut self, id: ListenerId) -> bool {
        if self.listener_mut(id).is_none() {
            return false;
        }
        if let Entry::Listener(mut l) = self.entries.remove(id.0.slot()) {
            let _ = self.registry.deregister(l.socket.source());
        }
        true
    }

    /// A duplicate of every TCP listening socket (same socket, new
    /// descriptor), to hand to another process.
    /// From then on, a shutdown leaves their accept queues to the other
    /// process.
    pub(crate) fn listener_sockets(&mut self) -> io::Result<Vec<std::net::TcpListener>> {
        self.entries
            .iter_mut()
            .filter_map(|(_, e)| match e {
                Entry::Listener(l) => match &l.socket {
                    ListenSocket::Tcp(socket) => {
                        l.ownership = Ownership::Shared;
                        Some(SockRef::from(socket).try_clone().map(Into::into))
                    }
                    ListenSocket::Unix(_) => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Ids of all listeners.
    pub(crate) fn listener_ids(&self) -> Vec<ListenerId> {
        self.entries
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::Listener(l) => Some(l.id),
                _ => None,
            })
            .collect()
    }

    /// An event for a listener: connections may be waiting.
    pub(crate) fn listener_event(&mut self, slot: usize) {
        if let Some(Entry::Listener(l)) = self.entries.get_mut(slot) {
            l.readable = true;
            self.enqueue(slot);
        }
    }

    /// Accepts until the queue is empty, the budget is spent or accepting
    /// must pause.
    pub(crate) fn accept_ready(&mut self, state: &mut S, slot: usize) {
        let Some(Entry::Listener(l)) = self.entries.get(slot) else {
            return;
        };
        let budget = l.accept_budget;
        for _ in 0..budget {
            let Some(Entry::Listener(l)) = self.entries.get_mut(slot) else {
                return;
            };
            if l.paused != Paused::default() || !l.readable {
                return;
            }
            if l.max_connections.is_some_and(|max| l.open >= max) {
                l.paused.at_limit = true;
                log::debug!("{:?}: at max_connections, accepting paused", l.id);
                return;
            }
            match l.socket.accept() {
                Ok(stream) => {
                    l.backoff_ms = RETRY_MIN_MS;
                    self.metrics.accepted.bump(1);
                    let Some(handler) = l.handler_for(&stream) else {
                        self.metrics.panics.bump(1);
                        continue;
                    };
                    l.open += 1;
                    let origin = Origin::Accepted(l.id);
                    let opts = l.conn_opts.clone();
                    self.open_accepted(state, stream, opts, handler, origin);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    l.readable = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_connection_error(&e) => {
                    self.metrics.accept_errors.bump(1);
                    log::debug!("accept: skipped a failed connection: {e}");
                }
                Err(e) => {
                    self.metrics.accept_errors.bump(1);
                    self.pause_accepting(slot, e);
                    return;
                }
            }
        }
        // Budget spent: more may be queued; continue next turn.
        self.defer(slot);
    }

    /// Registers an accepted connection and runs its `on_open`.
    fn open_accepted(
        &mut self,
        state: &mut S,
        stream: Stream,
        opts: Rc<ConnOptions>,
        handler: Box<dyn Handler<S>>,
        origin: Origin,
    ) -> Option<usize> {
        let listener = match origin {
            Origin::Accepted(l) => l,
            Origin::Outbound(_) => unreachable!("accepted connections come from a listener"),
        };
        match self.add_conn(stream, ConnState::Open, opts, handler, origin) {
            Ok(slot) => {
                self.opened_or_handshaking(state, slot);
                Some(slot)
            }
            Err(e) => {
                log::warn!("accept: could not register a connection: {e}");
                self.listener_conn_closed(listener);
                None
            }
        }
    }

    /// Closes a listener at shutdown. If the socket is ours alone, the
    /// connections the kernel has already completed on it are accepted
    /// first: their clients believe they are connected and may have sent a
    /// request, and the close would reset them. They are kept in
    /// `drained` and opened by [`open_drained`](Self::open_drained).
    pub(crate) fn drain_and_close_listener(&mut self, id: ListenerId) {
        let listener = match self.entries.get_mut(id.0.slot()) {
            Some(Entry::Listener(l)) if l.id == id => l,
            _ => return,
        };
        if listener.ownership == Ownership::Exclusive {
            let before = self.drained.len();
            let panics = listener.take_queued(&mut self.drained);
            let taken = self.drained.len() - before;
            self.metrics.accepted.bump(taken as u64);
            self.metrics.panics.bump(panics);
            if taken > 0 {
                log::info!("{id:?}: {taken} queued connections accepted before closing");
            }
        }
        self.close_listener(id);
    }

    /// Opens the connections taken from closing listeners: each gets
    /// `on_open`, then `on_shutdown`.
    pub(crate) fn open_drained(&mut self, state: &mut S) {
        for d in std::mem::take(&mut self.drained) {
            let origin = Origin::Accepted(d.listener);
            if let Some(slot) = self.open_accepted(state, d.stream, d.opts, d.handler, origin) {
                if let Some(conn) = conn_at!(self, slot) {
                    conn.flags.insert(Flags::NOTIFY_SHUTDOWN);
                }
                self.enqueue(slot);
            }
        }
    }

    /// A resource error: stop accepting and retry later (or sooner, when
    /// one of our connections closes).
    fn pause_accepting(&mut self, slot: usize, err: io::Error) {
        let now = self.clock.now();
        let Some(Entry::Listener(l)) = self.entries.get_mut(slot) else {
            return;
        };
        l.paused.resource = true;
        l.errors_since_log += 1;
        if l.last_error_log.is_none_or(|t| now >= t + 1000) {
            log::warn!(
                "{:?}: accept failed ({err}); pausing for {} ms ({} errors since last report)",
                l.id,
                l.backoff_ms,
                l.errors_since_log
            );
            l.last_error_log = Some(now);
            l.errors_since_log = 0;
        }
        let deadline = now + l.backoff_ms;
        l.backoff_ms = (l.backoff_ms * 2).min(RETRY_MAX_MS);
        let id = l.id;
        self.timers
            .insert(deadline, None, TimerTask::AcceptRetry(id));
    }

    /// The retry timer fired.
    pub(crate) fn retry_accept(&mut self, id: ListenerId) {
        if let Some(l) = self.listener_mut(id) {
            if l.paused.resource {
                l.paused.resource = false;
                l.readable = true;
                self.enqueue(id.0.slot());
            }
        }
    }

    /// A connection accepted by `id` closed: a descriptor is free and the
    /// listener may be below its limit again.
    pub(crate) fn listener_conn_closed(&mut self, id: ListenerId) {
        let Some(l) = self.listener_mut(id) else {
            return;
        };
        l.open = l.open.saturating_sub(1);
        let below_limit = l.max_connections.is_none_or(|max| l.open < max);
        let mut resume = false;
        if l.paused.at_limit && below_limit {
            l.paused.at_limit = false;
            resume = true;
        }
        if l.paused.resource {
            // A descriptor was freed (at the end of this turn): try again now
            // rather than at the timer.
            l.paused.resource = false;
            resume = true;
        }
        if resume {
            // Queued connections raise no new edge: look for them.
            l.readable = true;
            let slot = id.0.slot();
            self.defer(slot);
        }
    }
}
