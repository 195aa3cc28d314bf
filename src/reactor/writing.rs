//! The loop's side of the write path: `send`, the queue flush, write
//! interest and water marks.
//!
//! `send` with nothing queued writes straight from the caller's bytes and
//! queues only what the kernel did not take (no copy on the fast path). A
//! non-empty queue is flushed with one vectored `sendmsg(MSG_NOSIGNAL)` per
//! writable event. The socket is registered for writable events only while
//! bytes are queued: interest changes on the empty↔non-empty transitions,
//! never per message.

use std::io::{self, IoSlice};

use bytes::Bytes;
use mio::Interest;

use crate::conn::send_buf::MAX_IOVECS;
use crate::conn::state::ConnState;
use crate::conn::write::{Payload, check_send, errno, is_retry};
use crate::conn::{Flags, Intent};
use crate::error::{Error, Result};
use crate::reactor::core::{Core, conn_by_id, own_conn_by_id};
use crate::sys;
use crate::token::ConnId;

impl<S: 'static> Core<S> {
    /// `send(&[u8])` on connection `id`.
    #[inline]
    pub(crate) fn send_slice(&mut self, id: ConnId, data: &[u8]) -> Result<()> {
        self.send_payload(id, false, Payload::Slice(data))
    }

    /// `send_bytes(Bytes)` on connection `id`.
    pub(crate) fn send_shared(&mut self, id: ConnId, data: Bytes) -> Result<()> {
        self.send_payload(id, false, Payload::Shared(data))
    }

    /// [`send_slice`](Self::send_slice) from the connection's own callback
    /// (`Ctx::send`): its id needs no check that it is of this reactor.
    #[inline]
    pub(crate) fn send_own_slice(&mut self, id: ConnId, data: &[u8]) -> Result<()> {
        self.send_payload(id, true, Payload::Slice(data))
    }

    /// [`send_shared`](Self::send_shared) from the connection's own callback.
    pub(crate) fn send_own_shared(&mut self, id: ConnId, data: Bytes) -> Result<()> {
        self.send_payload(id, true, Payload::Shared(data))
    }

    /// The common send, inlined into handlers: an open connection with
    /// nothing queued writes straight to the kernel. Everything else (a
    /// queue to join, a closed or connecting connection, the cap, errors)
    /// goes through [`send_checked`](Self::send_checked). `own`: `id` is
    /// the running callback's own (see [`own_conn_by_id`]).
    #[inline]
    fn send_payload(&mut self, id: ConnId, own: bool, data: Payload<'_>) -> Result<()> {
        let (slot, conn) = if own {
            own_conn_by_id(&mut self.entries, id)?
        } else {
            conn_by_id(&mut self.entries, self.index, id)?
        };
        let len = data.as_slice().len();
        // `direct_max` is the cap, or 0 while corked.
        let direct = conn.send.is_empty()
            && matches!(conn.state(), ConnState::Open | ConnState::ReadClosed)
            && conn.pending.is_none()
            && len != 0
            && len <= conn.marks.direct_max()
            && conn.is_plain();
        if !direct {
            return self.send_checked(slot, data);
        }
        let written = match sys::send(conn.fd, data.as_slice()) {
            Ok(n) => n,
            Err(e) => return self.send_failed(slot, data, e),
        };
        conn.stats.bytes_out += written as u64;
        self.metrics.bytes_out.bump(written as u64);
        if written < len {
            self.queue_after_partial_send(slot, data, written);
        }
        Ok(())
    }

    /// A send that is not the direct case: checks the state and the cap,
    /// writes to the kernel if nothing is queued, queues the rest.
    #[inline(never)]
    fn send_checked(&mut self, slot: usize, data: Payload<'_>) -> Result<()> {
        let Some(conn) = conn_at!(self, slot) else {
            return Err(Error::NoSuchConn);
        };
        let len = data.as_slice().len();
        if let Err(e) = check_send(conn, len) {
            if conn.pending.is_some() {
                self.enqueue(slot);
            }
            return Err(e);
        }
        if len == 0 {
            return Ok(());
        }
        #[cfg(feature = "tls")]
        if !conn.is_plain() {
            return self.tls_send(slot, &[data.as_slice()]);
        }
        let before = conn.send.len();
        let mut written = 0;
        if before == 0 && conn.state() != ConnState::Connecting && !conn.flags.has(Flags::CORKED) {
            match sys::send(conn.fd, data.as_slice()) {
                Ok(n) => written = n,
                Err(e) => return self.send_failed(slot, data, e),
            }
            conn.stats.bytes_out += written as u64;
            self.metrics.bytes_out.bump(written as u64);
            if written == len {
                return Ok(());
            }
            // The kernel took less than offered: it is full until the next
            // writable edge, so the flush must not try before then.
            conn.flags.remove(Flags::WRITABLE);
        }
        self.queue_rest(slot, data, written, before);
        Ok(())
    }

    /// A direct send failed: on `EAGAIN`/`EINTR` everything is queued;
    /// any other error fails the connection (applied by the loop).
    #[inline(never)]
    fn send_failed(&mut self, slot: usize, data: Payload<'_>, e: io::Error) -> Result<()> {
        if is_retry(&e) {
            self.queue_after_partial_send(slot, data, 0);
            return Ok(());
        }
        if let Some(conn) = conn_at!(self, slot) {
            conn.request(Intent::Fail(errno(&e)));
        }
        self.enqueue(slot);
        Err(Error::Io(e))
    }

    /// A direct send to an empty queue took only `written` bytes: the
    /// kernel is full until the next writable edge (so the flush must not
    /// try before then), and the rest is queued.
    #[inline(never)]
    fn queue_after_partial_send(&mut self, slot: usize, data: Payload<'_>, written: usize) {
        if let Some(conn) = conn_at!(self, slot) {
            conn.flags.remove(Flags::WRITABLE);
        }
        self.queue_rest(slot, data, written, 0);
    }

    /// Queues what the kernel did not take (kept out of line: the common
    /// send goes straight to the kernel).
    #[inline(never)]
    fn queue_rest(&mut self, slot: usize, data: Payload<'_>, written: usize, before: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        match data {
            Payload::Slice(s) => conn.send.push_slice(&s[written..]),
            Payload::Shared(mut b) => {
                bytes::Buf::advance(&mut b, written);
                conn.send.push_bytes(b)
            }
        }
        self.queue_grew(slot, before);
    }

    /// After bytes were queued: ask for writable events if the queue was
    /// empty, start the stall clock, and note a high-water crossing. (Not
    /// while a cork holds bytes that have not met the kernel yet: lifting
    /// it writes them, then comes here with what is left.)
    pub(crate) fn queue_grew(&mut self, slot: usize, before: usize) {
        let now = self.clock.now();
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let queued = conn.send.len();
        conn.stats.peak_queued = conn.stats.peak_queued.max(queued as u64);
        if conn.flags.has(Flags::CORKED) && !conn.flags.has(Flags::WRITE_INTEREST) {
            return;
        }
        if before == 0 {
            conn.last_write = now;
            if !conn.flags.has(Flags::WRITE_INTEREST) {
                let token = conn.id.0.token();
                let interest = Interest::READABLE | Interest::WRITABLE;
                if let Err(e) = self.registry.reregister(&mut conn.stream, token, interest) {
                    conn.request(Intent::Fail(errno(&e)));
                    return self.enqueue(slot);
                }
                conn.flags.insert(Flags::WRITE_INTEREST);
            }
            self.arm_stall_timer(slot);
        }
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if before < conn.marks.high()
            && queued >= conn.marks.high()
            && !conn.flags.has(Flags::ABOVE_HIGH)
        {
            conn.flags.insert(Flags::ABOVE_HIGH | Flags::NOTIFY_HIGH);
            self.metrics.high_water_events.bump(1);
            self.enqueue(slot);
        }
    }

    /// Writes queued bytes until the queue is empty or the kernel is full.
    pub(crate) fn flush(&mut self, state: &mut S, slot: usize) {
        let now = self.clock.now();
        match self.write_queue(slot) {
            Ok(true) => {
                if let Some(conn) = conn_at!(self, slot) {
                    conn.last_write = now;
                }
                self.queue_shrank(state, slot);
            }
            Ok(false) => {}
            Err(e) => self.fail(state, slot, e),
        }
    }

    /// Writes queued bytes until the queue is empty or the kernel is full
    /// (one vectored `sendmsg` per round); says whether any went out.
    pub(crate) fn write_queue(&mut self, slot: usize) -> io::Result<bool> {
        let Some(conn) = conn_at!(self, slot) else {
            return Ok(false);
        };
        let mut progressed = false;
        while !conn.send.is_empty() {
            let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
            let count = conn.send.io_slices(&mut iov);
            let offered: usize = iov[..count].iter().map(|s| s.len()).sum();
            let result = if count == 1 {
                sys::send(conn.fd, &iov[0])
            } else {
                sys::send_vectored(&conn.stream, &iov[..count])
            };
            match result {
                Ok(n) => {
                    conn.send.advance(n);
                    conn.stats.bytes_out += n as u64;
                    self.metrics.bytes_out.bump(n as u64);
                    progressed |= n > 0;
                    if n < offered {
                        // The kernel is full; its next writable edge resumes us.
                        conn.flags.remove(Flags::WRITABLE);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.flags.remove(Flags::WRITABLE);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(progressed)
    }

    /// After queued bytes went out: drop write interest when empty, note a
    /// low-water crossing, and let a close that waited for the flush go on.
    fn queue_shrank(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let queued = conn.send.len();
        if conn.flags.has(Flags::ABOVE_HIGH) && queued <= conn.marks.low() {
            conn.flags.remove(Flags::ABOVE_HIGH);
            conn.flags.insert(Flags::NOTIFY_DRAIN);
        }
        if queued > 0 {
            return;
        }
        if conn.flags.take(Flags::WRITE_INTEREST) {
            let token = conn.id.0.token();
            if let Err(e) = self
                .registry
                .reregister(&mut conn.stream, token, Interest::READABLE)
            {
                return self.fail(state, slot, e);
            }
        }
        if matches!(
            conn.state(),
            ConnState::WriteClosing | ConnState::Closing | ConnState::LingerFlushing
        ) {
            self.write_side_flushed(state, slot);
        }
    }
}
