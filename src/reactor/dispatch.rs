//! Running a handler callback: the handler is taken out of its slot for the
//! call (so the context can borrow the whole core), the call is guarded by
//! `catch_unwind`, and a panic turns into an abort of that connection only.

use std::panic::{self, AssertUnwindSafe};

use crate::conn::Intent;
use crate::conn::close::CloseReason;
use crate::metrics::Metrics;
use crate::reactor::core::{Core, LiveConn};
use crate::reactor::ctx::Ctx;
use crate::reactor::handler::Handler;
use crate::token::ConnId;

/// A handler taken out of its connection for one callback.
pub(crate) struct Call<S: 'static> {
    id: ConnId,
    handler: Box<dyn Handler<S>>,
}

impl<S: 'static> LiveConn<S> {
    /// Takes the handler out for a callback (`None` while one of its
    /// callbacks runs).
    #[inline]
    pub(crate) fn begin_call(&mut self) -> Option<Call<S>> {
        let handler = self.handler.take()?;
        Some(Call {
            id: self.id,
            handler,
        })
    }
}

impl<S: 'static> Core<S> {
    /// Calls `f` with the handler and a context of the connection in `slot`.
    /// Returns the connection as the callback left it (saving the caller a
    /// lookup), or `None` if there was no handler to call or it panicked
    /// (the connection is then asked to abort with [`CloseReason::Panicked`]).
    #[inline]
    pub(crate) fn dispatch<F>(
        &mut self,
        state: &mut S,
        slot: usize,
        f: F,
    ) -> Option<&mut LiveConn<S>>
    where
        F: FnOnce(&mut dyn Handler<S>, &mut Ctx<'_, S>),
    {
        let call = self.conn_mut(slot)?.begin_call()?;
        self.run_call(state, slot, call, f)
    }

    /// [`dispatch`](Self::dispatch) for a caller that holds the connection
    /// and took its handler out already ([`Conn::begin_call`]).
    #[inline]
    pub(crate) fn run_call<F>(
        &mut self,
        state: &mut S,
        slot: usize,
        call: Call<S>,
        f: F,
    ) -> Option<&mut LiveConn<S>>
    where
        F: FnOnce(&mut dyn Handler<S>, &mut Ctx<'_, S>),
    {
        if self.time_callbacks {
            return self.run_timed_call(state, slot, call, f);
        }
        self.call_guarded(false, state, slot, call, f)
    }

    /// [`run_call`](Self::run_call) with callback timing on (kept out of
    /// line: the usual call tests the setting once).
    #[inline(never)]
    fn run_timed_call<F>(
        &mut self,
        state: &mut S,
        slot: usize,
        call: Call<S>,
        f: F,
    ) -> Option<&mut LiveConn<S>>
    where
        F: FnOnce(&mut dyn Handler<S>, &mut Ctx<'_, S>),
    {
        self.call_guarded(true, state, slot, call, f)
    }

    /// Runs the callback under `catch_unwind` (timed if `timed`) and puts
    /// the handler back.
    #[inline(always)]
    fn call_guarded<F>(
        &mut self,
        timed: bool,
        state: &mut S,
        slot: usize,
        call: Call<S>,
        f: F,
    ) -> Option<&mut LiveConn<S>>
    where
        F: FnOnce(&mut dyn Handler<S>, &mut Ctx<'_, S>),
    {
        let Call { id, mut handler } = call;
        let started = Metrics::callback_started(timed);
        let outcome = {
            let mut ctx = Ctx::new(self, state, id);
            panic::catch_unwind(AssertUnwindSafe(|| f(handler.as_mut(), &mut ctx)))
        };
        self.metrics.callback_finished(started);
        if let Err(payload) = outcome {
            discard_panic(payload);
            log::error!("{id}: handler panicked; aborting the connection");
            self.metrics.panics.bump(1);
            let conn = conn_at!(self, slot)?;
            restore(conn, handler);
            conn.request(Intent::Abort(CloseReason::Panicked));
            self.enqueue(slot);
            return None;
        }
        let conn = conn_at!(self, slot)?;
        restore(conn, handler);
        Some(conn)
    }
}

/// Drops the payload of a caught panic without letting a panic in its
/// destructor escape: a payload whose drop panics would otherwise unwind
/// out of the loop and end the reactor's thread. (A second such payload is
/// leaked rather than dropped.)
#[cold]
pub(crate) fn discard_panic(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Puts a handler back into the slot its call emptied. (Assigning would
/// first drop the old value, `None`, through an out-of-line call on every
/// callback.)
#[inline(always)]
fn restore<S>(conn: &mut LiveConn<S>, handler: Box<dyn Handler<S>>) {
    if conn.handler.is_none() {
        conn.handler = Some(handler);
    }
}
