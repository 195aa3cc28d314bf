//! Connections: the per-connection record, its lifecycle and the decisions
//! that need only the connection. Nothing here imports the loop
//! (`reactor`): the loop owns the slab, the poller, the clock, the timers
//! and the callbacks, and carries out what the connection's transitions
//! return (`reactor::steps`, `reactor::reading`, `reactor::writing`,
//! `reactor::conn_timers`, `reactor::connector`).
//!
//! - [`lifecycle`]: the phases with their data, every transition, and
//!   what each asks of the loop;
//! - [`state`]: the public view of the phase ([`ConnState`]);
//! - [`read`]: what to read next and where the bytes go;
//! - [`write`]: what a send may do (state, cap, overflow policy);
//! - [`send_buf`]: the queue itself;
//! - [`close`]: close reasons and error classification;
//! - [`connect`]: outbound options, connect errors, the reconnect record;
//! - [`options`]: socket options, marks, caps and timeouts;
//! - [`stream`]: the socket itself, TCP or Unix domain;
//! - `tls` (cargo feature `tls`): the TLS session between the socket and
//!   the handler.

pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod lifecycle;
pub(crate) mod options;
pub(crate) mod read;
pub(crate) mod send_buf;
pub(crate) mod state;
pub(crate) mod stream;
#[cfg(feature = "tls")]
pub(crate) mod tls;
pub(crate) mod write;

use bytes::BytesMut;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use crate::conn::connect::Outbound;
use crate::timer::{Tick, TimerId};
use crate::token::{ConnId, ListenerId};
use close::CloseReason;
use lifecycle::Phase;
use options::ConnOptions;
use send_buf::SendBuf;
use state::ConnState;
use stream::Stream;

/// Bit flags of a connection: readiness and scheduling only (where it is in
/// its life is its [`Phase`]). Readiness bits are set by events and cleared
/// only when an operation proves the socket drained (edge-triggered).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags(u16);

impl Flags {
    /// The socket may have input (an event said so and we have not seen EAGAIN).
    pub(crate) const READABLE: Flags = Flags(1);
    /// The socket may take output.
    pub(crate) const WRITABLE: Flags = Flags(1 << 1);
    /// The event carried RDHUP/HUP/ERR: a short read does not prove the
    /// socket drained, because the FIN or error still waits behind the data.
    pub(crate) const HANGUP_HINT: Flags = Flags(1 << 2);
    /// The slot is in the reactor's ready queue.
    pub(crate) const QUEUED: Flags = Flags(1 << 3);
    /// Registered for writable events (only while bytes are queued).
    pub(crate) const WRITE_INTEREST: Flags = Flags(1 << 4);
    /// The handler paused reading.
    pub(crate) const READ_PAUSED: Flags = Flags(1 << 5);
    /// Unconsumed input reached `max_input`: reading waits for the handler.
    pub(crate) const INPUT_FULL: Flags = Flags(1 << 6);
    /// Buffered input must be handed to `on_read` again (after a resume).
    pub(crate) const REDELIVER: Flags = Flags(1 << 7);
    /// `on_high_water` fired and `on_drain` has not yet.
    pub(crate) const ABOVE_HIGH: Flags = Flags(1 << 8);
    /// `on_high_water` is due.
    pub(crate) const NOTIFY_HIGH: Flags = Flags(1 << 9);
    /// `on_drain` is due.
    pub(crate) const NOTIFY_DRAIN: Flags = Flags(1 << 10);
    /// `on_shutdown` is due.
    pub(crate) const NOTIFY_SHUTDOWN: Flags = Flags(1 << 11);
    /// An event reported EPOLLERR.
    pub(crate) const ERROR_SEEN: Flags = Flags(1 << 12);
    /// The handler corked the connection: sends queue without a system
    /// call until the cork is lifted (`reactor::cork`).
    pub(crate) const CORKED: Flags = Flags(1 << 13);

    pub(crate) const NOTIFICATIONS: Flags =
        Flags(Flags::NOTIFY_HIGH.0 | Flags::NOTIFY_DRAIN.0 | Flags::NOTIFY_SHUTDOWN.0);
    /// What the loop has to do after a callback besides a request: the
    /// notifications, and lifting a cork.
    const WORK: Flags = Flags(Flags::NOTIFICATIONS.0 | Flags::CORKED.0);

    #[inline]
    pub(crate) fn has(self, f: Flags) -> bool {
        self.0 & f.0 != 0
    }
    #[inline]
    pub(crate) fn insert(&mut self, f: Flags) {
        self.0 |= f.0;
    }
    #[inline]
    pub(crate) fn remove(&mut self, f: Flags) {
        self.0 &= !f.0;
    }

    /// Those of `f` that are set.
    #[inline]
    pub(crate) fn masked(self, f: Flags) -> Flags {
        Flags(self.0 & f.0)
    }

    /// Clears `f` and says whether it was set.
    #[inline]
    pub(crate) fn take(&mut self, f: Flags) -> bool {
        let had = self.has(f);
        self.remove(f);
        had
    }
}

/// A state change requested from a callback or a handle, applied by the loop
/// once no callback of this connection is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Intent {
    ShutdownWrite,
    Close(CloseReason),
    /// Lingering close with this patience.
    Linger(Patience),
    Abort(CloseReason),
    /// A send or registration failed with this OS error (errno); classify
    /// and close. (Sixteen bits keep the record small; Linux's are below 200.)
    Fail(u16),
}

impl Intent {
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Intent::ShutdownWrite => 1,
            Intent::Close(_) => 2,
            Intent::Linger(_) => 3,
            Intent::Abort(_) | Intent::Fail(_) => 4,
        }
    }
}

/// Where a connection came from.
pub(crate) enum Origin {
    Accepted(ListenerId),
    /// Outbound; the record keeps what a reconnect needs, if a policy is set.
    Outbound(Option<Box<Outbound>>),
}

/// Counters of one connection, readable through
/// [`ConnRef::stats`](crate::ConnRef::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes handed to the kernel.
    pub bytes_out: u64,
    /// The most bytes ever queued in user space at once.
    pub peak_queued: u64,
}

/// A lingering close's deadline, in 10 ms units so that it fits the
/// padding of the connection record: up to 655 s, rounded up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Patience(u16);

impl Patience {
    pub(crate) fn from_millis(ms: u32) -> Patience {
        Patience(ms.div_ceil(10).min(u16::MAX.into()) as u16)
    }

    pub(crate) fn millis(self) -> u64 {
        u64::from(self.0) * 10
    }
}

/// The send-queue limits of one connection (copied from its options, and
/// adjustable per connection).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Marks {
    high: u32,
    low: u32,
    cap: u32,
    /// The largest send that may go straight to the kernel: `cap`, or 0
    /// while corked (so the direct send needs no test of its own for the
    /// cork).
    direct: u32,
}

/// Clamps a byte count to the 32 bits the marks are stored in (4 GiB).
fn clamp32(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

impl Marks {
    pub(crate) fn new(high: usize, low: usize, cap: usize) -> Marks {
        let cap = clamp32(cap.max(1));
        Marks {
            high: clamp32(high),
            low: clamp32(low.min(high)),
            cap,
            direct: cap,
        }
    }

    /// New limits, keeping the cork of `self`.
    pub(crate) fn renewed(self, high: usize, low: usize, cap: usize) -> Marks {
        let mut marks = Marks::new(high, low, cap);
        marks.set_corked(self.direct == 0);
        marks
    }

    /// Corks (no send goes straight to the kernel) or uncorks.
    pub(crate) fn set_corked(&mut self, on: bool) {
        self.direct = if on { 0 } else { self.cap };
    }

    /// The largest send that may go straight to the kernel (0 while corked).
    #[inline]
    pub(crate) fn direct_max(self) -> usize {
        self.direct as usize
    }
    #[inline]
    pub(crate) fn high(self) -> usize {
        self.high as usize
    }
    #[inline]
    pub(crate) fn low(self) -> usize {
        self.low as usize
    }
    #[inline]
    pub(crate) fn cap(self) -> usize {
        self.cap as usize
    }
}

/// One connection. Lives in the reactor's slab from accept/connect until the
/// end of the turn in which it reached [`ConnState::Closed`].
pub(crate) struct Conn<H> {
    pub(crate) id: ConnId,
    pub(crate) stream: Stream,
    /// `stream`'s descriptor, kept at hand: the reads and sends of every
    /// message use it, and asking mio for it is a call each time.
    pub(crate) fd: RawFd,
    /// Where it is in its life; changed only by the transitions in
    /// [`lifecycle`].
    phase: Phase,
    pub(crate) flags: Flags,
    /// The strongest state change requested and not yet applied.
    pub(crate) pending: Option<Intent>,
    /// Input the handler left unconsumed. Empty (no allocation) otherwise:
    /// reads go through the reactor's shared scratch buffer.
    pub(crate) input: BytesMut,
    pub(crate) send: SendBuf,
    pub(crate) marks: Marks,
    pub(crate) opts: Rc<ConnOptions>,
    /// Taken out while one of its callbacks runs.
    pub(crate) handler: Option<H>,
    /// When bytes last arrived (drives the idle timeout lazily).
    pub(crate) last_read: Tick,
    /// When queued bytes last moved (drives the write-stall timeout lazily).
    pub(crate) last_write: Tick,
    pub(crate) idle_timer: Option<TimerId>,
    pub(crate) stall_timer: Option<TimerId>,
    /// Connect timeout or linger deadline, depending on the state.
    pub(crate) deadline_timer: Option<TimerId>,
    pub(crate) stats: ConnStats,
    pub(crate) origin: Origin,
    /// The TLS session, on a TLS connection (boxed: most are not, and the
    /// record stays small).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Box<tls::TlsSession>>,
}

impl<H> Conn<H> {
    pub(crate) fn new(
        id: ConnId,
        stream: Stream,
        state: ConnState,
        opts: Rc<ConnOptions>,
        handler: H,
        origin: Origin,
        now: Tick,
    ) -> Self {
        Conn {
            id,
            fd: stream.as_raw_fd(),
            stream,
            phase: Phase::starting(state),
            flags: Flags::default(),
            pending: None,
            input: BytesMut::new(),
            send: SendBuf::new(),
            marks: Marks::new(opts.high_water, opts.low_water, opts.max_send_queue),
            opts,
            handler: Some(handler),
            last_read: now,
            last_write: now,
            idle_timer: None,
            stall_timer: None,
            deadline_timer: None,
            stats: ConnStats::default(),
            origin,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Bytes waiting to go out: the send queue, and on a TLS connection
    /// the plaintext kept for the end of its handshake.
    #[inline]
    pub(crate) fn queued(&self) -> usize {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return self.send.len() + tls.unsent_plaintext();
        }
        self.send.len()
    }

    /// Whether the connection is plain TCP or Unix (no TLS): sends may go
    /// straight to the kernel.
    #[inline(always)]
    pub(crate) fn is_plain(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_none();
        #[cfg(not(feature = "tls"))]
        true
    }

    /// Records a state change to apply after the running callback; a weaker
    /// request never replaces a stronger one (abort beats close).
    pub(crate) fn request(&mut self, intent: Intent) {
        if self
            .pending
            .as_ref()
            .is_none_or(|p| intent.rank() > p.rank())
        {
            self.pending = Some(intent);
        }
    }

    /// The state as the handler sees it: a close, shutdown or abort asked
    /// for in a running callback shows at once, though the loop applies it
    /// only after the callback returns.
    pub(crate) fn visible_state(&self) -> ConnState {
        let Some(intent) = &self.pending else {
            return self.state();
        };
        match (intent, self.state()) {
            (_, ConnState::Closed) => ConnState::Closed,
            (
                Intent::ShutdownWrite,
                ConnState::Open | ConnState::ReadClosed | ConnState::Connecting,
            ) => ConnState::WriteClosing,
            (Intent::ShutdownWrite, s) => s,
            (_, s) if s.is_closing() => s,
            (Intent::Close(_), _) if self.opts.linger.is_none() => ConnState::Closing,
            (Intent::Close(_) | Intent::Linger(_), _) => ConnState::LingerFlushing,
            (Intent::Abort(_) | Intent::Fail(_), _) => ConnState::Closing,
        }
    }

    /// Puts `fresh` in place of the socket (a new connect try); returns
    /// the old one.
    pub(crate) fn replace_stream(&mut self, fresh: Stream) -> Stream {
        self.fd = fresh.as_raw_fd();
        std::mem::replace(&mut self.stream, fresh)
    }

    /// Which attempt of a reconnecting connection this is (0 for any other):
    /// handler timers die with the attempt that set them.
    pub(crate) fn epoch(&self) -> u32 {
        match &self.origin {
            Origin::Outbound(Some(o)) => o.epoch,
            _ => 0,
        }
    }

    /// Whether the loop has anything to do for this connection right now.
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        self.pending.is_some() || self.flags.has(Flags::WORK)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-connection record is most of an idle connection's memory
    /// (the idle-memory benchmark's target is 256 bytes in all).
    #[test]
    fn a_connection_record_stays_small() {
        // The stream is a tag and a descriptor (8 bytes); mio's streams
        // carry an extra selector id in debug builds.
        let stream_extra = std::mem::size_of::<Stream>() - 8;
        if cfg!(not(debug_assertions)) {
            assert_eq!(std::mem::size_of::<Stream>(), 8);
        }
        // A boxed handler is a fat pointer, as `Box<dyn Any>` is.
        let size = std::mem::size_of::<Conn<Box<dyn std::any::Any>>>() - stream_extra;
        // With the `tls` feature every connection carries the (boxed)
        // session's pointer: 8 bytes, whether it speaks TLS or not.
        let limit = if cfg!(feature = "tls") { 232 } else { 224 };
        assert!(size <= limit, "Conn is {size} bytes");
        assert_eq!(std::mem::size_of::<Option<Intent>>(), 4);
        assert!(std::mem::size_of::<Phase>() <= 8);
    }

    /// A cork closes only the direct send, and survives new limits.
    #[test]
    fn a_cork_closes_the_direct_send_and_outlives_new_limits() {
        let mut marks = Marks::new(100, 10, 1000);
        assert_eq!(marks.direct_max(), 1000);
        marks.set_corked(true);
        assert_eq!((marks.direct_max(), marks.cap()), (0, 1000));
        let renewed = marks.renewed(200, 20, 2000);
        assert_eq!((renewed.direct_max(), renewed.cap()), (0, 2000));
        let mut open = renewed;
        open.set_corked(false);
        assert_eq!(open.direct_max(), 2000);
    }
}
