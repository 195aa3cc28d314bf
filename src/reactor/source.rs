//! Foreign event sources: any other [`mio::event::Source`] (a pipe, a UDP
//! socket, a signal or timer descriptor) registered on the loop with its own
//! callback.
//!
//! A source lives in the same slab as listeners and connections, under a
//! key with a generation ([`SourceId`]), so an event for a source that was
//! deregistered (and whose slot was reused) is dropped like a stale
//! connection event. Its callback is taken out of the slot while it runs
//! (so the callback can reach the whole loop through its [`ReactorCtx`]),
//! runs under `catch_unwind` (a panic deregisters and drops that source
//! only), and may deregister its own source: the source is then dropped
//! when the callback returns. Deregistering removes the source from epoll
//! and drops (closes) it at once, or hands it back
//! ([`ReactorCtx::take_source`]); its slot is freed at the end of the turn.
//! A stopped reactor drops every source.
//!
//! Events are edge-triggered, as for every mio source: the callback should
//! read until the source would block, or it may not hear from it again
//! (there is no read budget for sources: one that never runs dry holds the
//! loop). Sources do not keep a reactor running: `run()` returns after a
//! graceful shutdown once the connections are gone, whatever sources are
//! registered, and then drops them.

use std::any::{Any, TypeId};
use std::io;
use std::panic::{self, AssertUnwindSafe};

use mio::event::Source;
use mio::{Interest, Registry};

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::reactor::Reactor;
use crate::reactor::core::{Core, Entry};
use crate::reactor::ctx::ReactorCtx;
use crate::reactor::dispatch::discard_panic;
use crate::token::Key;

/// Names one registered source of a reactor for its whole registration;
/// once deregistered, the id names nothing (operations on it fail with
/// [`Error::NoSuchSource`]), even if a later source takes the same slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub(crate) Key);

impl std::fmt::Debug for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceId({:?})", self.0)
    }
}

/// What the events since the last callback said about a source.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness(u8);

impl Readiness {
    const READABLE: u8 = 1;
    const WRITABLE: u8 = 1 << 1;
    const READ_CLOSED: u8 = 1 << 2;
    const WRITE_CLOSED: u8 = 1 << 3;
    const ERROR: u8 = 1 << 4;

    fn of(event: &mio::event::Event) -> Readiness {
        let bits = [
            (event.is_readable(), Self::READABLE),
            (event.is_writable(), Self::WRITABLE),
            (event.is_read_closed(), Self::READ_CLOSED),
            (event.is_write_closed(), Self::WRITE_CLOSED),
            (event.is_error(), Self::ERROR),
        ];
        Readiness(bits.iter().filter(|(on, _)| *on).fold(0, |a, (_, b)| a | b))
    }

    /// The source may be read.
    pub fn is_readable(self) -> bool {
        self.0 & Self::READABLE != 0
    }
    /// The source may be written.
    pub fn is_writable(self) -> bool {
        self.0 & Self::WRITABLE != 0
    }
    /// The read side is closed (a pipe's writer is gone, a peer hung up).
    pub fn is_read_closed(self) -> bool {
        self.0 & Self::READ_CLOSED != 0
    }
    /// The write side is closed (a pipe's reader is gone).
    pub fn is_write_closed(self) -> bool {
        self.0 & Self::WRITE_CLOSED != 0
    }
    /// The event reported an error (`EPOLLERR`).
    pub fn is_error(self) -> bool {
        self.0 & Self::ERROR != 0
    }
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .field("read_closed", &self.is_read_closed())
            .field("write_closed", &self.is_write_closed())
            .field("error", &self.is_error())
            .finish()
    }
}

/// A registered source with its callback, its type erased.
trait Registered<S> {
    fn ready(&mut self, rc: &mut ReactorCtx<'_, S>, id: SourceId, readiness: Readiness);
    fn deregister(&mut self, registry: &Registry) -> io::Result<()>;
    fn source_type(&self) -> TypeId;
    fn into_source(self: Box<Self>) -> Box<dyn Any>;
}

/// A source of type `T` and its callback `F`.
struct Typed<T, F> {
    source: T,
    callback: F,
}

impl<S, T, F> Registered<S> for Typed<T, F>
where
    T: Source + 'static,
    F: for<'a> FnMut(&mut ReactorCtx<'a, S>, SourceId, &mut T, Readiness),
{
    fn ready(&mut self, rc: &mut ReactorCtx<'_, S>, id: SourceId, readiness: Readiness) {
        (self.callback)(rc, id, &mut self.source, readiness)
    }
    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(&mut self.source)
    }
    fn source_type(&self) -> TypeId {
        TypeId::of::<T>()
    }
    fn into_source(self: Box<Self>) -> Box<dyn Any> {
        Box::new(self.source)
    }
}

/// A source's slab entry.
pub(crate) struct SourceEntry<S> {
    id: SourceId,
    /// Taken out while its callback runs; `None` once deregistered.
    body: Option<Box<dyn Registered<S>>>,
    /// Readiness gathered since the last callback.
    readiness: Readiness,
    queued: bool,
    /// Deregistered: the slot waits for the end of the turn to be freed.
    dead: bool,
}

impl<S> SourceEntry<S> {
    /// Whether the slot may be freed (at the end of the turn).
    pub(crate) fn is_dead(&self) -> bool {
        self.dead
    }

    /// The key its events carry.
    pub(crate) fn key(&self) -> Key {
        self.id.0
    }

    /// Marks it queued; `false` if it was already, or is deregistered.
    pub(crate) fn mark_queued(&mut self) -> bool {
        let fresh = !self.queued && !self.dead;
        self.queued |= fresh;
        fresh
    }
}

impl<S: 'static> Core<S> {
    /// Registers `source` with `callback`; see [`ReactorCtx::register_source`].
    pub(crate) fn register_source<T, F>(
        &mut self,
        mut source: T,
        interest: Interest,
        callback: F,
    ) -> io::Result<SourceId>
    where
        T: Source + 'static,
        F: for<'a> FnMut(&mut ReactorCtx<'a, S>, SourceId, &mut T, Readiness) + 'static,
    {
        let key = self.next_key().map_err(io::Error::from)?;
        self.registry.register(&mut source, key.token(), interest)?;
        let id = SourceId(key);
        let entry = SourceEntry {
            id,
            body: Some(Box::new(Typed { source, callback })),
            readiness: Readiness::default(),
            queued: false,
            dead: false,
        };
        let slot = self.entries.insert(Entry::Source(entry));
        debug_assert_eq!(slot, key.slot());
        Ok(id)
    }

    /// The live entry of `id` (stale and foreign ids find nothing).
    fn source_entry(&mut self, id: SourceId) -> Result<&mut SourceEntry<S>> {
        match self.entries.get_mut(id.0.slot()) {
            Some(Entry::Source(s)) if s.id == id && !s.dead => Ok(s),
            _ => Err(Error::NoSuchSource),
        }
    }

    /// Deregisters and drops `id`'s source; from inside its own callback,
    /// once the callback returns.
    pub(crate) fn deregister_source(&mut self, id: SourceId) -> Result<()> {
        let entry = self.source_entry(id)?;
        entry.dead = true;
        let body = entry.body.take();
        self.bury(id.0.slot());
        if let Some(body) = body {
            self.drop_source(id, body);
        }
        Ok(())
    }

    /// Deregisters `id`'s source and hands it back, if it is a `T` and its
    /// callback is not running.
    pub(crate) fn take_source<T: 'static>(&mut self, id: SourceId) -> Result<T> {
        let entry = self.source_entry(id)?;
        match &entry.body {
            Some(b) if b.source_type() == TypeId::of::<T>() => {}
            _ => return Err(Error::NoSuchSource),
        }
        entry.dead = true;
        let mut body = entry.body.take().expect("checked above");
        self.bury(id.0.slot());
        if let Err(e) = body.deregister(&self.registry) {
            log::warn!("{id:?}: deregistering failed: {e}");
        }
        Ok(*body
            .into_source()
            .downcast::<T>()
            .expect("type checked above"))
    }

    /// Removes a source from epoll and drops it (closing its descriptor).
    fn drop_source(&self, id: SourceId, mut body: Box<dyn Registered<S>>) {
        if let Err(e) = body.deregister(&self.registry) {
            log::warn!("{id:?}: deregistering failed: {e}");
        }
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(body))) {
            discard_panic(payload);
            log::error!("{id:?}: dropping the source panicked");
        }
    }

    /// Deregisters and drops every source (the reactor stops).
    pub(crate) fn drop_sources(&mut self) {
        let ids: Vec<SourceId> = self
            .entries
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::Source(s) if !s.dead => Some(s.id),
                _ => None,
            })
            .collect();
        for id in ids {
            let _ = self.deregister_source(id);
        }
    }

    /// An event for the source in `slot` (generation already checked).
    #[inline(never)]
    pub(crate) fn source_event(&mut self, slot: usize, event: &mio::event::Event) {
        if let Some(Entry::Source(s)) = self.entries.get_mut(slot) {
            s.readiness.0 |= Readiness::of(event).0;
            self.enqueue(slot);
        }
    }

    /// Runs the callback of the queued source in `slot`. A panic
    /// deregisters and drops the source.
    #[inline(never)]
    pub(crate) fn source_ready(&mut self, state: &mut S, slot: usize) {
        let Some(Entry::Source(s)) = self.entries.get_mut(slot) else {
            return;
        };
        s.queued = false;
        let readiness = std::mem::take(&mut s.readiness);
        let id = s.id;
        let Some(mut body) = s.body.take() else {
            return;
        };
        let started = Metrics::callback_started(self.time_callbacks);
        let outcome = {
            let mut rc = ReactorCtx::new(self, state);
            panic::catch_unwind(AssertUnwindSafe(|| body.ready(&mut rc, id, readiness)))
        };
        self.metrics.callback_finished(started);
        if let Err(payload) = outcome {
            discard_panic(payload);
            log::error!("{id:?}: source callback panicked; deregistering the source");
            self.metrics.panics.bump(1);
            if let Ok(entry) = self.source_entry(id) {
                entry.dead = true;
                self.bury(slot);
            }
            return self.drop_source(id, body);
        }
        match self.source_entry(id) {
            Ok(entry) => entry.body = Some(body),
            // Deregistered by its own callback.
            Err(_) => self.drop_source(id, body),
        }
    }
}

impl<S: 'static> ReactorCtx<'_, S> {
    /// Registers another event source on the loop: `callback` runs on the
    /// loop with the source whenever an event for it comes (edge-triggered:
    /// read until it would block). The callback reaches the shared state
    /// and the connections through its context, and may deregister its own
    /// source. A callback that panics has its source deregistered and
    /// dropped (logged, counted in [`MetricsSnapshot::panics`](crate::MetricsSnapshot::panics));
    /// the loop goes on. A stopped reactor drops its sources.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use mio::Interest;
    /// use mio::unix::pipe;
    ///
    /// let mut reactor = netloop::Reactor::with_state(Vec::<u8>::new())?;
    /// let (mut tx, rx) = pipe::new()?;
    /// reactor.ctx().register_source(rx, Interest::READABLE, |rc, _id, rx, _ready| {
    ///     let mut buf = [0; 64];
    ///     while let Ok(n @ 1..) = rx.read(&mut buf) {
    ///         rc.shared().extend_from_slice(&buf[..n]);
    ///     }
    ///     rc.stop();
    /// })?;
    /// tx.write_all(b"hello")?;
    /// reactor.run()?;
    /// assert_eq!(reactor.shared(), b"hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn register_source<T, F>(
        &mut self,
        source: T,
        interest: Interest,
        callback: F,
    ) -> io::Result<SourceId>
    where
        T: Source + 'static,
        F: for<'a> FnMut(&mut ReactorCtx<'a, S>, SourceId, &mut T, Readiness) + 'static,
    {
        self.core.register_source(source, interest, callback)
    }

    /// Deregisters a source and drops it (closing its descriptor). From
    /// inside the source's own callback, it is dropped when the callback
    /// returns; no callback follows either way. Fails with
    /// [`Error::NoSuchSource`] for an id deregistered already.
    ///
    /// ```
    /// use mio::Interest;
    /// use mio::unix::pipe;
    ///
    /// let mut reactor = netloop::Reactor::new()?;
    /// let (_tx, rx) = pipe::new()?;
    /// let mut rc = reactor.ctx();
    /// let id = rc.register_source(rx, Interest::READABLE, |_, _, _, _| {})?;
    /// rc.deregister_source(id)?;
    /// assert!(rc.deregister_source(id).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deregister_source(&mut self, id: SourceId) -> Result<()> {
        self.core.deregister_source(id)
    }

    /// Deregisters a source and hands it back (its callback is dropped).
    /// Fails with [`Error::NoSuchSource`] for an unknown id, a source that
    /// is not a `T`, or from the source's own callback (which holds it;
    /// use [`deregister_source`](Self::deregister_source) there).
    ///
    /// ```
    /// use mio::Interest;
    /// use mio::net::UdpSocket;
    ///
    /// let mut reactor = netloop::Reactor::new()?;
    /// let socket = UdpSocket::bind("127.0.0.1:0".parse()?)?;
    /// let addr = socket.local_addr()?;
    /// let mut rc = reactor.ctx();
    /// let id = rc.register_source(socket, Interest::READABLE, |_, _, _, _| {})?;
    /// let socket: UdpSocket = rc.take_source(id)?;
    /// assert_eq!(socket.local_addr()?, addr);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_source<T: 'static>(&mut self, id: SourceId) -> Result<T> {
        self.core.take_source(id)
    }
}

impl<S: 'static> Reactor<S> {
    /// Registers another event source; see [`ReactorCtx::register_source`].
    pub fn register_source<T, F>(
        &mut self,
        source: T,
        interest: Interest,
        callback: F,
    ) -> io::Result<SourceId>
    where
        T: Source + 'static,
        F: for<'a> FnMut(&mut ReactorCtx<'a, S>, SourceId, &mut T, Readiness) + 'static,
    {
        self.core.register_source(source, interest, callback)
    }

    /// Deregisters and drops a source; see [`ReactorCtx::deregister_source`].
    pub fn deregister_source(&mut self, id: SourceId) -> Result<()> {
        self.core.deregister_source(id)
    }
}
