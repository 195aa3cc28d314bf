//! The loop's side of the read path: drain a readable socket under a
//! per-turn budget, hand the bytes to `on_read`, keep what the handler
//! leaves, and act when the input buffer reaches `max_input`. What to read
//! next and where the bytes go is the connection's decision
//! (`conn::read`).

use std::io;

use bytes::BytesMut;

use crate::conn::close::CloseReason;
use crate::conn::read::{ReadEnd, Sink, Step, reads_per_turn};
use crate::conn::state::ConnState;
use crate::conn::{Flags, Intent};
use crate::error::{Error, Result};
use crate::reactor::core::Core;
use crate::reactor::dispatch::Call;
use crate::reactor::handler::Verdict;
use crate::token::ConnId;

impl<S: 'static> Core<S> {
    /// Reads while the socket is readable, the handler accepts input and the
    /// budget lasts; a connection that used its budget is deferred to the
    /// next turn. `scratch` is the reactor's shared read buffer, empty. The
    /// caller has applied what the handler asked for (`apply_pending`).
    pub(crate) fn read_ready(
        &mut self,
        state: &mut S,
        slot: usize,
        scratch: &mut BytesMut,
    ) -> ReadEnd {
        let Some(mut conn) = conn_at!(self, slot) else {
            return ReadEnd::Settled;
        };
        #[cfg(feature = "tls")]
        if !conn.is_plain() {
            return self.tls_read_ready(state, slot, scratch);
        }
        let mut budget = conn.opts.read_budget;
        for _ in 0..reads_per_turn(budget) {
            match conn.next_step() {
                Step::Stop if conn.flags.has(Flags::ERROR_SEEN) => return ReadEnd::Unsettled,
                Step::Stop => return ReadEnd::Settled,
                Step::Redeliver => self.deliver_own(state, slot),
                Step::Read(sink) => {
                    let n = match conn.recv(scratch, sink, budget) {
                        Ok(0) => {
                            self.peer_finished(state, slot);
                            return ReadEnd::Unsettled;
                        }
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return ReadEnd::Unsettled;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            self.fail(state, slot, e);
                            return ReadEnd::Unsettled;
                        }
                    };
                    budget -= n.min(budget);
                    conn.last_read = self.clock.now();
                    conn.stats.bytes_in += n as u64;
                    self.metrics.bytes_in.bump(n as u64);
                    match sink {
                        Sink::Scratch => {
                            let call = conn.begin_call();
                            if self.deliver_scratch(state, slot, call, scratch) {
                                return ReadEnd::Settled;
                            }
                        }
                        Sink::Own => self.deliver_own(state, slot),
                        Sink::Discard => scratch.clear(),
                    }
                }
            }
            let Some(c) = conn_at!(self, slot) else {
                return ReadEnd::Settled;
            };
            conn = c;
            if budget == 0 {
                break;
            }
            if conn.has_work() {
                // What the last callback asked for applies before reading on.
                self.apply_pending(state, slot);
                let Some(c) = conn_at!(self, slot) else {
                    return ReadEnd::Settled;
                };
                conn = c;
            }
        }
        // Budget spent with the socket still readable: come back next turn.
        if conn.flags.has(Flags::READABLE) {
            self.defer(slot);
        }
        ReadEnd::Unsettled
    }

    /// Hands the bytes read into the scratch buffer to `on_read` (through
    /// `call`, the connection's handler taken out by the caller); what the
    /// handler leaves is copied into a buffer of the connection's own (the
    /// scratch buffer must be free for the next connection). What the
    /// handler asked for is applied by the caller. Returns whether the read
    /// loop is over and settled (see [`Conn::is_settled`]).
    pub(crate) fn deliver_scratch(
        &mut self,
        state: &mut S,
        slot: usize,
        call: Option<Call<S>>,
        scratch: &mut BytesMut,
    ) -> bool {
        let settled = call
            .and_then(|call| self.run_call(state, slot, call, |h, ctx| h.on_read(ctx, scratch)))
            .is_some_and(|conn| conn.is_settled());
        if !scratch.is_empty() {
            let mut own = self.take_input_buf();
            own.extend_from_slice(scratch);
            scratch.clear();
            self.keep_leftover(state, slot, own);
            // A full input buffer may have asked for a close.
            return settled && self.conn(slot).is_none_or(|c| !c.has_work());
        }
        settled
    }

    /// Hands the connection's own input buffer to `on_read` and keeps what
    /// the handler leaves.
    pub(crate) fn deliver_own(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let mut buf = std::mem::take(&mut conn.input);
        self.dispatch(state, slot, |h, ctx| h.on_read(ctx, &mut buf));
        if buf.is_empty() {
            self.recycle_input_buf(buf);
        } else {
            self.keep_leftover(state, slot, buf);
        }
    }

    /// Keeps input the handler left unconsumed; at `max_input` reading
    /// pauses and `on_input_full` decides whether the connection stays.
    fn keep_leftover(&mut self, state: &mut S, slot: usize, mut kept: BytesMut) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        if conn.state() == ConnState::Closed {
            kept.clear();
            return self.recycle_input_buf(kept);
        }
        let buffered = kept.len();
        conn.input = kept;
        if buffered >= conn.opts.max_input && !conn.flags.has(Flags::INPUT_FULL) {
            conn.flags.insert(Flags::INPUT_FULL);
            log::debug!("{}: input buffer full ({buffered} bytes)", conn.id);
            self.input_full(state, slot, buffered);
        }
    }

    /// The input buffer reached `max_input`: the handler keeps the
    /// connection (reading stays paused) or, by default, it closes.
    #[inline(never)]
    fn input_full(&mut self, state: &mut S, slot: usize, buffered: usize) {
        let mut verdict = Verdict::Close;
        self.dispatch(state, slot, |h, ctx| {
            verdict = h.on_input_full(ctx, buffered)
        });
        if verdict == Verdict::Close {
            if let Some(conn) = self.conn_mut(slot) {
                conn.request(Intent::Close(CloseReason::InputFull));
            }
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
