//! Outbound connections: starting a non-blocking connect (with its
//! user-space timeout) and telling when it completed. What follows (open,
//! failure, waiting to reconnect) is in `lifecycle`.
//!
//! Completion follows mio's recipe: wait for a writable event, then
//! `take_error()` (a failed handshake) and `peer_addr()` (`ENOTCONN` means
//! the event was spurious: keep waiting; a Unix domain connect completes
//! at once, so its first event finds it done). Without a user timeout a SYN that
//! gets no answer fails only after the kernel's ~127 s of retries, so
//! [`ConnectOptions::timeout`] defaults to 10 s.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::conn::connect::{
    ConnectErrorKind, ConnectOptions, Outbound, Target, Waiter, start_connect,
};
use crate::conn::state::ConnState;
use crate::conn::stream::Stream;
use crate::conn::{Flags, Intent, Origin};
use crate::reactor::core::Core;
use crate::reactor::handler::Handler;
use crate::reactor::schedule::TimerTask;
use crate::token::ConnId;

impl<S: 'static> Core<S> {
    /// Starts connecting. Failures after the socket exists (refused,
    /// unreachable, timeout, ...) are reported to the handler through
    /// `on_connect_error` and `on_close`; only failing to create a socket
    /// at all (e.g. `EMFILE`) is returned here.
    pub(crate) fn connect(
        &mut self,
        addr: SocketAddr,
        opts: ConnectOptions,
        handler: Box<dyn Handler<S>>,
        waiter: Option<Waiter>,
    ) -> io::Result<ConnId> {
        self.connect_to(Target::Tcp(addr), opts, handler, waiter)
    }

    /// [`connect`](Self::connect) to a TCP or Unix domain address.
    pub(crate) fn connect_to(
        &mut self,
        target: Target,
        opts: ConnectOptions,
        handler: Box<dyn Handler<S>>,
        waiter: Option<Waiter>,
    ) -> io::Result<ConnId> {
        let started = start_connect(&target, &opts)?;
        let outbound = Box::new(Outbound::new(target, opts, waiter));
        self.add_outbound(started, outbound, handler)
    }

    /// Puts a socket whose connect has started in the slab, with its
    /// connect timeout (or its immediate failure, reported from the loop).
    fn add_outbound(
        &mut self,
        (stream, early): (Stream, Option<io::Error>),
        outbound: Box<Outbound>,
        handler: Box<dyn Handler<S>>,
    ) -> io::Result<ConnId> {
        let conn_opts = Rc::new(outbound.opts.conn.clone());
        let timeout = outbound.opts.timeout;
        let origin = Origin::Outbound(Some(outbound));
        let slot = self.add_conn(stream, ConnState::Connecting, conn_opts, handler, origin)?;
        let id = self.conn(slot).map(|c| c.id).expect("just added");
        self.attempt_started(slot, early, timeout);
        Ok(id)
    }

    /// A connect attempt is under way: arm its timeout, or report its
    /// immediate failure from the loop, like any other failure.
    pub(crate) fn attempt_started(
        &mut self,
        slot: usize,
        early: Option<io::Error>,
        timeout: Option<Duration>,
    ) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let id = conn.id;
        if let Some(e) = early {
            conn.request(Intent::Fail(crate::conn::write::errno(&e)));
            self.enqueue(slot);
        } else if let Some(timeout) = timeout {
            let deadline = self.clock.after(timeout);
            let timer = self.timers.insert(deadline, None, TimerTask::Deadline(id));
            self.replace_deadline_timer(slot, timer);
        }
    }

    /// A writable or error event on a connecting socket.
    pub(crate) fn finish_connect(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if !conn.flags.has(Flags::WRITABLE) && !conn.flags.has(Flags::HANGUP_HINT) {
            return;
        }
        match conn.stream.take_error() {
            Ok(Some(e)) | Err(e) => return self.connect_failed(state, slot, e),
            Ok(None) => {}
        }
        match conn.stream.connected_to_self() {
            Ok(false) => {}
            Ok(true) => {
                return self.connect_failed_with(state, slot, ConnectErrorKind::SelfConnect, None);
            }
            // Spurious wake-up: the handshake is still under way.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                conn.flags.remove(Flags::WRITABLE | Flags::HANGUP_HINT);
                return;
            }
            Err(e) => return self.connect_failed(state, slot, e),
        }
        self.connected(state, slot);
    }
}
