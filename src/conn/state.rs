//! The public view of where a connection is in its life ([`ConnState`]),
//! and the small rules that follow from it. The phases themselves, with
//! their data, the diagram and every transition are in `conn::lifecycle`.

use std::io;
use std::time::Duration;

use crate::conn::close::CloseReason;
use crate::timer::ceil_millis;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// Outbound, waiting for the handshake. Sends are queued.
    Connecting,
    /// Both directions open.
    Open,
    /// The peer sent FIN (`on_eof` ran); we can still send.
    ReadClosed,
    /// `shutdown_write` asked: flushing, then `SHUT_WR`. Reading goes on.
    WriteClosing,
    /// Our FIN is sent (`on_half_close` ran); reading goes on until the peer's FIN.
    WriteClosed,
    /// Closing without lingering (the `linger` option unset, or the loop's
    /// own close: idle timeout, shutdown deadline): reading stopped,
    /// flushing, then close.
    Closing,
    /// `close` or `linger_close` asked: flushing (input read and
    /// discarded), then `SHUT_WR`.
    LingerFlushing,
    /// Our FIN is sent; discarding input until the peer's FIN or the deadline.
    Lingering,
    /// An outbound connection with a reconnect policy between attempts:
    /// its connection ended ([`on_disconnect`](crate::Handler::on_disconnect)
    /// or [`on_connect_error`](crate::Handler::on_connect_error) ran) and
    /// the next attempt waits for the backoff's delay. Same id, same
    /// handler; sends fail with [`Error::NotConnected`](crate::Error::NotConnected).
    Reconnecting,
    /// Done: `on_close` ran. The slot is freed at the end of the turn.
    Closed,
}

impl ConnState {
    /// Whether `send` is accepted.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            ConnState::Connecting | ConnState::Open | ConnState::ReadClosed
        )
    }

    /// Whether input is read and handed to the handler.
    pub(crate) fn delivers_input(self) -> bool {
        matches!(
            self,
            ConnState::Open | ConnState::WriteClosing | ConnState::WriteClosed
        )
    }

    /// Whether input is read and thrown away (lingering close).
    pub(crate) fn discards_input(self) -> bool {
        matches!(self, ConnState::LingerFlushing | ConnState::Lingering)
    }

    /// Whether queued bytes still go out.
    pub(crate) fn flushes(self) -> bool {
        matches!(
            self,
            ConnState::Open
                | ConnState::ReadClosed
                | ConnState::WriteClosing
                | ConnState::Closing
                | ConnState::LingerFlushing
        )
    }

    /// Whether a close of some kind is under way or done.
    pub fn is_closing(self) -> bool {
        matches!(
            self,
            ConnState::Closing
                | ConnState::LingerFlushing
                | ConnState::Lingering
                | ConnState::Closed
        )
    }
}

/// The lingering deadline in ms for a graceful close with `reason`, or
/// `None` to close once flushed. Closes the handler asked for (or a full
/// input buffer) linger by the `linger` option; the loop's own (idle
/// timeout, shutdown deadline) close once flushed.
pub(crate) fn linger_millis(reason: CloseReason, linger: Option<Duration>) -> Option<u32> {
    let wanted = matches!(
        reason,
        CloseReason::Local | CloseReason::PeerClosed | CloseReason::InputFull
    );
    let ms = ceil_millis(linger.filter(|_| wanted)?).min(u32::MAX.into()) as u32;
    (ms > 0).then_some(ms)
}

/// Why `shutdown(SHUT_WR)` failed: a socket the peer reset answers
/// `ENOTCONN`, while the reset itself waits in `SO_ERROR` (unless a read
/// already consumed it). Report the reset, not the symptom.
pub(crate) fn pending_error_or(
    stream: &crate::conn::stream::Stream,
    shutdown_error: io::Error,
) -> io::Error {
    match stream.take_error() {
        Ok(Some(e)) => e,
        _ => shutdown_error,
    }
}
