//! The whole lifecycle of a connection: its phases, each with the data it
//! needs, and every transition between them, as methods of [`Conn`] that
//! return what the loop must do next ([`Next`]).
//!
//! ```text
//!                  connect ok
//!   Connecting ──────────────────► Open ◄──────────────── accept
//!     │ fail / timeout               │
//!     │          ┌───────────────────┼──────────────────┬─────────────────────┐
//!     │      peer FIN         shutdown_write   close(), linger_close()   close_at_once,
//!     │          ▼                   ▼                  │              idle, shutdown deadline
//!     │     ReadClosed          WriteClosing            ▼                     ▼
//!     │          │ close()           │ drained:   LingerFlushing          Closing
//!     │          └─► LingerFlushing  │ SHUT_WR          │ drained: SHUT_WR    │ drained
//!     │              (drained: done) ▼                  ▼                     │
//!     │                         WriteClosed ─close()─► Lingering              │
//!     │                              │ peer FIN         │ FIN: ok / deadline: RST
//!     ▼                              ▼                  ▼                     ▼
//!   Closed ◄────────────────────────────────────────────────────────────────────
//!     ▲  abort(), peer RST, socket error, panic: from any state
//!
//!   With a reconnect policy, an end nobody asked for (a failed attempt,
//!   the peer's close or reset, a timeout) leads to Reconnecting instead of
//!   Closed, and after the backoff's delay back to Connecting, same id.
//! ```
//!
//! The connection decides; the loop (`reactor::steps`) carries out what it
//! returns: the callbacks, the timers, the poller, the metrics. Transitions
//! run between callbacks, never inside one: callbacks record an
//! [`Intent`], applied once they return. Only [`Conn::enter_closed`] enters
//! `Closed`, and the loop calls `on_close` right after it: that is how
//! every connection gets exactly one `on_close`.

use std::io;

use crate::conn::close::CloseReason;
use crate::conn::state::{ConnState, linger_millis, pending_error_or};
use crate::conn::stream::Stream;
use crate::conn::{Conn, Flags, Intent, Origin, Patience};
use crate::sys;
use crate::timer::TimerId;

/// Where a connection is in its life, with what each phase needs. The
/// public view of it is [`ConnState`] ([`Conn::state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the handshake. `parked`: a close, shutdown or lingering
    /// close asked for meanwhile with bytes queued, applied once connected,
    /// after those bytes.
    Connecting {
        parked: Option<Intent>,
    },
    Open,
    /// The peer's FIN was read.
    ReadClosed,
    /// Flushing, then `SHUT_WR`; `peer_fin`: the peer's FIN was read.
    WriteClosing {
        peer_fin: bool,
    },
    WriteClosed,
    /// Flushing without lingering, then close with `reason`.
    Closing {
        reason: CloseReason,
    },
    /// Flushing while discarding input, then `SHUT_WR`. `patience` bounds a
    /// flush that makes no progress; `peer_fin`: the peer's FIN was read.
    LingerFlushing {
        reason: CloseReason,
        patience: Patience,
        peer_fin: bool,
    },
    /// Our FIN is out: discarding input until the peer's FIN, for at most
    /// `patience`.
    Lingering {
        reason: CloseReason,
        patience: Patience,
    },
    Reconnecting,
    Closed,
}

impl Phase {
    /// The phase a new connection starts in.
    pub(crate) fn starting(state: ConnState) -> Phase {
        match state {
            ConnState::Connecting => Phase::Connecting { parked: None },
            _ => Phase::Open,
        }
    }
}

/// What the loop must do after a transition.
#[must_use]
#[derive(Debug)]
pub(crate) enum Next {
    /// Nothing more.
    Done,
    /// Close now, for this reason.
    Close(CloseReason),
    /// A socket call failed: classify the error and close.
    Fail(io::Error),
    /// The queue is already empty: go on as when a flush empties it
    /// ([`Conn::write_side_flushed`]).
    Flushed,
    /// Tell the handler of the peer's FIN (`on_eof`).
    Eof,
    /// `on_eof`, then close: both directions are done.
    EofThenClose,
    /// Our FIN is out: `on_half_close`.
    HalfClosed,
    /// A lingering close is flushing: arm its deadline, and read (to
    /// discard) if the socket is readable.
    LingerFlush,
    /// Our FIN is out and the peer's is awaited: arm the deadline and read
    /// to discard.
    LingerWait,
    /// The peer's FIN came in time: the lingering close completes with this
    /// reason.
    LingerDone(CloseReason),
}

/// What a connection held when it left its socket behind (closed, or an
/// attempt of a reconnecting connection ended): the loop recycles the input
/// buffer and cancels the timers.
pub(crate) struct Released {
    pub(crate) input: bytes::BytesMut,
    pub(crate) timers: [Option<TimerId>; 3],
}

impl<H> Conn<H> {
    /// The public view of the phase.
    #[inline]
    pub(crate) fn state(&self) -> ConnState {
        match self.phase {
            Phase::Connecting { .. } => ConnState::Connecting,
            Phase::Open => ConnState::Open,
            Phase::ReadClosed => ConnState::ReadClosed,
            Phase::WriteClosing { .. } => ConnState::WriteClosing,
            Phase::WriteClosed => ConnState::WriteClosed,
            Phase::Closing { .. } => ConnState::Closing,
            Phase::LingerFlushing { .. } => ConnState::LingerFlushing,
            Phase::Lingering { .. } => ConnState::Lingering,
            Phase::Reconnecting => ConnState::Reconnecting,
            Phase::Closed => ConnState::Closed,
        }
    }

    /// Whether the peer's FIN was read (no more input can come).
    pub(crate) fn peer_fin_seen(&self) -> bool {
        match self.phase {
            Phase::ReadClosed => true,
            Phase::WriteClosing { peer_fin } | Phase::LingerFlushing { peer_fin, .. } => peer_fin,
            Phase::Closing { reason } | Phase::Lingering { reason, .. } => {
                reason == CloseReason::PeerClosed
            }
            _ => false,
        }
    }

    /// The reason a lingering close will report, while one runs.
    pub(crate) fn lingering_reason(&self) -> Option<CloseReason> {
        match self.phase {
            Phase::LingerFlushing { reason, .. } | Phase::Lingering { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The lingering close's patience in ms, while one runs.
    pub(crate) fn linger_patience(&self) -> Option<u64> {
        match self.phase {
            Phase::LingerFlushing { patience, .. } | Phase::Lingering { patience, .. } => {
                Some(patience.millis())
            }
            _ => None,
        }
    }

    /// Whether a close, shutdown or lingering close waits for the connect
    /// to complete: the write side is closing, so sends are refused.
    pub(crate) fn close_parked(&self) -> bool {
        matches!(self.phase, Phase::Connecting { parked: Some(_) })
    }

    /// The handler is ending the connection (close, shutdown, linger): an
    /// outbound connection with a reconnect policy is not reconnected,
    /// unless the peer closed first (then the handler only completes the
    /// peer's close, as the default `on_eof` does).
    pub(crate) fn ended_on_purpose(&mut self) {
        if !self.peer_fin_seen() {
            self.stop_reconnecting();
        }
    }

    /// No reconnect after this connection ends.
    pub(crate) fn stop_reconnecting(&mut self) {
        if let Origin::Outbound(Some(o)) = &mut self.origin {
            o.stop = true;
        }
    }

    /// Open/WriteClosing/WriteClosed/linger phases → the peer's FIN was read.
    pub(crate) fn peer_finished(&mut self) -> Next {
        self.flags.remove(Flags::READABLE);
        match &mut self.phase {
            Phase::Open => {
                self.phase = Phase::ReadClosed;
                Next::Eof
            }
            Phase::WriteClosing { peer_fin } => {
                *peer_fin = true;
                Next::Eof
            }
            Phase::WriteClosed => Next::EofThenClose,
            Phase::Lingering { reason, .. } => Next::LingerDone(*reason),
            // Completes once the flush is done.
            Phase::LingerFlushing { peer_fin, .. } => {
                *peer_fin = true;
                Next::Done
            }
            _ => Next::Done,
        }
    }

    /// Between the attempts of a reconnecting connection, any close verb is
    /// the last word: the reason to close with, if the connection waits.
    pub(crate) fn ends_between_attempts(&mut self, intent: Intent) -> Option<CloseReason> {
        if self.phase != Phase::Reconnecting {
            return None;
        }
        self.stop_reconnecting();
        Some(match intent {
            Intent::Abort(reason) | Intent::Close(reason) => reason,
            _ => CloseReason::Local,
        })
    }

    /// `shutdown_write()`: flush, then `SHUT_WR`.
    pub(crate) fn start_shutdown_write(&mut self) -> Next {
        self.ended_on_purpose();
        match self.phase {
            Phase::Open => self.phase = Phase::WriteClosing { peer_fin: false },
            Phase::ReadClosed => self.phase = Phase::WriteClosing { peer_fin: true },
            // The FIN goes out after the handshake and what was queued.
            Phase::Connecting { .. } => return self.park(Intent::ShutdownWrite),
            _ => return Next::Done,
        }
        self.when_flushed()
    }

    /// `close()` (and the loop's own closes): flush, then close. A close
    /// whose reason is the handler's (or a full input buffer) lingers, so
    /// that input arriving meanwhile never turns the close into an RST; the
    /// loop's own closes (idle timeout, shutdown deadline) and connections
    /// without a `linger` option close once flushed.
    pub(crate) fn start_close(&mut self, reason: CloseReason) -> Next {
        if self.state().is_closing() {
            return Next::Done;
        }
        if reason == CloseReason::Local {
            self.ended_on_purpose();
        }
        if let Phase::Connecting { .. } = self.phase {
            if reason == CloseReason::Local && !self.send.is_empty() {
                // Bytes sent while connecting are delivered first.
                return self.park(Intent::Close(reason));
            }
            // Nothing to deliver: the attempt is abandoned.
            return Next::Close(reason);
        }
        let reason = if reason == CloseReason::Local && self.peer_fin_seen() {
            CloseReason::PeerClosed
        } else {
            reason
        };
        if let Some(ms) = linger_millis(reason, self.opts.linger) {
            return self.start_linger(Patience::from_millis(ms), reason);
        }
        self.phase = Phase::Closing { reason };
        if self.send.is_empty() {
            return Next::Close(reason);
        }
        Next::Done
    }

    /// Lingering close (`linger_close`, and `close()` by default): flush
    /// while discarding input, `SHUT_WR`, discard until the peer's FIN, then
    /// close with `reason`. The deadline, `patience`, bounds a flush that
    /// makes no progress and then the wait for the peer's FIN; past it, RST.
    pub(crate) fn start_linger(&mut self, patience: Patience, reason: CloseReason) -> Next {
        if reason == CloseReason::Lingered {
            self.ended_on_purpose();
        }
        let peer_fin = self.peer_fin_seen();
        match self.phase {
            Phase::Connecting { .. } if !self.send.is_empty() => {
                return self.park(Intent::Linger(patience));
            }
            Phase::Connecting { .. } => return Next::Close(CloseReason::Local),
            Phase::Closed | Phase::LingerFlushing { .. } | Phase::Lingering { .. } => {
                return Next::Done;
            }
            Phase::WriteClosed => self.phase = Phase::Lingering { reason, patience },
            _ => {
                self.phase = Phase::LingerFlushing {
                    reason,
                    patience,
                    peer_fin,
                }
            }
        }
        // Input the handler left is of no use any more, and input must be
        // read (to be discarded) even if the handler had paused reading:
        // unread input would turn the close into an RST.
        self.input.clear();
        self.flags
            .remove(Flags::READ_PAUSED | Flags::INPUT_FULL | Flags::REDELIVER);
        if let Phase::Lingering { .. } = self.phase {
            // (From WriteClosed: the peer's FIN is not read, or it would
            // have closed.) Data may already wait in the kernel.
            return Next::LingerWait;
        }
        if self.send.is_empty() {
            return Next::Flushed;
        }
        Next::LingerFlush
    }

    /// [`Next::Flushed`] if the queue is empty, else wait for the flush.
    fn when_flushed(&self) -> Next {
        if self.send.is_empty() {
            Next::Flushed
        } else {
            Next::Done
        }
    }

    /// Keeps a close, shutdown or lingering close asked for while
    /// connecting, to apply once connected (the strongest one wins).
    fn park(&mut self, intent: Intent) -> Next {
        if let Phase::Connecting { parked } = &mut self.phase {
            if parked.is_none_or(|p| intent.rank() > p.rank()) {
                *parked = Some(intent);
            }
        }
        Next::Done
    }

    /// The queue drained in a phase that was waiting for it.
    pub(crate) fn write_side_flushed(&mut self) -> Next {
        match self.phase {
            // Both directions are done: closing sends our FIN.
            Phase::WriteClosing { peer_fin: true } => Next::Close(CloseReason::PeerClosed),
            Phase::WriteClosing { peer_fin: false } => match self.send_fin() {
                Ok(()) => {
                    self.phase = Phase::WriteClosed;
                    Next::HalfClosed
                }
                Err(e) => Next::Fail(e),
            },
            Phase::Closing { reason } => Next::Close(reason),
            // The peer's FIN is read, so nothing unread is left: closing
            // sends our FIN, never an RST.
            Phase::LingerFlushing {
                reason,
                peer_fin: true,
                ..
            } => Next::LingerDone(reason),
            Phase::LingerFlushing {
                reason, patience, ..
            } => match self.send_fin() {
                Ok(()) => {
                    self.phase = Phase::Lingering { reason, patience };
                    // The peer gets the whole deadline to answer our FIN.
                    Next::LingerWait
                }
                Err(e) => Next::Fail(e),
            },
            _ => Next::Done,
        }
    }

    /// `shutdown(SHUT_WR)`, reporting a reset the peer sent rather than
    /// the `ENOTCONN` it causes.
    fn send_fin(&self) -> io::Result<()> {
        sys::shutdown_write(&self.stream).map_err(|e| pending_error_or(&self.stream, e))
    }

    /// Any phase → Closed with RST: arms `SO_LINGER` 0 (best effort: if it
    /// fails the close is a plain one). False if already closed.
    pub(crate) fn start_abort(&mut self, reason: CloseReason) -> bool {
        if self.phase == Phase::Closed {
            return false;
        }
        if reason == CloseReason::Aborted {
            self.stop_reconnecting();
        }
        if !matches!(self.phase, Phase::Connecting { .. } | Phase::Reconnecting) {
            let _ = sys::set_abortive_close(&self.stream);
        }
        true
    }

    /// The reason `enter_closed` should report instead of `reason`: a
    /// callback that ran just before this close (on_linger_close,
    /// on_connect_error, on_keepalive_failure, ...) panicked, and the abort
    /// it asked for had no turn to run: report the panic and reset, as for
    /// a panic in any other callback.
    pub(crate) fn final_reason(&self, reason: CloseReason) -> CloseReason {
        if !matches!(self.pending, Some(Intent::Abort(CloseReason::Panicked))) {
            return reason;
        }
        if !matches!(self.phase, Phase::Connecting { .. }) {
            let _ = sys::set_abortive_close(&self.stream);
        }
        CloseReason::Panicked
    }

    /// Connecting → Open. Returns what was parked, to apply after `on_open`.
    pub(crate) fn enter_open(&mut self) -> Option<Intent> {
        let parked = match self.phase {
            Phase::Connecting { parked } => parked,
            _ => None,
        };
        self.phase = Phase::Open;
        if let Origin::Outbound(Some(o)) = &mut self.origin {
            o.attempt = 0;
            o.tell(Ok(()));
        }
        parked
    }

    /// Any phase → Closed: the queue is dropped; what it held is returned
    /// to the loop, which calls `on_close` next (and only then).
    pub(crate) fn enter_closed(&mut self) -> Released {
        self.phase = Phase::Closed;
        self.pending = None;
        self.send.clear();
        self.release()
    }

    /// Ends one attempt of a reconnecting connection: its socket is closed
    /// (replaced by `fresh`, not yet connected), its queue, input, timers
    /// and readiness dropped; the connection waits in `Reconnecting`.
    /// Returns the old socket, to take out of the poller and drop.
    pub(crate) fn enter_reconnecting(&mut self, fresh: Stream) -> (Stream, Released) {
        let old = self.replace_stream(fresh);
        self.phase = Phase::Reconnecting;
        self.pending = None;
        self.send.clear();
        self.flags = self.flags.masked(Flags::QUEUED);
        if let Origin::Outbound(Some(o)) = &mut self.origin {
            o.epoch = o.epoch.wrapping_add(1);
            o.untried.clear();
            o.resolving = false;
        }
        (old, self.release())
    }

    /// Reconnecting → Connecting (the next attempt starts).
    pub(crate) fn enter_connecting(&mut self) {
        self.phase = Phase::Connecting { parked: None };
    }

    fn release(&mut self) -> Released {
        Released {
            input: std::mem::take(&mut self.input),
            timers: [
                self.idle_timer.take(),
                self.stall_timer.take(),
                self.deadline_timer.take(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::options::ConnOptions;
    use crate::token::{ConnId, Key};
    use std::rc::Rc;
    use std::time::Duration;

    fn open_conn(linger: Option<Duration>) -> (std::net::TcpStream, Conn<()>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        let opts = ConnOptions {
            linger,
            ..ConnOptions::default()
        };
        let conn = Conn::new(
            ConnId(Key::new(0, 0, 1)),
            mio::net::TcpStream::from_std(s).into(),
            ConnState::Open,
            Rc::new(opts),
            (),
            Origin::Outbound(None),
            0,
        );
        (c, conn)
    }

    #[test]
    fn a_close_after_the_peers_fin_reports_peer_closed_and_needs_no_wait() {
        let (_peer, mut conn) = open_conn(Some(Duration::from_secs(5)));
        assert!(matches!(conn.peer_finished(), Next::Eof));
        assert_eq!(conn.state(), ConnState::ReadClosed);
        assert!(matches!(
            conn.start_close(CloseReason::Local),
            Next::Flushed
        ));
        assert!(matches!(
            conn.write_side_flushed(),
            Next::LingerDone(CloseReason::PeerClosed)
        ));
    }

    #[test]
    fn a_lingering_close_sends_fin_then_waits_for_the_peers() {
        let (_peer, mut conn) = open_conn(Some(Duration::from_secs(5)));
        assert!(matches!(
            conn.start_close(CloseReason::Local),
            Next::Flushed
        ));
        assert_eq!(conn.state(), ConnState::LingerFlushing);
        assert!(matches!(conn.write_side_flushed(), Next::LingerWait));
        assert_eq!(conn.state(), ConnState::Lingering);
        assert_eq!(conn.linger_patience(), Some(5000));
        assert!(matches!(
            conn.peer_finished(),
            Next::LingerDone(CloseReason::Local)
        ));
    }

    #[test]
    fn close_at_once_with_bytes_queued_waits_for_the_flush() {
        let (_peer, mut conn) = open_conn(None);
        conn.send.push_slice(b"queued");
        assert!(matches!(conn.start_close(CloseReason::Local), Next::Done));
        assert_eq!(
            conn.phase,
            Phase::Closing {
                reason: CloseReason::Local
            }
        );
        assert!(matches!(
            conn.write_side_flushed(),
            Next::Close(CloseReason::Local)
        ));
    }

    #[test]
    fn a_half_close_then_the_peers_fin_ends_both_directions() {
        let (_peer, mut conn) = open_conn(None);
        assert!(matches!(conn.start_shutdown_write(), Next::Flushed));
        assert!(matches!(conn.write_side_flushed(), Next::HalfClosed));
        assert_eq!(conn.state(), ConnState::WriteClosed);
        assert!(matches!(conn.peer_finished(), Next::EofThenClose));
    }

    #[test]
    fn a_close_while_connecting_with_bytes_queued_is_parked() {
        let (_peer, mut conn) = open_conn(None);
        conn.phase = Phase::Connecting { parked: None };
        conn.send.push_slice(b"first");
        assert!(matches!(conn.start_shutdown_write(), Next::Done));
        assert!(matches!(conn.start_close(CloseReason::Local), Next::Done));
        assert!(conn.close_parked());
        assert_eq!(conn.enter_open(), Some(Intent::Close(CloseReason::Local)));
        assert_eq!(conn.state(), ConnState::Open);
    }
}
