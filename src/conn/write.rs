//! The write path: `send`, the queue flush, write interest and water marks.
//!
//! `send` with nothing queued writes straight from the caller's bytes and
//! queues only what the kernel did not take (no copy on the fast path). A
//! non-empty queue is flushed with one vectored `sendmsg(MSG_NOSIGNAL)` per
//! writable event. The socket is registered for writable events only while
//! bytes are queued: interest changes on the empty↔non-empty transitions,
//! never per message.

use std::io::{self};

use bytes::Bytes;

use crate::conn::close::CloseReason;
use crate::conn::options::OnOverflow;
use crate::conn::state::ConnState;
use crate::conn::{Conn, Intent};
use crate::error::{Error, Result};

/// The bytes of one send: borrowed (copied if queued) or shared (never copied).
pub(crate) enum Payload<'d> {
    Slice(&'d [u8]),
    Shared(Bytes),
}

impl Payload<'_> {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Slice(s) => s,
            Payload::Shared(b) => b,
        }
    }
}

/// Whether `len` more bytes may be sent now; applies the overflow policy.
/// A close, shutdown or abort asked for and not yet applied (in the same
/// callback) already ends sending.
pub(crate) fn check_send<H>(conn: &mut Conn<H>, len: usize) -> Result<()> {
    if conn.state() == ConnState::Reconnecting && conn.pending.is_none() {
        return Err(Error::NotConnected);
    }
    if !conn.visible_state().can_send() || conn.close_parked() {
        return Err(Error::WriteClosed);
    }
    let queued = conn.queued();
    if queued + len <= conn.marks.cap() {
        return Ok(());
    }
    if conn.opts.on_overflow == OnOverflow::Abort {
        conn.request(Intent::Abort(CloseReason::Overflow));
        // The caller's loop applies it; the queue is dropped then.
    }
    Err(Error::QueueFull {
        queued,
        len,
        cap: conn.marks.cap(),
    })
}

/// The errno of an error from a socket call (they all carry one).
pub(crate) fn errno(e: &io::Error) -> u16 {
    e.raw_os_error()
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(libc::EIO as u16)
}

pub(crate) fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
