//! The netloop contender: a reactor with the library's [`Echo`] handler
//! and default options (backlog 4096, `TCP_NODELAY`, 64 KiB shared read
//! buffer) but for the echo example's two: water marks of 1 byte and 0 (it
//! reads only while nothing is queued, as the bare mio loop does) and a
//! read budget of 1 MiB per connection per turn.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{ConnOptions, Ctx, Handler, ListenOptions, Reactor};

use crate::Running;

/// Runs an echo server on this thread: until stopped through a handle, or
/// (with `exit_when_idle`) until the last connection closed after at least
/// one was served. `ready` gets the bound address. A non-zero `delay` makes
/// every read busy-wait that long before echoing (see [`Delayed`]).
pub fn run(
    addr: SocketAddr,
    exit_when_idle: bool,
    delay: Duration,
    ready: impl FnOnce(SocketAddr, &mut Reactor),
) -> io::Result<()> {
    let mut reactor = Reactor::new()?;
    let conn = ConnOptions::default()
        .water_marks(1, 0)
        .read_budget(1 << 20);
    let options = ListenOptions::default().conn(conn);
    let listener = if delay.is_zero() {
        reactor.listen(addr, options, || Echo)?
    } else {
        reactor.listen(addr, options, move || Delayed { delay })?
    };
    ready(reactor.listener_addr(listener)?, &mut reactor);
    if !exit_when_idle {
        reactor.run()?;
        return Ok(());
    }
    // `conn_count` first: the snapshot is taken only while no connection is open.
    while reactor.conn_count() > 0 || reactor.metrics().accepted == 0 {
        reactor.turn(None)?;
    }
    Ok(())
}

/// Runs the server on a new thread, on 127.0.0.1 (any port).
pub fn spawn() -> io::Result<Running> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let sent = run(any, false, Duration::ZERO, |addr, reactor| {
            let _ = tx.send(Ok((addr, reactor.handle())));
        });
        if let Err(e) = sent {
            let _ = tx.send(Err(e));
        }
    });
    let (addr, handle) = rx
        .recv()
        .map_err(|_| io::Error::other("netloop echo thread died"))??;
    Ok(Running::new(
        addr,
        Box::new(move || {
            let _ = handle.stop();
        }),
        thread,
    ))
}

/// An experiment, not a contender: [`Echo`] made slower by a busy-wait of
/// `delay` per read, to show how a server's speed relative to its load
/// generator moves how many connections each `epoll_wait` returns (a
/// slower server finds more of them ready, so it makes fewer calls per
/// message).
struct Delayed {
    delay: Duration,
}

impl Handler for Delayed {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        let started = Instant::now();
        while started.elapsed() < self.delay {
            std::hint::spin_loop();
        }
        Echo.on_read(ctx, input);
    }
}
