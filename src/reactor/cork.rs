//! Cork: a callback's sends held back and written together.
//!
//! While a connection is corked ([`Ctx::cork`]), sends are checked as
//! usual (state, cap, overflow policy) and queued, without a system call
//! and without asking for writable events. Lifting the cork (at
//! [`Ctx::uncork`], or when the loop is done with the callback that corked,
//! before any close it asked for) writes the queue with the ordinary flush
//! (one vectored `sendmsg` for up to 64 chunks; small sends share a chunk),
//! and only what the kernel does not take waits for writable events. A
//! queue that already waited for the kernel before the cork is not
//! affected: the cork only holds back bytes that would have gone straight
//! to the kernel.

use crate::conn::state::ConnState;
use crate::conn::write::errno;
use crate::conn::{Flags, Intent};
use crate::reactor::core::{Core, own_conn_by_id};
use crate::reactor::ctx::Ctx;
use crate::token::ConnId;

impl<S: 'static> Core<S> {
    /// Corks the connection `id` (the running callback's own). The slot is
    /// queued so the loop lifts the cork this turn even if the callback
    /// forgets to.
    fn cork(&mut self, id: ConnId) {
        if let Ok((slot, conn)) = own_conn_by_id(&mut self.entries, id) {
            if conn.state() != ConnState::Closed && !conn.flags.has(Flags::CORKED) {
                conn.flags.insert(Flags::CORKED);
                conn.marks.set_corked(true);
                self.enqueue(slot);
            }
        }
    }

    /// Lifts the cork of `id`, if corked.
    fn uncork(&mut self, id: ConnId) {
        if let Ok((slot, conn)) = own_conn_by_id(&mut self.entries, id) {
            if conn.flags.has(Flags::CORKED) {
                self.lift_cork(slot);
            }
        }
    }

    /// Lifts the cork of the connection in `slot`: writes what it held
    /// back, then asks for writable events for what the kernel did not
    /// take. Fails the connection (through a request, as a send does) on
    /// a write error, so it is safe inside a callback.
    pub(crate) fn lift_cork(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        conn.flags.remove(Flags::CORKED);
        conn.marks.set_corked(false);
        if conn.send.is_empty() || conn.flags.has(Flags::WRITE_INTEREST) {
            return;
        }
        if matches!(conn.state(), ConnState::Open | ConnState::ReadClosed) {
            if let Err(e) = self.write_queue(slot) {
                if let Some(conn) = conn_at!(self, slot) {
                    conn.request(Intent::Fail(errno(&e)));
                }
                return self.enqueue(slot);
            }
        }
        if conn_at!(self, slot).is_some_and(|c| !c.send.is_empty()) {
            self.queue_grew(slot, 0);
        }
    }
}

impl<S: 'static> Ctx<'_, S> {
    /// Holds this connection's sends back until [`uncork`](Ctx::uncork)
    /// or the end of this callback, then writes them together: several
    /// small sends cost one system call and, with `TCP_NODELAY`, leave in
    /// as few segments as their size allows. The sends are checked as
    /// usual (errors, cap, overflow policy) when made. See also
    /// [`batch`](Ctx::batch).
    ///
    /// ```
    /// use netloop::bytes::BytesMut;
    /// use netloop::{Ctx, Handler};
    ///
    /// /// Answers each line with a header line and the line itself.
    /// struct Framed;
    ///
    /// impl Handler for Framed {
    ///     fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
    ///         ctx.cork();
    ///         while let Some(end) = input.iter().position(|&b| b == b'\n') {
    ///             let line = input.split_to(end + 1);
    ///             let _ = ctx.send(format!("len {}\n", line.len()).as_bytes());
    ///             let _ = ctx.send(&line);
    ///         }
    ///         // All of it leaves in one write when on_read returns.
    ///     }
    /// }
    /// ```
    pub fn cork(&mut self) {
        self.rc.core.cork(self.id);
    }

    /// Writes what the cork held back now (one vectored write), and sends
    /// go straight to the kernel again. Does nothing if not corked.
    pub fn uncork(&mut self) {
        self.rc.core.uncork(self.id);
    }

    /// Runs `f` with this connection corked, and writes what it sent when
    /// `f` returns (unless the connection was corked before: then at the
    /// end of the callback).
    ///
    /// ```
    /// use netloop::bytes::BytesMut;
    /// use netloop::{Ctx, Handler};
    ///
    /// struct Reply;
    ///
    /// impl Handler for Reply {
    ///     fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
    ///         let body = input.split();
    ///         let sent = ctx.batch(|ctx| {
    ///             ctx.send(b"OK ")?;
    ///             ctx.send(&body)
    ///         });
    ///         if sent.is_err() {
    ///             ctx.abort();
    ///         }
    ///     }
    /// }
    /// ```
    pub fn batch<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let corked = self.is_corked();
        self.cork();
        let result = f(self);
        if !corked {
            self.uncork();
        }
        result
    }

    /// Whether [`cork`](Ctx::cork) holds this connection's sends back.
    pub fn is_corked(&self) -> bool {
        self.rc
            .core
            .with_conn(self.id, |c| c.flags.has(Flags::CORKED))
            .unwrap_or(false)
    }
}
