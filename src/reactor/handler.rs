//! The callbacks: every event a connection can see, in one trait.
//!
//! [`on_open`](Handler::on_open), [`on_read`](Handler::on_read),
//! [`on_input_full`](Handler::on_input_full), [`on_eof`](Handler::on_eof),
//! [`on_half_close`](Handler::on_half_close), [`on_high_water`](Handler::on_high_water),
//! [`on_drain`](Handler::on_drain), [`on_linger_close`](Handler::on_linger_close),
//! [`on_keepalive_failure`](Handler::on_keepalive_failure),
//! [`on_idle_timeout`](Handler::on_idle_timeout), [`on_write_stall`](Handler::on_write_stall),
//! [`on_timer`](Handler::on_timer), [`on_connect_error`](Handler::on_connect_error),
//! [`on_disconnect`](Handler::on_disconnect), [`on_shutdown`](Handler::on_shutdown),
//! [`on_close`](Handler::on_close). Each method's doc says when it fires;
//! the table of when each fires and what the connection can still do
//! then is in `README.md`, section "Callbacks".
//!
//! Callbacks run on the reactor thread, one at a time. What a callback asks
//! of its connection through [`Ctx`] (close, shutdown, pause, ...) is applied
//! after it returns; bytes passed to `send` go to the kernel at once when
//! nothing is queued. A callback that panics aborts its own connection with
//! [`CloseReason::Panicked`]; the loop and the other connections go on.

use std::io;

use bytes::BytesMut;

use crate::conn::close::{CloseReason, LingerOutcome};
use crate::conn::connect::ConnectError;
use crate::reactor::ctx::Ctx;
use crate::timer::TimerId;

/// A handler's answer to a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Close the connection with the timeout's reason (the default).
    Close,
    /// Keep it open; the timeout starts over.
    Keep,
}

/// The callbacks of one connection. Every method but [`on_read`](Handler::on_read)
/// has a default; `S` is the reactor's shared state ([`ReactorCtx::shared`](crate::ReactorCtx::shared)).
///
/// ```
/// use bytes::BytesMut;
/// use netloop::{Ctx, Handler, CloseReason};
///
/// /// Echoes every byte back; on the peer's FIN, flushes and closes.
/// struct Echo;
///
/// impl Handler for Echo {
///     fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
///         if ctx.send(input).is_err() {
///             ctx.pause_read(); // over the hard cap: let TCP push back
///             return;
///         }
///         input.clear();
///     }
///
///     fn on_close(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
///         log::debug!("{} closed: {reason}", ctx.id());
///     }
/// }
/// ```
pub trait Handler<S: 'static = ()>: 'static {
    /// The connection is established: accepted, or an outbound connect
    /// completed ([`Ctx::is_outbound`] tells which).
    fn on_open(&mut self, ctx: &mut Ctx<'_, S>) {
        let _ = ctx;
    }

    /// Bytes arrived. `input` holds everything received and not yet
    /// consumed: take what forms whole messages (`split_to`, `advance`,
    /// `clear`) and leave a partial one; it is handed back, extended, on
    /// the next read. Unconsumed input up to `max_input` is kept; at the
    /// cap reading pauses until the handler consumes (after
    /// [`resume_read`](Ctx::resume_read), `on_read` is called again with
    /// what is buffered).
    fn on_read(&mut self, ctx: &mut Ctx<'_, S>, input: &mut BytesMut);

    /// Unconsumed input reached [`max_input`](crate::ConnOptions::max_input)
    /// (`buffered` bytes): reading has paused. A handler waiting for a
    /// message larger than the cap would otherwise wait forever, and a
    /// peer could pin the memory on purpose. The default returns
    /// [`Verdict::Close`]: the connection closes gracefully (what is queued
    /// is flushed, input is discarded, FIN) with [`CloseReason::InputFull`].
    /// [`Verdict::Keep`] keeps it with reading paused until the handler
    /// consumes input and calls [`resume_read`](Ctx::resume_read); the idle
    /// timeout keeps running meanwhile. Fires once per time the cap is reached.
    fn on_input_full(&mut self, ctx: &mut Ctx<'_, S>, buffered: usize) -> Verdict {
        let _ = (ctx, buffered);
        Verdict::Close
    }

    /// The peer shut its write side. Reading is over; sending still works.
    /// The default closes gracefully once the queue is flushed.
    fn on_eof(&mut self, ctx: &mut Ctx<'_, S>) {
        ctx.close();
    }

    /// Our [`shutdown_write`](Ctx::shutdown_write) completed: the queue was
    /// flushed and a FIN sent. Reading goes on until the peer's FIN.
    fn on_half_close(&mut self, ctx: &mut Ctx<'_, S>) {
        let _ = ctx;
    }

    /// A [`linger_close`](Ctx::linger_close) ended. [`on_close`](Handler::on_close)
    /// follows with [`CloseReason::Lingered`] or [`CloseReason::LingerTimeout`].
    fn on_linger_close(&mut self, ctx: &mut Ctx<'_, S>, outcome: LingerOutcome) {
        let _ = (ctx, outcome);
    }

    /// The send queue crossed the high water mark (`queued` bytes now).
    /// Fires once per crossing; [`on_drain`](Handler::on_drain) ends it.
    fn on_high_water(&mut self, ctx: &mut Ctx<'_, S>, queued: usize) {
        let _ = (ctx, queued);
    }

    /// After [`on_high_water`](Handler::on_high_water), the queue fell to
    /// the low water mark: the connection is writable again.
    fn on_drain(&mut self, ctx: &mut Ctx<'_, S>) {
        let _ = ctx;
    }

    /// The kernel declared the peer dead: keepalive probes went unanswered
    /// while nothing we sent was unacknowledged. `error` is `ETIMEDOUT`, or
    /// a soft error the kernel recorded meanwhile (such as `EHOSTUNREACH`).
    /// The error is taken from a read, never from `SO_ERROR` first (which
    /// would consume it and make the next read look like a clean EOF).
    /// [`on_close`](Handler::on_close) follows with [`CloseReason::KeepaliveTimeout`].
    fn on_keepalive_failure(&mut self, ctx: &mut Ctx<'_, S>, error: &io::Error) {
        let _ = (ctx, error);
    }

    /// Nothing was received for the idle timeout. The default closes
    /// gracefully with [`CloseReason::IdleTimeout`].
    fn on_idle_timeout(&mut self, ctx: &mut Ctx<'_, S>) -> Verdict {
        let _ = ctx;
        Verdict::Close
    }

    /// Queued bytes made no progress for the write-stall timeout. The
    /// default aborts with [`CloseReason::WriteStall`].
    fn on_write_stall(&mut self, ctx: &mut Ctx<'_, S>) -> Verdict {
        let _ = ctx;
        Verdict::Close
    }

    /// A timer set with [`Ctx::set_timer`] or [`Ctx::set_interval`] fired;
    /// `tag` is the one given to [`Ctx::set_timer_tagged`] or
    /// [`Ctx::set_interval_tagged`] (0 for an untagged timer).
    fn on_timer(&mut self, ctx: &mut Ctx<'_, S>, timer: TimerId, tag: u32) {
        let _ = (ctx, timer, tag);
    }

    /// An outbound connect attempt failed. [`on_close`](Handler::on_close)
    /// follows with [`CloseReason::ConnectFailed`], unless the connection
    /// has a reconnect policy: then it waits in
    /// [`ConnState::Reconnecting`](crate::ConnState::Reconnecting) and tries again.
    fn on_connect_error(&mut self, ctx: &mut Ctx<'_, S>, error: &ConnectError) {
        let _ = (ctx, error);
    }

    /// An outbound connection with a reconnect policy lost its connection
    /// for `reason` (the peer closed or reset it, a timeout, an error) and
    /// will reconnect after the backoff's delay, keeping its id: `on_open`
    /// comes again when it does, and until then sends fail with
    /// [`Error::NotConnected`](crate::Error::NotConnected). Closing it here
    /// (or [`stop_reconnecting`](Ctx::stop_reconnecting)) makes this the
    /// end: `on_close` follows. Never called for a failed connect attempt
    /// ([`on_connect_error`](Handler::on_connect_error)) nor instead of the
    /// final `on_close`.
    fn on_disconnect(&mut self, ctx: &mut Ctx<'_, S>, reason: CloseReason) {
        let _ = (ctx, reason);
    }

    /// The reactor began a graceful shutdown: finish up and close. The
    /// default closes at once with [`Ctx::close`] (flush, then a lingering
    /// close, so the peer gets every reply and a clean FIN). At the
    /// deadline connections with nothing queued are closed and the rest
    /// (still flushing or lingering) reset. A connection still connecting
    /// (an outbound connect in flight, or a TLS handshake under way) gets
    /// it once it is up, after [`on_open`](Handler::on_open); one that does
    /// not get there (its connect fails or times out, or the deadline
    /// comes first) is closed without it.
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, S>) {
        ctx.close();
    }

    /// The connection is gone. Called exactly once for every connection,
    /// last. `ctx` can still act on other connections.
    fn on_close(&mut self, ctx: &mut Ctx<'_, S>, reason: CloseReason) {
        let _ = (ctx, reason);
    }
}

/// A handler that reads and drops everything (a sink, or a placeholder).
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard;

impl<S: 'static> Handler<S> for Discard {
    fn on_read(&mut self, _ctx: &mut Ctx<'_, S>, input: &mut BytesMut) {
        input.clear();
    }
}

/// A handler that echoes every byte back, pausing while the peer is slow.
///
/// On the peer's FIN it flushes what is queued, then closes. While the send
/// queue is above its high water mark it stops reading, so a peer that
/// sends without reading is held back by TCP flow control instead of
/// growing the queue. With [`water_marks(1, 0)`](crate::ConnOptions::water_marks)
/// it reads only while nothing is queued (the echo example's setting):
/// the kernel's buffers, not the queue, hold what a slow peer has not
/// taken, and a streaming peer costs less CPU per byte.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl<S: 'static> Handler<S> for Echo {
    fn on_read(&mut self, ctx: &mut Ctx<'_, S>, input: &mut BytesMut) {
        match ctx.send(input) {
            Ok(()) => input.clear(),
            // Over the hard cap: keep the input, wait for the queue to drain.
            // (Binding the error moves it out, so the `Ok` path has nothing
            // to drop: `Err(_)` would drop the whole result after the match,
            // an out-of-line call per message.)
            Err(error) => {
                drop(error);
                ctx.pause_read()
            }
        }
    }

    fn on_high_water(&mut self, ctx: &mut Ctx<'_, S>, _queued: usize) {
        ctx.pause_read();
    }

    fn on_drain(&mut self, ctx: &mut Ctx<'_, S>) {
        ctx.resume_read();
    }
}
