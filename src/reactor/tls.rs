//! The loop's side of TLS (cargo feature `tls`): the handshake before
//! `on_open`, the read path through rustls, encrypted sends, close_notify
//! before the FIN, and the TLS failures. The session itself is
//! `conn::tls`.
//!
//! A TLS connection is `Connecting` until its handshake completes (an
//! accepted one from the accept; an outbound one through the TCP connect
//! and then the handshake), so every rule of that phase holds: the handler
//! hears nothing before `on_open`, a close asked for meanwhile waits for
//! what was sent before it, and the deadline timer bounds the whole.

use std::io;

use bytes::BytesMut;

use crate::conn::close::{CloseReason, TlsFailure};
use crate::conn::connect::ConnectErrorKind;
use crate::conn::read::{ReadEnd, Sink, reads_per_turn};
use crate::conn::state::ConnState;
use crate::conn::tls::TlsError;
use crate::conn::write::errno;
use crate::conn::{Flags, Intent, Origin};
use crate::error::{Error, Result};
use crate::reactor::core::Core;
use crate::reactor::schedule::TimerTask;

impl<S: 'static> Core<S> {
    /// A new TLS connection waits for its handshake: its deadline starts now.
    pub(crate) fn arm_handshake_deadline(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.opts.tls.is_none() {
            return;
        }
        let deadline = self.clock.after(conn.opts.tls_handshake_timeout);
        let timer = self
            .timers
            .insert(deadline, None, TimerTask::Deadline(conn.id));
        self.replace_deadline_timer(slot, timer);
    }

    /// The TCP connect of an outbound TLS connection completed: the
    /// handshake starts (the ClientHello goes out) and gets its own
    /// deadline. Returns false if there is no handshake to start.
    pub(crate) fn tls_client_starts(&mut self, slot: usize) -> bool {
        let Some(conn) = conn_at!(self, slot) else {
            return false;
        };
        let Some(tls) = conn.tls.as_mut() else {
            return false;
        };
        if tls.wire_up() {
            return false;
        }
        tls.set_wire_up();
        self.arm_handshake_deadline(slot);
        self.tls_pump(slot);
        true
    }

    /// Encrypts a send on a TLS connection (whose state and cap the caller
    /// checked) and hands the ciphertext on.
    pub(crate) fn tls_send<B: AsRef<[u8]>>(&mut self, slot: usize, parts: &[B]) -> Result<()> {
        let Some(conn) = conn_at!(self, slot) else {
            return Err(Error::NoSuchConn);
        };
        let Some(tls) = conn.tls.as_mut() else {
            return Err(Error::NoSuchConn);
        };
        if let Err(e) = tls.encrypt(parts) {
            conn.request(Intent::Fail(errno(&e)));
            self.enqueue(slot);
            return Err(Error::Io(e));
        }
        self.tls_pump(slot);
        Ok(())
    }

    /// Drains what rustls has to send (records, handshake messages,
    /// alerts): to the kernel while nothing is queued and the connection is
    /// not corked, else into the send queue, with its bookkeeping.
    pub(crate) fn tls_pump(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        let before = conn.send.len();
        let direct = before == 0 && !conn.flags.has(Flags::CORKED);
        match tls.pump((conn.fd, &conn.stream), &mut conn.send, direct) {
            Ok(pumped) => {
                conn.stats.bytes_out += pumped.direct as u64;
                self.metrics.bytes_out.bump(pumped.direct as u64);
                if pumped.kernel_full {
                    conn.flags.remove(Flags::WRITABLE);
                }
            }
            Err(e) => {
                conn.request(Intent::Fail(errno(&e)));
                return self.enqueue(slot);
            }
        }
        if conn.send.len() > before {
            self.queue_grew(slot, before);
        }
    }

    /// Before a close or shutdown of the write side: close_notify goes
    /// ahead of the FIN (once, and only on an established session; an
    /// abort sends none).
    pub(crate) fn tls_close_notify(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.state().is_closing() || conn.state() == ConnState::WriteClosed {
            return;
        }
        if conn.tls.as_mut().is_some_and(|t| t.queue_close_notify()) {
            self.tls_pump(slot);
        }
    }

    /// A turn of a TLS connection that is still handshaking (its socket
    /// connected): requests, then the queue, then what the peer sent.
    pub(crate) fn tls_handshake_turn(
        &mut self,
        state: &mut S,
        slot: usize,
        scratch: &mut BytesMut,
    ) {
        self.apply_pending(state, slot);
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.state() != ConnState::Connecting {
            return;
        }
        if conn.flags.has(Flags::WRITABLE) && !conn.send.is_empty() {
            self.flush(state, slot);
        }
        self.tls_read_ready(state, slot, scratch);
        self.apply_pending(state, slot);
    }

    /// The read path of a TLS connection: reads ciphertext into `scratch`
    /// (the loop's shared buffer, empty), feeds it to rustls, and hands the
    /// plaintext to `on_read` ([`tls_ingest`](Self::tls_ingest)).
    pub(crate) fn tls_read_ready(
        &mut self,
        state: &mut S,
        slot: usize,
        scratch: &mut BytesMut,
    ) -> ReadEnd {
        let Some(conn) = conn_at!(self, slot) else {
            return ReadEnd::Settled;
        };
        let mut budget = conn.opts.read_budget;
        for _ in 0..reads_per_turn(budget) {
            let Some(conn) = conn_at!(self, slot) else {
                return ReadEnd::Settled;
            };
            let delivers = conn.state().delivers_input();
            if conn.flags.has(Flags::REDELIVER) && !conn.flags.has(Flags::READ_PAUSED) {
                conn.flags.remove(Flags::REDELIVER);
                if delivers {
                    self.deliver_own(state, slot);
                }
                continue;
            }
            let handshaking = conn.state() == ConnState::Connecting;
            let held = delivers && conn.flags.has(Flags::READ_PAUSED | Flags::INPUT_FULL);
            let wanted = handshaking || delivers || conn.state().discards_input();
            if !conn.flags.has(Flags::READABLE) || held || !wanted {
                return ReadEnd::Unsettled;
            }
            let n = match conn.recv(scratch, Sink::Scratch, budget) {
                Ok(0) => {
                    self.tls_peer_fin(state, slot);
                    return ReadEnd::Unsettled;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadEnd::Unsettled,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.tls_read_failed(state, slot, e);
                    return ReadEnd::Unsettled;
                }
            };
            budget -= n.min(budget);
            conn.last_read = self.clock.now();
            conn.stats.bytes_in += n as u64;
            self.metrics.bytes_in.bump(n as u64);
            self.tls_ingest(state, slot, scratch);
            let Some(conn) = conn_at!(self, slot) else {
                return ReadEnd::Settled;
            };
            if budget == 0 {
                if conn.flags.has(Flags::READABLE) {
                    self.defer(slot);
                }
                return ReadEnd::Unsettled;
            }
            if conn.has_work() {
                self.apply_pending(state, slot);
            }
        }
        if self
            .conn(slot)
            .is_some_and(|c| c.flags.has(Flags::READABLE))
        {
            self.defer(slot);
        }
        ReadEnd::Unsettled
    }

    /// Feeds the ciphertext in `scratch` to the session, sends what it
    /// answers, and acts on what came: the end of the handshake
    /// (`on_open`), plaintext (`on_read`), the peer's close_notify
    /// (`on_eof`) or a failure. The plaintext goes to the loop's own
    /// plaintext buffer, reused from read to read, as `scratch` is for
    /// plain connections.
    fn tls_ingest(&mut self, state: &mut S, slot: usize, scratch: &mut BytesMut) {
        let mut plain = std::mem::take(&mut self.tls_plain);
        let ingested = match conn_at!(self, slot) {
            Some(conn) => {
                let discard = conn.state().discards_input();
                match conn.tls.as_mut() {
                    Some(tls) => tls.ingest(scratch, &mut plain, discard),
                    None => Ok(Default::default()),
                }
            }
            None => Ok(Default::default()),
        };
        scratch.clear();
        self.tls_pump(slot);
        let got = match ingested {
            Ok(got) => got,
            Err(e) => {
                plain.clear();
                self.tls_plain = plain;
                return self.tls_failed(state, slot, e);
            }
        };
        if got.handshake_done && self.failure_queued(slot) {
            // The peer went away as the handshake ended (our last flight
            // or the session tickets could not be sent): the queued
            // failure closes it, and a handler that never had a usable
            // session gets no on_open and no input.
            plain.clear();
            self.tls_plain = plain;
            return;
        }
        if got.handshake_done {
            self.tls_established(state, slot);
        }
        self.deliver_tls_input(state, slot, &mut plain);
        plain.clear();
        self.tls_plain = plain;
        if got.close_notify {
            self.peer_finished(state, slot);
        }
    }

    /// Whether a send on the connection failed and its close is queued.
    fn failure_queued(&self, slot: usize) -> bool {
        self.conn(slot)
            .is_none_or(|c| matches!(c.pending, Some(Intent::Fail(_))))
    }

    /// Hands decrypted input to `on_read` (what the handler leaves is
    /// kept in the connection's own buffer); behind input the connection
    /// kept already, or while reading is paused, it is appended to that.
    fn deliver_tls_input(&mut self, state: &mut S, slot: usize, plain: &mut BytesMut) {
        if plain.is_empty() {
            return;
        }
        let held = self.conn(slot).is_none_or(|c| {
            c.flags.has(Flags::READ_PAUSED) || !c.state().delivers_input() || !c.input.is_empty()
        });
        if !held {
            let call = conn_at!(self, slot).and_then(|c| c.begin_call());
            self.deliver_scratch(state, slot, call, plain);
            return;
        }
        if self.conn(slot).is_some_and(|c| c.input.capacity() == 0) {
            let buf = self.take_input_buf();
            if let Some(conn) = conn_at!(self, slot) {
                conn.input = buf;
            }
        }
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        conn.input.extend_from_slice(plain);
        plain.clear();
        if conn.flags.has(Flags::READ_PAUSED) || !conn.state().delivers_input() {
            // Kept for the resume; counted against `max_input` then.
            conn.flags.insert(Flags::REDELIVER);
            return;
        }
        self.deliver_own(state, slot);
    }

    /// The handshake completed: `on_open`, then what was queued meanwhile.
    fn tls_established(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if let Some(tls) = conn.tls.as_mut() {
            tls.set_established();
            log::trace!(
                "{}: TLS established ({:?}, {:?})",
                conn.id,
                tls.protocol_version(),
                tls.cipher_suite()
            );
        }
        self.metrics.tls_handshakes.bump(1);
        self.connected(state, slot);
        // Plaintext sent before the handshake completed is encrypted now.
        self.tls_pump(slot);
    }

    /// The peer's FIN: after its close_notify, nothing more; during the
    /// handshake, a failed handshake; on a connection that still reads, a
    /// truncated stream; on a closing one, the end it waits for.
    fn tls_peer_fin(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        conn.flags.remove(Flags::READABLE);
        let Some(tls) = conn.tls.as_ref() else {
            return;
        };
        if tls.peer_closed() {
            return;
        }
        if conn.state() == ConnState::Connecting {
            let failure = TlsError {
                failure: TlsFailure::HandshakeCut,
                detail: "end of stream".into(),
            };
            return self.tls_failed(state, slot, failure);
        }
        if conn.state().delivers_input() {
            log::debug!("{}: FIN without close_notify: truncated", conn.id);
            return self.close_now(state, slot, CloseReason::Truncated);
        }
        self.peer_finished(state, slot);
    }

    /// A read failed: during the handshake that is a failed handshake (a
    /// reset, mostly); after it, as on any connection.
    fn tls_read_failed(&mut self, state: &mut S, slot: usize, err: io::Error) {
        if self
            .conn(slot)
            .is_some_and(|c| c.state() == ConnState::Connecting)
        {
            let failure = TlsError {
                failure: TlsFailure::HandshakeCut,
                detail: err.to_string(),
            };
            return self.tls_failed(state, slot, failure);
        }
        self.fail(state, slot, err);
    }

    /// The handshake did not complete in time.
    pub(crate) fn tls_handshake_timed_out(&mut self, state: &mut S, slot: usize) {
        let failure = TlsError {
            failure: TlsFailure::HandshakeTimeout,
            detail: "no handshake within the timeout".into(),
        };
        self.tls_failed(state, slot, failure);
    }

    /// Whether the connection in `slot` is handshaking on a connected socket.
    pub(crate) fn tls_handshaking(&self, slot: usize) -> bool {
        self.conn(slot).is_some_and(|c| {
            c.state() == ConnState::Connecting && c.tls.as_ref().is_some_and(|t| t.wire_up())
        })
    }

    /// TLS failed: counted, then closed with the failure as the reason
    /// (an outbound connection still handshaking hears of it through
    /// `on_connect_error` first). An alert rustls queued went out already,
    /// if the kernel took it.
    fn tls_failed(&mut self, state: &mut S, slot: usize, err: TlsError) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        log::debug!("{}: {} ({})", conn.id, err.failure, err.detail);
        self.metrics.tls_failures.bump(1);
        let reason = CloseReason::Tls(err.failure);
        let outbound = matches!(conn.origin, Origin::Outbound(_));
        if outbound && conn.state() == ConnState::Connecting {
            let source = io::Error::other(format!("{}: {}", err.failure, err.detail));
            return self.connect_failed_as(
                state,
                slot,
                ConnectErrorKind::Tls,
                Some(source),
                reason,
            );
        }
        self.close_now(state, slot, reason);
    }

    /// Asks for an abort, applied in this turn.
    pub(crate) fn request_abort(&mut self, slot: usize, reason: CloseReason) {
        if let Some(conn) = conn_at!(self, slot) {
            conn.request(Intent::Abort(reason));
            self.enqueue(slot);
        }
    }

    /// A reconnecting connection's next attempt gets a fresh session.
    pub(crate) fn renew_tls(&mut self, slot: usize) -> io::Result<()> {
        let Some(conn) = conn_at!(self, slot) else {
            return Ok(());
        };
        if let Some(setup) = &conn.opts.tls {
            conn.tls = Some(Box::new(setup.session(false)?));
        }
        Ok(())
    }
}
