//! The read path: drain a readable socket under a per-turn budget, hand the
//! bytes to `on_read`, keep what the handler leaves.
//!
//! Buffers: a connection with nothing buffered reads into the reactor's
//! shared 64 KiB scratch buffer, so an idle connection holds no input memory.
//! Only when the handler leaves a partial message does the connection get a
//! buffer of its own (from a small pool), which goes back once consumed.
//!
//! Edge-triggered readiness: a read that returns fewer bytes than asked
//! proves the socket drained, so the loop skips the read that would return
//! `EAGAIN` (one syscall per message saved), unless the event also carried
//! RDHUP/HUP/ERR: then the FIN or error waits behind the data and we read on.

use std::io;

use bytes::BytesMut;

use crate::conn::Flags;
use crate::conn::state::ConnState;
use crate::error::{Error, Result};
use crate::reactor::core::{Core, SCRATCH_SIZE};
use crate::reactor::token::ConnId;
use crate::sys;

/// Most reads of one connection per turn, whatever their size.
const MAX_READS_PER_TURN: usize = 16;
/// Read size when appending to a connection's own buffer.
const APPEND_CHUNK: usize = 16 * 1024;

impl<S: 'static> Core<S> {
    /// Reads while the socket is readable, the handler accepts input and the
    /// budget lasts; a connection that used its budget is deferred to the
    /// next turn.
    pub(crate) fn read_ready(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = self.conn(slot) else { return };
        let mut budget = conn.opts.read_budget;
        for _ in 0..MAX_READS_PER_TURN {
            let Some(conn) = self.conn_mut(slot) else {
                return;
            };
            if conn.flags.has(Flags::READ_PAUSED) {
                return;
            }
            if conn.flags.take(Flags::REDELIVER) && conn.state.delivers_input() {
                let buf = std::mem::take(&mut conn.input);
                self.deliver(state, slot, buf, false);
                continue;
            }
            let discarding = conn.state.discards_input();
            if !conn.flags.has(Flags::READABLE)
                || !(conn.state.delivers_input() || discarding)
                || conn.flags.has(Flags::INPUT_FULL)
            {
                return;
            }
            if !self.read_once(state, slot, &mut budget, discarding) {
                return;
            }
            if budget == 0 {
                break;
            }
        }
        // Budget spent with the socket still readable: come back next turn.
        if self
            .conn(slot)
            .is_some_and(|c| c.flags.has(Flags::READABLE))
        {
            self.defer(slot);
        }
    }

    /// One `recv`; returns whether reading may go on.
    fn read_once(&mut self, state: &mut S, slot: usize, budget: &mut usize, discard: bool) -> bool {
        let now = self.clock.now();
        let Some(conn) = conn_at!(self, slot) else {
            return false;
        };
        let from_scratch = discard || conn.input.is_empty();
        let (mut buf, want) = if from_scratch {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.reserve(SCRATCH_SIZE);
            let want = buf.capacity().min(*budget);
            (buf, want)
        } else {
            let mut buf = std::mem::take(&mut conn.input);
            buf.reserve(APPEND_CHUNK);
            let want = (buf.capacity() - buf.len()).min(*budget);
            (buf, want)
        };
        let result = sys::recv_into(&conn.stream, &mut buf, want);
        match result {
            Ok(0) => {
                self.put_back(slot, buf, from_scratch);
                self.peer_finished(state, slot);
                false
            }
            Ok(n) => {
                *budget -= n.min(*budget);
                if n < want && !conn.flags.has(Flags::HANGUP_HINT) {
                    conn.flags.remove(Flags::READABLE);
                }
                conn.last_read = now;
                conn.stats.bytes_in += n as u64;
                self.metrics.bytes_in.bump(n as u64);
                if discard {
                    buf.clear();
                    self.scratch = buf;
                    return true;
                }
                self.deliver(state, slot, buf, from_scratch);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.flags.remove(Flags::READABLE | Flags::HANGUP_HINT);
                self.put_back(slot, buf, from_scratch);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.put_back(slot, buf, from_scratch);
                true
            }
            Err(e) => {
                self.put_back(slot, buf, from_scratch);
                self.fail(state, slot, e);
                false
            }
        }
    }

    /// Hands `buf` to `on_read`, keeps what the handler left, and applies
    /// what it asked for.
    fn deliver(&mut self, state: &mut S, slot: usize, mut buf: BytesMut, from_scratch: bool) {
        self.dispatch(state, slot, |h, ctx| h.on_read(ctx, &mut buf));
        self.keep_leftover(slot, buf, from_scratch);
        self.apply_pending(state, slot);
    }

    /// After `on_read`: an emptied buffer goes back where it came from;
    /// leftover input stays with the connection (copied out of the shared
    /// scratch buffer, which must be free for the next connection).
    fn keep_leftover(&mut self, slot: usize, mut buf: BytesMut, from_scratch: bool) {
        if buf.is_empty() {
            return self.put_back(slot, buf, from_scratch);
        }
        let mut kept = if from_scratch {
            let mut own = self.take_input_buf();
            own.extend_from_slice(&buf);
            buf.clear();
            self.scratch = buf;
            own
        } else {
            buf
        };
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        if conn.state == ConnState::Closed {
            kept.clear();
            return self.recycle_input_buf(kept);
        }
        if kept.len() >= conn.opts.max_input {
            // The handler is not consuming: stop reading and let TCP flow
            // control hold the peer until it does (resume hands it back).
            conn.flags.insert(Flags::INPUT_FULL);
            log::debug!(
                "{}: input buffer full ({} bytes), reading paused",
                conn.id,
                kept.len()
            );
        }
        conn.input = kept;
    }

    /// Returns an unused buffer: the scratch buffer to the reactor, an own
    /// buffer to the connection (or the pool, if empty).
    fn put_back(&mut self, slot: usize, buf: BytesMut, from_scratch: bool) {
        if from_scratch {
            self.scratch = buf;
        } else if buf.is_empty() {
            self.recycle_input_buf(buf);
        } else if let Some(conn) = self.conn_mut(slot) {
            conn.input = buf;
        }
    }

    /// `pause_read()`: stop delivering input.
    pub(crate) fn pause_read(&mut self, id: ConnId) -> Result<()> {
        let slot = self.slot_of(id)?;
        let conn = self.conn_mut(slot).ok_or(Error::NoSuchConn)?;
        conn.flags.insert(Flags::READ_PAUSED);
        Ok(())
    }

    /// `resume_read()`: hand buffered input back to the handler and read
    /// what the kernel holds, without waiting for a new edge (readiness seen
    /// while paused was kept).
    pub(crate) fn resume_read(&mut self, id: ConnId) -> Result<()> {
        let slot = self.slot_of(id)?;
        let now = self.clock.now();
        let conn = self.conn_mut(slot).ok_or(Error::NoSuchConn)?;
        let was_blocked = conn.flags.take(Flags::READ_PAUSED) | conn.flags.take(Flags::INPUT_FULL);
        if was_blocked {
            // The idle timeout does not run while reading is paused (the
            // silence was ours); it starts afresh now.
            conn.last_read = now;
        }
        if was_blocked && !conn.input.is_empty() {
            conn.flags.insert(Flags::REDELIVER);
        }
        if conn.flags.has(Flags::REDELIVER) || conn.flags.has(Flags::READABLE) {
            if conn.handler.is_none() {
                // Resumed from its own callback: take it up next turn, so a
                // handler that pauses and resumes on every read without
                // consuming cannot keep the loop in this turn forever.
                self.defer(slot);
            } else {
                self.enqueue(slot);
            }
        }
        Ok(())
    }
}
