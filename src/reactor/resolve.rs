//! Connecting by host name. The system resolver blocks, so a name is
//! resolved on a short-lived thread of its own; the addresses come back to
//! the loop as a posted task and are tried in the order the resolver gave
//! them, each on a fresh socket, until one connects. The connect timeout
//! spans the whole attempt (resolution and every try); a try that fails
//! (refused, unreachable, ...) moves on to the next address without telling
//! the handler, and only the last failure reaches `on_connect_error`. A
//! connection with a reconnect policy resolves the name again before every
//! attempt.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use socket2::SockRef;

use crate::conn::connect::{ConnectErrorKind, ConnectOptions, Outbound, Target, Waiter};
use crate::conn::connect::{begin_connect, into_stream, new_socket};
use crate::conn::state::ConnState;
use crate::conn::write::errno;
use crate::conn::{Flags, Intent, Origin};
use crate::reactor::core::Core;
use crate::reactor::handle::ReactorHandle;
use crate::reactor::handler::Handler;
use crate::token::ConnId;

/// What the resolver thread found for one attempt.
type Resolution = io::Result<Vec<SocketAddr>>;

impl<S: 'static> Core<S> {
    /// Starts connecting to `host`:`port`. The id comes back at once; the
    /// connection stays `Connecting` while the name resolves.
    pub(crate) fn connect_host(
        &mut self,
        host: &str,
        port: u16,
        opts: ConnectOptions,
        handler: Box<dyn Handler<S>>,
        waiter: Option<Waiter>,
    ) -> io::Result<ConnId> {
        // A socket to hold the place until an address is known (each try
        // gets its own, of the address's family); it takes no events.
        let outbound = Box::new(Outbound::by_name(host, port, opts, waiter));
        let placeholder = new_socket(&outbound.target, &outbound.opts)?;
        let stream = into_stream(placeholder, &outbound.target);
        let timeout = outbound.opts.timeout;
        let conn_opts = Rc::new(outbound.opts.conn.clone());
        let origin = Origin::Outbound(Some(outbound));
        let slot = self.add_conn(stream, ConnState::Connecting, conn_opts, handler, origin)?;
        let Some(conn) = conn_at!(self, slot) else {
            unreachable!("just added");
        };
        let id = conn.id;
        let _ = self.registry.deregister(&mut conn.stream);
        conn.flags.remove(Flags::WRITE_INTEREST);
        self.attempt_started(slot, None, timeout);
        self.resolve(slot);
        Ok(id)
    }

    /// Resolves the name of the connection in `slot` on a thread of its
    /// own; the answer is posted back to the loop.
    pub(crate) fn resolve(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let (id, epoch) = (conn.id, conn.epoch());
        let Origin::Outbound(Some(o)) = &mut conn.origin else {
            return;
        };
        let (Some((host, port)), Some(shared)) = (o.host(), self.poster.clone()) else {
            return;
        };
        let host = host.to_owned();
        o.resolving = true;
        let handle = ReactorHandle::new(shared);
        let spawned = std::thread::Builder::new()
            .name("netloop-resolve".into())
            .spawn(move || {
                let found = (host.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect());
                // Fails only once the reactor has stopped: nobody waits.
                let _ = handle.post(move |rc| rc.core.resolved(rc.state, id, epoch, found));
            });
        if let Err(e) = spawned {
            conn.request(Intent::Fail(errno(&e)));
            self.enqueue(slot);
        }
    }

    /// The resolver's answer for attempt `epoch` of connection `id`: try
    /// the first address, or fail the attempt. An answer for a connection
    /// that closed, timed out or moved on to another attempt is dropped.
    pub(crate) fn resolved(&mut self, state: &mut S, id: ConnId, epoch: u32, found: Resolution) {
        let Ok(slot) = self.slot_of(id) else {
            return;
        };
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.state() != ConnState::Connecting || conn.epoch() != epoch {
            return;
        }
        let Origin::Outbound(Some(o)) = &mut conn.origin else {
            return;
        };
        if !std::mem::take(&mut o.resolving) {
            return;
        }
        match found {
            Ok(mut addrs) if !addrs.is_empty() => {
                log::debug!("{id}: resolved to {addrs:?}");
                // Tried from the back: keep the resolver's order.
                addrs.reverse();
                o.untried = addrs;
                self.try_next_address(slot);
            }
            Ok(_) => self.connect_failed_with(state, slot, ConnectErrorKind::Unresolved, None),
            Err(e) => self.connect_failed_with(state, slot, ConnectErrorKind::Unresolved, Some(e)),
        }
    }

    /// Starts a try at the next address of the name's, on a fresh socket.
    /// False if none is left.
    pub(crate) fn try_next_address(&mut self, slot: usize) -> bool {
        let Some(conn) = conn_at!(self, slot) else {
            return false;
        };
        let Origin::Outbound(Some(o)) = &mut conn.origin else {
            return false;
        };
        let Some(addr) = o.untried.pop() else {
            return false;
        };
        o.target = Target::Tcp(addr);
        let socket = match new_socket(&o.target, &o.opts) {
            Ok(socket) => socket,
            Err(e) => {
                conn.request(Intent::Fail(errno(&e)));
                self.enqueue(slot);
                return true;
            }
        };
        let early = begin_connect(SockRef::from(&socket), &o.target, o.opts.bind);
        let fresh = into_stream(socket, &o.target);
        let mut old = conn.replace_stream(fresh);
        // The previous try's socket (or the placeholder, never registered).
        let _ = self.registry.deregister(&mut old);
        log::debug!("{}: trying {addr}", conn.id);
        self.register_try(slot, early);
        true
    }

    /// Registers the socket of a connect try that has started, and reports
    /// its immediate failure (if any) from the loop.
    pub(crate) fn register_try(&mut self, slot: usize, early: Option<io::Error>) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        let early = match self
            .registry
            .register(&mut conn.stream, conn.id.0.token(), interest)
        {
            Ok(()) => early,
            Err(e) => Some(e),
        };
        conn.flags.insert(Flags::WRITE_INTEREST);
        self.attempt_started(slot, early, None);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use crate::conn::connect::ConnectError;
    use crate::conn::connect::ConnectOptions;
    use crate::reactor::Reactor;
    use crate::reactor::ctx::Ctx;
    use crate::reactor::handler::Handler;

    #[derive(Default)]
    struct Seen {
        opened_to: Option<std::net::SocketAddr>,
        connect_errors: usize,
    }

    struct Record(Rc<RefCell<Seen>>);

    impl Handler for Record {
        fn on_read(&mut self, _: &mut Ctx<'_>, input: &mut bytes::BytesMut) {
            input.clear();
        }
        fn on_open(&mut self, ctx: &mut Ctx<'_>) {
            self.0.borrow_mut().opened_to = ctx.peer_addr().ok();
            ctx.reactor().stop();
        }
        fn on_connect_error(&mut self, ctx: &mut Ctx<'_>, _: &ConnectError) {
            self.0.borrow_mut().connect_errors += 1;
            ctx.reactor().stop();
        }
    }

    /// A name's addresses are tried in the resolver's order: a refused
    /// first address moves on to the next without telling the handler.
    #[test]
    fn a_refused_address_moves_on_to_the_next_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut reactor = Reactor::new().unwrap();
        let seen = Rc::new(RefCell::new(Seen::default()));
        let opts = ConnectOptions::default().timeout(Duration::from_secs(20));
        let id = reactor
            .core
            .connect_host(
                "localhost",
                open.port(),
                opts,
                Box::new(Record(seen.clone())),
                None,
            )
            .unwrap();
        // The answer the resolver thread would post, given here first (its
        // own, later answer for the same attempt is then dropped).
        let found = Ok(vec![refused, open]);
        reactor.core.resolved(&mut (), id, 0, found);
        reactor.run().unwrap();
        let seen = seen.borrow();
        assert_eq!(seen.opened_to, Some(open));
        assert_eq!(seen.connect_errors, 0);
    }
}
