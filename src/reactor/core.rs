//! The reactor's state apart from the poller: the slab of listeners and
//! connections, the ready queue, timers and shared buffers.
//!
//! Everything that runs "on the loop" is a method of [`Core`]; the poller and
//! the event list stay in [`Reactor`](super::Reactor) so that a callback can
//! borrow the core mutably while the loop walks the events.

use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;
use mio::{Interest, Registry};
use slab::Slab;

use crate::conn::options::ConnOptions;
use crate::conn::read::{ReadEnd, SCRATCH_SIZE};
use crate::conn::state::ConnState;
use crate::conn::{Conn, Flags, Origin};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::reactor::handler::Handler;
use crate::reactor::listener::{Drained, Listener};
use crate::reactor::schedule::TimerTask;
use crate::reactor::source::SourceEntry;
use crate::timer::{Clock, TimerQueue};
use crate::token::{ConnId, Key, MAX_SLOTS, generation_seed};

/// Input buffers kept for reuse by connections holding a partial message.
const INPUT_POOL_MAX: usize = 64;
/// Pooled input buffers larger than this are freed instead of kept.
const INPUT_POOL_BUF_MAX: usize = 64 * 1024;

/// The slots with work this turn, first in first out: a vector read from
/// the front, emptied whenever it has been read to the end (cheaper than a
/// ring buffer, and its size stays bounded by what is queued at once).
#[derive(Default)]
struct ReadyQueue {
    slots: Vec<usize>,
    /// Index of the next slot to hand out.
    next: usize,
}

impl ReadyQueue {
    #[inline]
    fn push(&mut self, slot: usize) {
        self.slots.push(slot);
    }

    #[inline]
    fn pop(&mut self) -> Option<usize> {
        let slot = *self.slots.get(self.next)?;
        self.next += 1;
        if self.next == self.slots.len() {
            self.slots.clear();
            self.next = 0;
        }
        Some(slot)
    }

    fn is_empty(&self) -> bool {
        self.next == self.slots.len()
    }
}

/// What an event says about a socket, as connection flags. The usual
/// event (input, nothing else) is told apart with fewer tests.
#[inline]
fn readiness(event: &mio::event::Event) -> Flags {
    // Tests of the event's bits, cheapest and most decisive first.
    if !event.is_writable() && !event.is_error() && !event.is_read_closed() && event.is_readable() {
        return Flags::READABLE;
    }
    let hangup = event.is_read_closed() || event.is_error();
    let mut f = Flags::default();
    if event.is_readable() || hangup {
        f.insert(Flags::READABLE);
    }
    if event.is_writable() || event.is_write_closed() {
        f.insert(Flags::WRITABLE);
    }
    if hangup {
        f.insert(Flags::HANGUP_HINT);
    }
    if event.is_error() {
        f.insert(Flags::ERROR_SEEN);
    }
    f
}

/// A connection of a reactor whose shared state is `S`: its handler is
/// boxed (each connection may have its own handler type).
pub(crate) type LiveConn<S> = Conn<Box<dyn Handler<S>>>;

/// One slab entry. Connections are stored inline (no allocation per
/// connection); the rarer, larger listeners are boxed.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Entry<S> {
    Conn(LiveConn<S>),
    Listener(Box<Listener<S>>),
    /// A foreign event source (`reactor::source`).
    Source(SourceEntry<S>),
}

/// The loop's state.
pub(crate) struct Core<S> {
    /// Listeners and connections; slots are freed only at the end of a turn.
    pub(crate) entries: Slab<Entry<S>>,
    pub(crate) registry: Registry,
    pub(crate) clock: Clock,
    pub(crate) timers: TimerQueue<TimerTask<S>>,
    /// Slots with work this turn, each at most once (`Flags::QUEUED`).
    ready: ReadyQueue,
    /// Slots that used their budget: they go first next turn, and make the
    /// next poll non-blocking so their readiness is not lost.
    deferred: Vec<usize>,
    /// Slots that reached Closed this turn, freed at its end.
    dead: Vec<usize>,
    /// The shared read buffer, lent to one connection at a time; taken
    /// out for a whole `run_ready` so that reads can lend it to `on_read`
    /// by reference while the handler's context borrows the core.
    scratch: BytesMut,
    /// The decrypted input of a TLS read, reused like `scratch`.
    #[cfg(feature = "tls")]
    pub(crate) tls_plain: BytesMut,
    input_pool: Vec<BytesMut>,
    /// Connections taken from listeners closed by a shutdown, not yet
    /// opened (`Core::open_drained`).
    pub(crate) drained: Vec<Drained<S>>,
    pub(crate) index: u8,
    next_generation: u32,
    /// Open connections (not yet Closed).
    pub(crate) live_conns: usize,
    pub(crate) metrics: Arc<Metrics>,
    /// Set by `stop()`: the loop ends after this turn.
    pub(crate) stopping: bool,
    /// Set by `shutdown()`: listeners are gone, connections finishing.
    pub(crate) shutting_down: bool,
    /// When the graceful shutdown's grace period ends.
    pub(crate) shutdown_deadline: Option<crate::timer::Tick>,
    /// Time every callback into the metrics (off by default).
    pub(crate) time_callbacks: bool,
    /// Rate limit of the warning for dropped handle requests.
    dropped_log: DroppedLog,
    /// Where other threads working for the loop (the resolver) post their
    /// results; unset only in unit tests of the core.
    pub(crate) poster: Option<Arc<crate::reactor::handle::Shared<S>>>,
}

/// When the last dropped handle request was logged, and how many were not.
#[derive(Default)]
struct DroppedLog {
    last: Option<crate::timer::Tick>,
    unlogged: u64,
}

impl<S: 'static> Core<S> {
    pub(crate) fn new(registry: Registry, index: u8, metrics: Arc<Metrics>) -> Self {
        Core {
            entries: Slab::new(),
            registry,
            clock: Clock::new(),
            timers: TimerQueue::new(),
            ready: ReadyQueue::default(),
            deferred: Vec::new(),
            dead: Vec::new(),
            scratch: BytesMut::with_capacity(SCRATCH_SIZE),
            #[cfg(feature = "tls")]
            tls_plain: BytesMut::new(),
            input_pool: Vec::new(),
            drained: Vec::new(),
            index,
            next_generation: generation_seed(),
            live_conns: 0,
            metrics,
            stopping: false,
            shutting_down: false,
            shutdown_deadline: None,
            poster: None,
            time_callbacks: false,
            dropped_log: DroppedLog::default(),
        }
    }

    /// A fresh key for the slot the slab will hand out next.
    pub(crate) fn next_key(&mut self) -> Result<Key> {
        let slot = self.entries.vacant_key();
        if slot >= MAX_SLOTS {
            return Err(Error::Io(std::io::Error::other("reactor slab is full")));
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        Ok(Key::new(slot, self.index, generation))
    }

    /// Inserts and registers a new connection; the caller runs `on_open`.
    pub(crate) fn add_conn(
        &mut self,
        mut stream: crate::conn::stream::Stream,
        state: ConnState,
        opts: Rc<ConnOptions>,
        handler: Box<dyn Handler<S>>,
        origin: Origin,
    ) -> Result<usize> {
        let key = self.next_key()?;
        // Write interest only while the socket connects: the connect's
        // completion is a writable edge. (An accepted TLS connection is
        // `Connecting` too, but its socket is up: its handshake sends get
        // write interest only if the kernel does not take them, as any send.)
        let socket_connecting = state == ConnState::Connecting;
        // A TLS connection is connecting until its handshake completes.
        #[cfg(feature = "tls")]
        let (tls, state) = match &opts.tls {
            Some(setup) => {
                let connected = state != ConnState::Connecting;
                (
                    Some(Box::new(setup.session(connected)?)),
                    ConnState::Connecting,
                )
            }
            None => (None, state),
        };
        let interest = if socket_connecting {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.registry.register(&mut stream, key.token(), interest)?;
        let id = ConnId(key);
        let now = self.clock.now();
        let mut conn = Conn::new(id, stream, state, opts, handler, origin, now);
        #[cfg(feature = "tls")]
        {
            conn.tls = tls;
        }
        if socket_connecting {
            conn.flags.insert(Flags::WRITE_INTEREST);
        }
        let slot = self.entries.insert(Entry::Conn(conn));
        debug_assert_eq!(slot, key.slot());
        self.live_conns += 1;
        self.metrics.open.set(self.live_conns as u64);
        self.arm_idle_timer(slot);
        Ok(slot)
    }

    #[inline]
    pub(crate) fn conn(&self, slot: usize) -> Option<&LiveConn<S>> {
        match self.entries.get(slot) {
            Some(Entry::Conn(c)) => Some(c),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn conn_mut(&mut self, slot: usize) -> Option<&mut LiveConn<S>> {
        match self.entries.get_mut(slot) {
            Some(Entry::Conn(c)) => Some(c),
            _ => None,
        }
    }

    /// The slot of a live (not yet freed) connection, checking generation
    /// and reactor so stale and foreign ids are refused.
    #[inline]
    pub(crate) fn slot_of(&self, id: ConnId) -> Result<usize> {
        if id.0.reactor() != self.index {
            return Err(Error::ForeignConn);
        }
        let slot = id.0.slot();
        match self.entries.get(slot) {
            Some(Entry::Conn(c)) if c.id == id => Ok(slot),
            _ => Err(Error::NoSuchConn),
        }
    }

    /// Puts a slot on the ready queue (once).
    #[inline]
    pub(crate) fn enqueue(&mut self, slot: usize) {
        match self.entries.get_mut(slot) {
            Some(Entry::Conn(c)) if !c.flags.has(Flags::QUEUED) => {
                c.flags.insert(Flags::QUEUED);
                self.ready.push(slot);
            }
            Some(Entry::Listener(l)) if !l.queued => {
                l.queued = true;
                self.ready.push(slot);
            }
            Some(Entry::Source(s)) => {
                let fresh = s.mark_queued();
                if fresh {
                    self.ready.push(slot);
                }
            }
            _ => {}
        }
    }

    /// Keeps a slot for the next turn (its budget ran out).
    pub(crate) fn defer(&mut self, slot: usize) {
        self.deferred.push(slot);
    }

    /// Whether the next poll must not block.
    pub(crate) fn has_pending_work(&self) -> bool {
        !self.ready.is_empty() || !self.deferred.is_empty() || !self.drained.is_empty()
    }

    /// Moves deferred slots to the ready queue for the next turn.
    pub(crate) fn requeue_deferred(&mut self) {
        let mut deferred = std::mem::take(&mut self.deferred);
        for slot in deferred.drain(..) {
            self.enqueue(slot);
        }
        self.deferred = deferred;
    }

    /// Records a slot that reached Closed; it is freed at the end of the turn.
    pub(crate) fn bury(&mut self, slot: usize) {
        self.dead.push(slot);
    }

    /// Frees the slots of connections closed this turn (closing their
    /// sockets); returns how many.
    pub(crate) fn free_dead(&mut self) -> usize {
        let n = self.dead.len();
        let mut dead = std::mem::take(&mut self.dead);
        for slot in dead.drain(..) {
            if matches!(self.entries.get(slot), Some(Entry::Conn(c)) if c.state() == ConnState::Closed)
                || matches!(self.entries.get(slot), Some(Entry::Source(s)) if s.is_dead())
            {
                // Dropping the stream closes the fd, which also removes it
                // from epoll (netloop never duplicates socket fds).
                self.entries.remove(slot);
            }
        }
        self.dead = dead;
        n
    }

    /// A buffer for a connection that keeps a partial message.
    pub(crate) fn take_input_buf(&mut self) -> BytesMut {
        self.input_pool.pop().unwrap_or_default()
    }

    /// Returns an emptied input buffer to the pool.
    pub(crate) fn recycle_input_buf(&mut self, mut buf: BytesMut) {
        if buf.capacity() > 0
            && buf.capacity() <= INPUT_POOL_BUF_MAX
            && self.input_pool.len() < INPUT_POOL_MAX
        {
            buf.clear();
            self.input_pool.push(buf);
        }
    }

    /// Slots of all connections (for shutdown and stop).
    pub(crate) fn conn_slots(&self) -> Vec<usize> {
        self.entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Conn(c) if c.state() != ConnState::Closed))
            .map(|(slot, _)| slot)
            .collect()
    }
}

/// The connection `id` and its slot, as [`Core::slot_of`] finds them, in
/// one lookup that borrows only the slab (so the core's other fields stay
/// usable while the connection is held).
#[inline]
pub(crate) fn conn_by_id<S>(
    entries: &mut Slab<Entry<S>>,
    reactor: u8,
    id: ConnId,
) -> Result<(usize, &mut LiveConn<S>)> {
    if id.0.reactor() != reactor {
        return Err(Error::ForeignConn);
    }
    own_conn_by_id(entries, id)
}

/// [`conn_by_id`] for an id known to be of this reactor: the running
/// callback's own (a context is only made for a connection of its reactor).
#[inline]
pub(crate) fn own_conn_by_id<S>(
    entries: &mut Slab<Entry<S>>,
    id: ConnId,
) -> Result<(usize, &mut LiveConn<S>)> {
    let slot = id.0.slot();
    match entries.get_mut(slot) {
        Some(Entry::Conn(c)) if c.id == id => Ok((slot, c)),
        _ => Err(Error::NoSuchConn),
    }
}

impl<S: 'static> Core<S> {
    /// Runs `f` on the connection `id`, if it exists.
    pub(crate) fn with_conn<T>(&self, id: ConnId, f: impl FnOnce(&LiveConn<S>) -> T) -> Result<T> {
        let slot = self.slot_of(id)?;
        self.conn(slot).map(f).ok_or(Error::NoSuchConn)
    }

    /// The lifecycle state of `id`.
    pub(crate) fn conn_state(&self, id: ConnId) -> Result<ConnState> {
        self.with_conn(id, |c| c.visible_state())
    }

    /// Records a state change for `id`, applied by the loop after the
    /// running callback (if any) returns.
    pub(crate) fn request(&mut self, id: ConnId, intent: crate::conn::Intent) -> Result<()> {
        let slot = self.slot_of(id)?;
        let conn = self.conn_mut(slot).ok_or(Error::NoSuchConn)?;
        if conn.state() == ConnState::Closed {
            return Err(Error::NoSuchConn);
        }
        conn.request(intent);
        self.enqueue(slot);
        Ok(())
    }

    /// A connection just accepted or adopted: `on_open`, or on a TLS
    /// connection the handshake's deadline (`on_open` comes after it).
    pub(crate) fn opened_or_handshaking(&mut self, state: &mut S, slot: usize) {
        #[cfg(feature = "tls")]
        if self
            .conn(slot)
            .is_some_and(|c| c.state() == ConnState::Connecting)
        {
            self.arm_handshake_deadline(slot);
            // A client's hello goes first (an adopted stream may be one).
            return self.tls_pump(slot);
        }
        self.opened(state, slot);
    }

    /// The connection is established: run `on_open`.
    pub(crate) fn opened(&mut self, state: &mut S, slot: usize) {
        self.dispatch(state, slot, |h, ctx| h.on_open(ctx));
        self.apply_pending(state, slot);
    }

    /// A request posted through a handle found its connection gone (or
    /// refused it): counted, and logged at most once a second.
    pub(crate) fn handle_request_dropped(&mut self, what: &str, id: ConnId, err: &Error) {
        self.metrics.handle_requests_dropped.bump(1);
        let now = self.clock.now();
        if self.dropped_log.last.is_some_and(|t| now < t + 1000) {
            self.dropped_log.unlogged += 1;
            return;
        }
        let unlogged = std::mem::take(&mut self.dropped_log.unlogged);
        self.dropped_log.last = Some(now);
        log::warn!(
            "handle {what} to {id} dropped: {err} ({unlogged} more dropped since the last warning)"
        );
    }

    pub(crate) fn metrics_snapshot(&self) -> crate::metrics::MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Records what an event said about a socket and queues its slot.
    /// Events for freed or reused slots (stale generation) are dropped.
    #[inline]
    pub(crate) fn record_event(&mut self, event: &mio::event::Event) {
        let key = Key::from_token(event.token());
        let slot = key.slot();
        match self.entries.get_mut(slot) {
            Some(Entry::Conn(c)) if c.id.0 == key => {
                let was = c.flags;
                c.flags.insert(readiness(event) | Flags::QUEUED);
                if !was.has(Flags::QUEUED) {
                    self.ready.push(slot);
                }
            }
            Some(Entry::Listener(l)) if l.id.0 == key => self.listener_event(slot),
            Some(Entry::Source(s)) if s.key() == key => self.source_event(slot, event),
            _ => {}
        }
    }

    /// Processes the ready queue until it is empty (connections that used
    /// their budget wait in `deferred` for the next turn).
    pub(crate) fn run_ready(&mut self, state: &mut S) {
        let mut scratch = std::mem::take(&mut self.scratch);
        loop {
            while let Some(slot) = self.ready.pop() {
                self.process_slot(state, slot, &mut scratch);
            }
            if self.drained.is_empty() {
                break;
            }
            self.open_drained(state);
        }
        self.scratch = scratch;
    }

    /// Does what a queued connection's readiness allows (flush, read,
    /// callbacks) and applies what its handler asked for; or accepts, for a
    /// listener.
    fn process_slot(&mut self, state: &mut S, slot: usize, scratch: &mut BytesMut) {
        let mut conn = match self.entries.get_mut(slot) {
            Some(Entry::Conn(c)) => c,
            Some(Entry::Listener(l)) => {
                l.queued = false;
                return self.accept_ready(state, slot);
            }
            Some(Entry::Source(_)) => return self.source_ready(state, slot),
            None => return,
        };
        conn.flags.remove(Flags::QUEUED);
        match conn.state() {
            ConnState::Closed => return,
            #[cfg(feature = "tls")]
            ConnState::Connecting if conn.tls.as_ref().is_some_and(|t| t.wire_up()) => {
                return self.tls_handshake_turn(state, slot, scratch);
            }
            ConnState::Connecting => return self.process_connecting(state, slot),
            // Between attempts: no socket to serve (events of the last one
            // may still arrive this turn); only requests (a close) apply.
            ConnState::Reconnecting => return self.apply_pending(state, slot),
            _ => {}
        }
        if conn.has_work() {
            self.apply_pending(state, slot);
            let Some(c) = conn_at!(self, slot) else {
                return;
            };
            conn = c;
        }
        if conn.flags.has(Flags::WRITABLE) && !conn.send.is_empty() && conn.state().flushes() {
            self.flush(state, slot);
            self.apply_pending(state, slot);
        }
        if self.read_ready(state, slot, scratch) == ReadEnd::Settled {
            return;
        }
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.flags.has(Flags::ERROR_SEEN) {
            self.check_error_while_idle(state, slot);
        }
        self.apply_pending(state, slot);
    }

    /// A connection still connecting: first what its handler asked for
    /// (close abandons the attempt, other requests wait for the handshake),
    /// then the handshake's outcome, if an event told it. Both, in this
    /// order: the event that ends the handshake comes only once (edge
    /// triggered), so a request queued in the same turn must not hide it.
    fn process_connecting(&mut self, state: &mut S, slot: usize) {
        self.apply_pending(state, slot);
        if self
            .conn(slot)
            .is_some_and(|c| c.state() == ConnState::Connecting)
        {
            self.finish_connect(state, slot);
        }
    }

    /// An error event on a connection that neither reads (paused, input
    /// full, closing) nor has bytes to write would go unnoticed: fetch the
    /// error with `SO_ERROR` and close with it. (Reading first is right in
    /// general, since `take_error` consumes the error and the next read then
    /// looks like a clean EOF; here no read will happen.)
    fn check_error_while_idle(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if !conn.flags.take(Flags::ERROR_SEEN) || conn.state() == ConnState::Closed {
            return;
        }
        if conn.flags.has(Flags::READABLE)
            && !conn.flags.has(Flags::READ_PAUSED)
            && !conn.flags.has(Flags::INPUT_FULL)
            && (conn.state().delivers_input() || conn.state().discards_input())
        {
            // The read path will meet the error.
            return;
        }
        if let Ok(Some(e)) | Err(e) = conn.stream.take_error() {
            self.fail(state, slot, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::handler::Discard;
    use std::io::Write;

    fn core() -> (mio::Poll, Core<()>) {
        let poll = mio::Poll::new().unwrap();
        let registry = poll.registry().try_clone().unwrap();
        (poll, Core::new(registry, 0, Arc::default()))
    }

    fn stream_pair() -> (std::net::TcpStream, mio::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        (c, mio::net::TcpStream::from_std(s))
    }

    /// mio may return an event for a socket closed earlier in the same turn
    /// (mio #219) and the slab reuses the freed slot first: the event's
    /// token carries the old generation and must not reach the new occupant.
    #[test]
    fn a_stale_event_does_not_reach_the_connection_in_the_reused_slot() {
        let (_poll, mut core) = core();
        let opts = Rc::new(ConnOptions::default());
        let (_c1, s1) = stream_pair();
        let old_slot = core
            .add_conn(
                s1.into(),
                ConnState::Open,
                opts.clone(),
                Box::new(Discard),
                Origin::Outbound(None),
            )
            .unwrap();
        let old_key = core.conn(old_slot).unwrap().id.0;
        let _ = core.conn_mut(old_slot).unwrap().enter_closed();
        core.bury(old_slot);
        core.free_dead();
        let (_c2, s2) = stream_pair();
        let new_slot = core
            .add_conn(
                s2.into(),
                ConnState::Open,
                opts,
                Box::new(Discard),
                Origin::Outbound(None),
            )
            .unwrap();
        assert_eq!(new_slot, old_slot, "the slab reuses the freed slot");

        // A real readable event carrying the old connection's token.
        let mut other_poll = mio::Poll::new().unwrap();
        let (mut peer, stale) = stream_pair();
        let mut stale = stale;
        other_poll
            .registry()
            .register(&mut stale, old_key.token(), mio::Interest::READABLE)
            .unwrap();
        peer.write_all(b"x").unwrap();
        let mut events = mio::Events::with_capacity(4);
        while events.is_empty() {
            other_poll
                .poll(&mut events, Some(std::time::Duration::from_secs(5)))
                .unwrap();
        }
        let event = events.iter().next().unwrap();
        assert_eq!(Key::from_token(event.token()).slot(), new_slot);

        core.record_event(event);
        let conn = core.conn(new_slot).unwrap();
        assert!(
            !conn.flags.has(Flags::READABLE),
            "the stale event marked the new connection"
        );
        assert!(
            core.ready.pop().is_none(),
            "the stale event queued the slot"
        );
    }

    /// A readable event from a socket registered (in another poll) under
    /// `token`.
    fn readable_event_with(token: mio::Token) -> mio::Events {
        let mut other_poll = mio::Poll::new().unwrap();
        let mut socket = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        other_poll
            .registry()
            .register(&mut socket, token, mio::Interest::READABLE)
            .unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"x", socket.local_addr().unwrap()).unwrap();
        let mut events = mio::Events::with_capacity(4);
        while events.is_empty() {
            other_poll
                .poll(&mut events, Some(std::time::Duration::from_secs(5)))
                .unwrap();
        }
        events
    }

    /// The same for event sources: a deregistered source's slot goes to
    /// the next source, and an event with the old source's token does not
    /// queue the new one (an event with the new token does).
    #[test]
    fn a_stale_event_does_not_reach_the_source_in_the_reused_slot() {
        let (_poll, mut core) = core();
        let udp = || mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let old = core
            .register_source(udp(), mio::Interest::READABLE, |_, _, _, _| {})
            .unwrap();
        core.deregister_source(old).unwrap();
        core.free_dead();
        let new = core
            .register_source(udp(), mio::Interest::READABLE, |_, _, _, _| {})
            .unwrap();
        assert_eq!(new.0.slot(), old.0.slot(), "the slab reuses the freed slot");

        let stale = readable_event_with(old.0.token());
        core.record_event(stale.iter().next().unwrap());
        assert!(
            core.ready.pop().is_none(),
            "the stale event queued the new source"
        );
        let fresh = readable_event_with(new.0.token());
        core.record_event(fresh.iter().next().unwrap());
        assert_eq!(core.ready.pop(), Some(new.0.slot()));
    }
}
