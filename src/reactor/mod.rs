//! The reactor: one thread, one `mio::Poll`, one hand-written loop.
//!
//! A turn of the loop:
//!
//! 1. `epoll_wait`, with a timeout of 0 if connections are waiting from the
//!    last turn (budget spent), else until the nearest timer;
//! 2. each event only records readiness on its connection (by token, with
//!    the generation checked) and queues the slot once;
//! 3. closures posted from other threads run, in order;
//! 4. queued slots are processed: flush, read under a budget, callbacks,
//!    then the state changes those callbacks asked for;
//! 5. due timers run;
//! 6. slots of connections closed during the turn are freed.
//!
//! - [`core`]: the slab, the ready queue, events and buffers;
//! - [`listener`], [`connector`], [`resolve`], [`adopt`]: where
//!   connections come from (bound or connected here, by name, or handed in);
//! - [`steps`]: carries out what a connection's transitions return, and
//!   the one `close_now`;
//! - [`reading`], [`writing`]: the I/O paths and their callbacks;
//!   [`vectored`]: sends of several parts; [`cork`]: a callback's sends
//!   held back and written together;
//! - [`conn_timers`], [`schedule`]: idle, stall and deadline timers, and
//!   what every timer does (the queue itself is `crate::timer`);
//! - [`handler`], [`ctx`], [`dispatch`]: the callbacks, what they see and
//!   how they are called;
//! - [`handle`], [`shutdown`]: other threads, and ending the loop;
//! - [`source`]: other event sources (pipes, UDP sockets, signals) with
//!   their own callbacks.
//!
//! Ids and tokens (`crate::token`) and the per-connection record
//! (`crate::conn`) sit below the loop; nothing there imports it.

pub(crate) mod adopt;
pub(crate) mod conn_timers;
pub(crate) mod connector;
pub(crate) mod core;
pub(crate) mod cork;
pub(crate) mod ctx;
pub(crate) mod dispatch;
pub(crate) mod handle;
pub mod handler;
pub(crate) mod listener;
pub(crate) mod reading;
pub(crate) mod resolve;
pub(crate) mod schedule;
pub(crate) mod shutdown;
pub(crate) mod source;
pub(crate) mod steps;
#[cfg(feature = "tls")]
pub(crate) mod tls;
pub(crate) mod vectored;
pub(crate) mod writing;

use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Waker};

use crate::conn::connect::{ConnectOptions, Target};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::reactor::handler::Handler;
use crate::token::{ConnId, ListenerId, WAKER_TOKEN};
use crate::unix::UnixAddr;
use core::Core;
use ctx::ReactorCtx;
use handle::{ReactorHandle, Shared, Task};
use listener::ListenOptions;

/// Events taken from the kernel per `epoll_wait`.
const EVENTS_PER_POLL: usize = 1024;

/// A single-threaded event loop owning listeners and connections.
///
/// `S` is shared state every callback can reach through
/// [`ReactorCtx::shared`] (a chat room, a connection pool, counters); it
/// defaults to `()`.
///
/// ```no_run
/// use netloop::{Reactor, ListenOptions, handler::Echo};
///
/// let mut reactor = Reactor::new()?;
/// reactor.listen("127.0.0.1:7000".parse().unwrap(), ListenOptions::default(), || Echo)?;
/// reactor.run()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Reactor<S: 'static = ()> {
    poll: Poll,
    events: Events,
    core: Core<S>,
    state: S,
    shared: Arc<Shared<S>>,
    /// Reused buffer for posted tasks.
    tasks: Vec<Task<S>>,
    finished: bool,
}

impl Reactor<()> {
    /// A reactor without shared state.
    pub fn new() -> io::Result<Reactor<()>> {
        Reactor::with_state(())
    }
}

impl<S: 'static> Reactor<S> {
    /// A reactor whose callbacks share `state`.
    pub fn with_state(state: S) -> io::Result<Reactor<S>> {
        Reactor::build(state, 0)
    }

    /// A reactor with index `index` (carried by its ids; see [`ConnId::reactor`]).
    pub(crate) fn build(state: S, index: u8) -> io::Result<Reactor<S>> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)?;
        let metrics = Arc::new(Metrics::default());
        let shared = Arc::new(Shared::new(waker, metrics.clone(), index));
        let mut core = Core::new(registry, index, metrics);
        core.poster = Some(shared.clone());
        Ok(Reactor {
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            core,
            state,
            shared,
            tasks: Vec::new(),
            finished: false,
        })
    }

    /// Listens on `addr`. Every accepted connection gets a handler from
    /// `factory`. Returns the listener's id; [`listener_addr`](Self::listener_addr)
    /// gives the bound address (useful with port 0).
    pub fn listen<H, F>(
        &mut self,
        addr: SocketAddr,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        self.core.listen(addr, opts, factory)
    }

    /// The address a listener is bound to. For a Unix listener: an
    /// `Unsupported` error (see [`unix_listener_addr`](Self::unix_listener_addr)).
    pub fn listener_addr(&self, id: ListenerId) -> io::Result<SocketAddr> {
        self.core.listener_addr(id)
    }

    /// Listens on a Unix domain stream socket: a path (`"/run/app.sock"`,
    /// a `Path`) or an abstract name ([`UnixAddr::abstract_name`]).
    /// Connections get the same callbacks as TCP ones (backpressure, water
    /// marks, half-close, lingering close, one `on_close`); the handler can
    /// ask who connected with [`Ctx::peer_cred`](crate::Ctx::peer_cred).
    ///
    /// The socket file the bind creates is removed when the listener is
    /// closed ([`ReactorCtx::close_listener`]) or the reactor dropped
    /// (not if the process dies; then see below), unless another socket
    /// has replaced it meanwhile. A file already at the path fails the
    /// listen with `AddrInUse` and a message naming the path and saying
    /// whether a live listener or a stale file is there;
    /// [`ListenOptions::unlink_stale`] removes a stale one (nobody listens)
    /// and binds. TCP-only options fail the listen with an `Unsupported`
    /// error (see [`ConnOptions`](crate::ConnOptions)), and so does
    /// `reuse_port`; `reuse_address` and `only_v6` do not apply.
    ///
    /// ```
    /// use netloop::{ListenOptions, Reactor, handler::Echo};
    ///
    /// let path = std::env::temp_dir().join(format!("netloop-doc-{}.sock", std::process::id()));
    /// let mut reactor = Reactor::new()?;
    /// let id = reactor.listen_unix(&path, ListenOptions::default(), || Echo)?;
    /// assert!(path.exists());
    /// assert_eq!(reactor.unix_listener_addr(id)?.as_pathname(), Some(path.as_path()));
    /// reactor.ctx().close_listener(id);
    /// assert!(!path.exists(), "closing the listener removes its socket file");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen_unix<H, F>(
        &mut self,
        addr: impl Into<UnixAddr>,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        self.core.listen_unix(&addr.into(), opts, factory)
    }

    /// The address a Unix listener is bound to (an `Unsupported` error for
    /// a TCP one).
    pub fn unix_listener_addr(&self, id: ListenerId) -> io::Result<std::os::unix::net::SocketAddr> {
        self.core.unix_listener_addr(id)
    }

    /// Starts connecting to `addr`. Success runs `on_open`; failure runs
    /// [`on_connect_error`](Handler::on_connect_error) with a classified
    /// error, then `on_close`. Bytes sent before the connection is up are
    /// queued. Returns an error only if no socket could be created.
    ///
    /// With [`ConnectOptions::reconnect`] the returned id stays the
    /// connection's for its whole life: a failed attempt runs
    /// `on_connect_error`, a lost connection
    /// [`on_disconnect`](Handler::on_disconnect), and the next attempt
    /// (same id, same handler) follows after the backoff's delay; between
    /// attempts sends fail with [`Error::NotConnected`](crate::Error::NotConnected).
    /// `on_close` comes once, when it is closed or stops reconnecting.
    pub fn connect<H: Handler<S>>(
        &mut self,
        addr: SocketAddr,
        opts: ConnectOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        self.core.connect(addr, opts, Box::new(handler), None)
    }

    /// Starts connecting to `host`:`port`, a host name (or an address in
    /// text). The name is resolved off the loop's thread; its addresses are
    /// tried in order, and [`ConnectOptions::timeout`] spans the resolution
    /// and every try. A name that does not resolve fails with
    /// [`ConnectErrorKind::Unresolved`](crate::ConnectErrorKind::Unresolved);
    /// otherwise the handler sees the last address's failure. With a
    /// reconnect policy, the name is resolved again before every attempt.
    /// Everything else is as for [`connect`](Self::connect).
    ///
    /// ```
    /// use netloop::{ConnectOptions, Reactor, handler::Discard};
    /// let mut reactor = Reactor::new()?;
    /// let id = reactor.connect_host("localhost", 9, ConnectOptions::default(), Discard)?;
    /// assert_eq!(id.reactor(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_host<H: Handler<S>>(
        &mut self,
        host: &str,
        port: u16,
        opts: ConnectOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        self.core
            .connect_host(host, port, opts, Box::new(handler), None)
    }

    /// Starts connecting to a Unix domain stream socket (a path, or
    /// [`UnixAddr::abstract_name`]); otherwise as [`connect`](Self::connect),
    /// reconnects included. A Unix connect does not wait: it completes at
    /// once or fails, through `on_connect_error` as any failure (`Refused`
    /// when nothing listens on an existing socket file, `Other(NotFound)`
    /// without one, `Other(WouldBlock)` when the listener's backlog is
    /// full). TCP-only options (`ConnectOptions::bind`, and those listed on
    /// [`ConnOptions`](crate::ConnOptions)) make it return an `Unsupported`
    /// error.
    ///
    /// ```
    /// use netloop::handler::{Discard, Echo};
    /// use netloop::{ConnectOptions, ListenOptions, Reactor, UnixAddr};
    ///
    /// let name = UnixAddr::abstract_name(format!("netloop-doc-{}", std::process::id()));
    /// let mut reactor = Reactor::new()?;
    /// reactor.listen_unix(name.clone(), ListenOptions::default(), || Echo)?;
    /// let id = reactor.connect_unix(name, ConnectOptions::default(), Discard)?;
    /// reactor.turn(Some(std::time::Duration::from_millis(100)))?;
    /// assert!(reactor.ctx().conn(id).peer_cred().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_unix<H: Handler<S>>(
        &mut self,
        addr: impl Into<UnixAddr>,
        opts: ConnectOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        let target = Target::Unix(addr.into());
        self.core.connect_to(target, opts, Box::new(handler), None)
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ReactorHandle<S> {
        ReactorHandle::new(self.shared.clone())
    }

    /// A context to act on connections from outside any callback (when
    /// embedding the loop). Requested changes apply at the next turn.
    pub fn ctx(&mut self) -> ReactorCtx<'_, S> {
        ReactorCtx::new(&mut self.core, &mut self.state)
    }

    /// The shared state.
    pub fn shared(&mut self) -> &mut S {
        &mut self.state
    }

    /// Open connections (accepted, connecting or outbound).
    pub fn conn_count(&self) -> usize {
        self.core.live_conns
    }

    /// The reactor's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.core.metrics_snapshot()
    }

    /// Times every callback (handler callbacks, posted closures, reactor
    /// timer closures) into [`MetricsSnapshot::callback_nanos`]. Off by
    /// default: it costs two clock reads per callback. See also
    /// [`ReactorCtx::set_callback_timing`] to switch it from a handle.
    pub fn set_callback_timing(&mut self, on: bool) {
        self.core.time_callbacks = on;
    }

    /// Ends the loop after the current turn; see [`ReactorCtx::stop`].
    pub fn stop(&mut self) {
        self.core.stopping = true;
    }

    /// Starts a graceful shutdown; see [`ReactorCtx::shutdown`].
    pub fn shutdown(&mut self, grace: Duration) {
        self.core.begin_shutdown(grace);
    }

    /// Whether `run` would return: stopped, or shut down with no
    /// connection left.
    pub fn is_finished(&self) -> bool {
        self.finished
            || self.core.stopping
            || (self.core.shutting_down
                && self.core.live_conns == 0
                && self.core.drained.is_empty())
    }

    /// Runs turns until [`stop`](Self::stop), or until a
    /// [`shutdown`](Self::shutdown) has closed every connection. Returns
    /// the counters (connections served, closes by reason, bytes).
    pub fn run(&mut self) -> io::Result<MetricsSnapshot> {
        while !self.is_finished() {
            self.turn(None)?;
        }
        self.finish();
        Ok(self.metrics())
    }

    /// Runs one turn: waits up to `timeout` (`None`: until an event or the
    /// nearest timer) and handles what is ready. Returns the number of
    /// events. For embedding in another loop and for tests.
    // Kept out of `run`: inlined there it compiled to slightly costlier
    // per-event code (about 2 instructions per message, callgrind).
    #[inline(never)]
    pub fn turn(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let timeout = self.poll_timeout(timeout);
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => self.events.clear(),
            Err(e) => return Err(e),
        }
        let busy_since = Instant::now();
        self.core.clock.set(busy_since);
        let mut woken = false;
        let mut count = 0;
        for event in self.events.iter() {
            count += 1;
            if event.token() == WAKER_TOKEN {
                woken = true;
            } else {
                self.core.record_event(event);
            }
        }
        if woken {
            self.run_posted();
        }
        self.core.run_ready(&mut self.state);
        if self.core.fire_timers(&mut self.state) > 0 {
            self.core.run_ready(&mut self.state);
        }
        self.core.free_dead();
        self.core.requeue_deferred();
        let metrics = &self.core.metrics;
        metrics.turns.bump(1);
        metrics
            .busy_nanos
            .bump(busy_since.elapsed().as_nanos() as u64);
        metrics.timers_pending.set(self.core.timers.len() as u64);
        if self.core.stopping {
            self.finish();
        }
        Ok(count)
    }

    /// How long the next poll may block.
    fn poll_timeout(&mut self, user: Option<Duration>) -> Option<Duration> {
        if self.core.has_pending_work() {
            return Some(Duration::ZERO);
        }
        let Some(deadline) = self.core.timers.next_deadline() else {
            return user;
        };
        let now = self.core.clock.update();
        let until_timer = Duration::from_millis(deadline.saturating_sub(now));
        Some(user.map_or(until_timer, |u| u.min(until_timer)))
    }

    /// Runs closures posted through handles, in order.
    fn run_posted(&mut self) {
        let mut tasks = std::mem::take(&mut self.tasks);
        self.shared.take_tasks(&mut tasks);
        for task in tasks.drain(..) {
            let started = Metrics::callback_started(self.core.time_callbacks);
            let mut rc = ReactorCtx::new(&mut self.core, &mut self.state);
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| task(&mut rc))) {
                dispatch::discard_panic(payload);
                log::error!("a closure posted to the reactor panicked");
                self.core.metrics.panics.bump(1);
            }
            let metrics = &self.core.metrics;
            metrics.callback_finished(started);
            metrics.posted.bump(1);
        }
        self.tasks = tasks;
    }

    /// Aborts what is still open (each connection gets its `on_close`),
    /// closes the listeners and refuses further posts.
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.core.stopping = true;
        // An on_close may open new connections; abort those too.
        for _ in 0..8 {
            self.core.abort_all(&mut self.state);
            self.core.free_dead();
            if self.core.live_conns == 0 {
                break;
            }
        }
        self.core.drop_sources();
        drop(self.shared.close());
    }
}

impl<S: 'static> Drop for Reactor<S> {
    fn drop(&mut self) {
        self.finish();
    }
}
