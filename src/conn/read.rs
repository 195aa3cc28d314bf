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

use crate::conn::Conn;
use crate::conn::Flags;
use crate::conn::state::ConnState;
use crate::sys;

/// Size of the reactor's shared read buffer: one read takes at most this much.
pub(crate) const SCRATCH_SIZE: usize = 64 * 1024;
/// Most reads of one connection per turn, whatever their size (more when
/// the read budget holds more than that many full reads: see
/// [`reads_per_turn`]).
pub(crate) const MAX_READS_PER_TURN: usize = 16;

/// How many reads one connection gets per turn: [`MAX_READS_PER_TURN`],
/// or as many full reads as `budget` bytes hold if that is more, so that
/// a budget above 1 MiB is not cut short by the count.
#[inline]
pub(crate) fn reads_per_turn(budget: usize) -> usize {
    MAX_READS_PER_TURN.max(budget / SCRATCH_SIZE)
}

/// Read size when appending to a connection's own buffer.
const APPEND_CHUNK: usize = 16 * 1024;

/// What the read loop does next for a connection.
pub(crate) enum Step {
    Stop,
    /// Hand buffered input to the handler again (after a resume).
    Redeliver,
    Read(Sink),
}

/// Where the bytes of a read go.
#[derive(Clone, Copy)]
pub(crate) enum Sink {
    /// The shared scratch buffer, handed to `on_read` (nothing is buffered).
    Scratch,
    /// Appended to the connection's own buffer, handed to `on_read`.
    Own,
    /// The shared scratch buffer, then dropped (lingering close).
    Discard,
}

impl<H> Conn<H> {
    /// Nothing to read or hand back, nothing asked for, no error event: a
    /// read loop that finds this is done, with nothing left to check.
    pub(crate) fn is_settled(&self) -> bool {
        !self.has_work()
            && !self
                .flags
                .has(Flags::READABLE | Flags::REDELIVER | Flags::ERROR_SEEN)
    }

    pub(crate) fn next_step(&mut self) -> Step {
        // The usual read: open, readable, nothing paused or held back.
        let held = Flags::READ_PAUSED | Flags::REDELIVER | Flags::INPUT_FULL;
        if self.state() == ConnState::Open
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
        if self.flags.take(Flags::REDELIVER) && self.state().delivers_input() {
            return Step::Redeliver;
        }
        let discard = self.state().discards_input();
        if !self.flags.has(Flags::READABLE)
            || !(self.state().delivers_input() || discard)
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
    pub(crate) fn recv(
        &mut self,
        scratch: &mut BytesMut,
        sink: Sink,
        budget: usize,
    ) -> io::Result<usize> {
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

#[cfg(test)]
mod reads_per_turn_tests {
    use super::*;

    #[test]
    fn the_count_cap_follows_a_budget_above_one_mebibyte() {
        assert_eq!(reads_per_turn(256 << 10), MAX_READS_PER_TURN);
        assert_eq!(reads_per_turn(1 << 20), MAX_READS_PER_TURN);
        assert_eq!(reads_per_turn(4 << 20), 64);
        assert_eq!(reads_per_turn(1), MAX_READS_PER_TURN);
    }
}
