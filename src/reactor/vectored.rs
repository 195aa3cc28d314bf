//! Sends of several parts (a header and a payload, say): one vectored
//! `sendmsg` when nothing is queued, so they cost one system call and,
//! with `TCP_NODELAY`, do not leave as a segment each. The rules are those
//! of `send` (state, `WriteClosed`, the cap on the whole length, the
//! overflow policy); what the kernel does not take is queued, borrowed
//! parts copied from where the kernel stopped, shared ones by reference.

use std::io::{self, IoSlice};

use bytes::Bytes;

use crate::conn::send_buf::{MAX_IOVECS, SendBuf};
use crate::conn::state::ConnState;
use crate::conn::write::{check_send, errno, is_retry};
use crate::conn::{Flags, Intent};
use crate::error::{Error, Result};
use crate::reactor::core::{Core, conn_by_id, own_conn_by_id};
use crate::reactor::ctx::{ConnRef, Ctx};
use crate::sys;
use crate::token::ConnId;

/// One part of a vectored send.
pub(crate) trait Part: AsRef<[u8]> {
    fn bytes(&self) -> &[u8];
    /// Queues the part from byte `from` on.
    fn queue_from(&self, queue: &mut SendBuf, from: usize);
}

impl Part for &[u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn queue_from(&self, queue: &mut SendBuf, from: usize) {
        queue.push_slice(&self[from..]);
    }
}

impl Part for Bytes {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn queue_from(&self, queue: &mut SendBuf, from: usize) {
        queue.push_bytes(self.slice(from..));
    }
}

impl<S: 'static> Core<S> {
    /// Sends `parts` in order on connection `id` (`own`: the running
    /// callback's own, see [`own_conn_by_id`]).
    pub(crate) fn send_parts<P: Part>(&mut self, id: ConnId, own: bool, parts: &[P]) -> Result<()> {
        let (slot, conn) = if own {
            own_conn_by_id(&mut self.entries, id)?
        } else {
            conn_by_id(&mut self.entries, self.index, id)?
        };
        let total: usize = parts.iter().map(|p| p.bytes().len()).sum();
        if let Err(e) = check_send(conn, total) {
            if conn.pending.is_some() {
                self.enqueue(slot);
            }
            return Err(e);
        }
        if total == 0 {
            return Ok(());
        }
        #[cfg(feature = "tls")]
        if !conn.is_plain() {
            return self.tls_send(slot, parts);
        }
        let before = conn.send.len();
        let mut written = 0;
        if before == 0 && conn.state() != ConnState::Connecting && !conn.flags.has(Flags::CORKED) {
            let (result, offered) = write_parts(conn.fd, &conn.stream, parts);
            match result {
                Ok(n) => written = n,
                Err(e) if is_retry(&e) => {}
                Err(e) => {
                    conn.request(Intent::Fail(errno(&e)));
                    self.enqueue(slot);
                    return Err(Error::Io(e));
                }
            }
            conn.stats.bytes_out += written as u64;
            self.metrics.bytes_out.bump(written as u64);
            if written == total {
                return Ok(());
            }
            if written < offered {
                // The kernel is full until its next writable edge.
                conn.flags.remove(Flags::WRITABLE);
            }
        }
        queue_after(&mut conn.send, parts, written);
        self.queue_grew(slot, before);
        Ok(())
    }
}

/// One write of the non-empty parts (at most [`MAX_IOVECS`] of them):
/// what it returned, and how many bytes it offered.
fn write_parts<P: Part>(
    fd: std::os::fd::RawFd,
    stream: &impl std::os::fd::AsFd,
    parts: &[P],
) -> (io::Result<usize>, usize) {
    let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
    let mut count = 0;
    let mut offered = 0;
    for part in parts.iter().map(Part::bytes).filter(|b| !b.is_empty()) {
        if count == MAX_IOVECS {
            break;
        }
        iov[count] = IoSlice::new(part);
        offered += part.len();
        count += 1;
    }
    let result = if count == 1 {
        sys::send(fd, &iov[0])
    } else {
        sys::send_vectored(stream, &iov[..count])
    };
    (result, offered)
}

/// Queues `parts` after their first `written` bytes.
fn queue_after<P: Part>(queue: &mut SendBuf, parts: &[P], mut written: usize) {
    for part in parts {
        let len = part.bytes().len();
        if written >= len {
            written -= len;
            continue;
        }
        part.queue_from(queue, written);
        written = 0;
    }
}

impl<S: 'static> Ctx<'_, S> {
    /// Sends `parts` one after the other, as one message: when nothing is
    /// queued they go to the kernel in one vectored write (one system
    /// call, and with `TCP_NODELAY` no segment per part); what the kernel
    /// does not take is queued (borrowed parts copied from where it
    /// stopped). Same rules as [`send`](Ctx::send): the cap applies to the
    /// whole length ([`Error::QueueFull`]: nothing sent),
    /// [`Error::WriteClosed`] after close.
    ///
    /// ```
    /// use netloop::bytes::BytesMut;
    /// use netloop::{Ctx, Handler};
    ///
    /// /// Echoes each read with a length prefix.
    /// struct Prefixed;
    ///
    /// impl Handler for Prefixed {
    ///     fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
    ///         let header = (input.len() as u32).to_be_bytes();
    ///         if ctx.send_vectored(&[&header, input]).is_ok() {
    ///             input.clear();
    ///         }
    ///     }
    /// }
    /// ```
    pub fn send_vectored(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.rc.core.send_parts(self.id, true, parts)
    }

    /// [`send_vectored`](Ctx::send_vectored) of shared buffers: what the
    /// kernel does not take is queued by reference, never copied (small
    /// remainders may be coalesced by copy, as for
    /// [`send_bytes`](Ctx::send_bytes)).
    ///
    /// ```
    /// use netloop::bytes::{Bytes, BytesMut};
    /// use netloop::{Ctx, Handler};
    ///
    /// /// Sends the same large page to everyone who asks, without copying it.
    /// struct Page(Bytes);
    ///
    /// impl Handler for Page {
    ///     fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
    ///         input.clear();
    ///         let header = Bytes::from(format!("{}\n", self.0.len()));
    ///         let _ = ctx.send_bytes_vectored(&[header, self.0.clone()]);
    ///     }
    /// }
    /// ```
    pub fn send_bytes_vectored(&mut self, parts: &[Bytes]) -> Result<()> {
        self.rc.core.send_parts(self.id, true, parts)
    }
}

impl<S: 'static> ConnRef<'_, S> {
    /// See [`Ctx::send_vectored`].
    pub fn send_vectored(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.core.send_parts(self.id, false, parts)
    }

    /// See [`Ctx::send_bytes_vectored`].
    pub fn send_bytes_vectored(&mut self, parts: &[Bytes]) -> Result<()> {
        self.core.send_parts(self.id, false, parts)
    }
}
