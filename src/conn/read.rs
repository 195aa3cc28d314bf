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
use std::os::fd::RawFd;

use bytes::BytesMut;

use crate::conn::close::CloseReason;
use crate::conn::state::ConnState;
use crate::conn::{Conn, Flags, Intent};
use crate::error::{Error, Result};
use crate::handler::Verdict;
use crate::reactor::core::{Core, SCRATCH_SIZE};
use crate::reactor::dispatch::Call;
use crate::reactor::token::ConnId;
use crate::sys;

/// Most reads of one connection per turn, whatever their size.
const MAX_READS_PER_TURN: usize = 16;
/// Read size when appending to a connection's own buffer.
const APPEND_CHUNK: usize = 16 * 1024;

/// What the read loop does next for a connection.
enum Step {
    Stop,
    /// Hand buffered input to the handler again (after a resume).
    Redeliver,
    Read(Sink),
}

/// Where the bytes of a read go.
#[derive(Clone, Copy)]
enum Sink {
    /// The shared scratch buffer, handed to `on_read` (nothing is buffered).
    Scratch,
    /// Appended to the connection's own buffer, handed to `on_read`.
    Own,
    /// The shared scratch buffer, then dropped (lingering close).
    Discard,
}

impl<S> Conn<S> {
    /// Nothing to read or hand back, nothing asked for, no error event: a
    /// read loop that finds this is done, with nothing left to check.
    fn is_settled(&self) -> bool {
        !self.has_work()
            && !self
                .flags
                .has(Flags::READABLE | Flags::REDELIVER | Flags::ERROR_SEEN)
    }

    fn next_step(&mut self) -> Step {
        // The usual read: open, readable, nothing paused or held back.
        let held = Flags::READ_PAUSED | Flags::REDELIVER | Flags::INPUT_FULL;
        if self.state == ConnState::Open
            && self.flags.masked(Flags::READABLE | held) == Flags::READABLE
        {
            return Step::Read(self.delivering_sink());
        }
        // The usual end: drained, and no input to hand back.
        if !self.flags.has(Flags::READABLE | Flags::REDELIVER) {
            return Step::Stop;
        }
        if self.flags.has(Flags::READ_PAUSED) {
            return Step::Stop;
        }
        if self.flags.take(Flags::REDELIVER) && self.state.delivers_input() {
            return Step::Redeliver;
        }
        let discard = self.state.discards_input();
        if !self.flags.has(Flags::READABLE)
            || !(self.state.delivers_input() || discard)
            || self.flags.has(Flags::INPUT_FULL)
        {
            return Step::Stop;
        }
        if discard {
            return Step::Read(Sink::Discard);
        }
        Step::Read(self.delivering_sink())
    }

    /// Where input for `on_read` is read to: the scratch buffer unless the
    /// connection keeps a partial message.
    fn delivering_sink(&self) -> Sink {
        if self.input.is_empty() {
            Sink::Scratch
        } else {
            Sink::Own
        }
    }

    /// One read of the read loop, into `sink`.
    #[inline]
    fn recv(&mut self, scratch: &mut BytesMut, sink: Sink, budget: usize) -> io::Result<usize> {
        match sink {
            Sink::Own => recv_once(
                self.fd,
                &mut self.flags,
                &mut self.input,
                APPEND_CHUNK,
                budget,
            ),
            Sink::Scratch | Sink::Discard => {
                recv_once(self.fd, &mut self.flags, scratch, SCRATCH_SIZE, budget)
            }
        }
    }
}

/// One `recv` appended to `buf` (at least `chunk` bytes of room, at most
/// `budget` bytes read), updating the readiness flags: a short read proves
/// the socket drained unless a FIN or error waits behind the data.
#[inline]
fn recv_once(
    fd: RawFd,
    flags: &mut Flags,
    buf: &mut BytesMut,
    chunk: usize,
    budget: usize,
) -> io::Result<usize> {
    buf.reserve(chunk);
    let want = (buf.capacity() - buf.len()).min(budget);
    let result = sys::recv_into(fd, buf, want);
    match &result {
        Ok(n) if *n < want && !flags.has(Flags::HANGUP_HINT) => flags.remove(Flags::READABLE),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            flags.remove(Flags::READABLE | Flags::HANGUP_HINT)
        }
        _ => {}
    }
    result
}

/// How a read loop ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// Nothing more to read for now, what the handler asked for is applied
    /// and no error event waits: the caller has nothing left to check.
    Settled,
    /// The caller still checks for an error event and pending requests.
    Unsettled,
}

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
        let mut budget = conn.opts.read_budget;
        for _ in 0..MAX_READS_PER_TURN {
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
    fn deliver_scratch(
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
    fn deliver_own(&mut self, state: &mut S, slot: usize) {
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
        if conn.state == ConnState::Closed {
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
