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
//! - [`listener`], [`connector`]: where connections come from;
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
pub(crate) mod schedule;
pub(crate) mod shutdown;
pub(crate) mod source;
pub(crate) mod steps;
pub(crate) mod vectored;
pub(crate) mod writing;

use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Waker};

use crate::conn::connect::ConnectOptions;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::reactor::handler::Handler;
use crate::token::{ConnId, ListenerId, WAKER_TOKEN};
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
        Ok(Reactor {
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            core: Core::new(registry, index, metrics),
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

    /// The address a listener is bound to.
    pub fn listener_addr(&self, id: ListenerId) -> io::Result<SocketAddr> {
        self.core.listener_addr(id)
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
            || (self.core.shutting_down && self.core.live_conns == 0)
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
