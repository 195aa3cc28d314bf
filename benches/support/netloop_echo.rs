//! The netloop contender: a reactor with the library's [`Echo`] handler
//! and default options (backlog 4096, `TCP_NODELAY`, 64 KiB shared read
//! buffer).

use std::io;
use std::net::SocketAddr;

use netloop::handler::Echo;
use netloop::{ListenOptions, Reactor};

use super::Running;

/// Runs an echo server on this thread: until stopped through a handle, or
/// (with `exit_when_idle`) until the last connection closed after at least
/// one was served. `ready` gets the bound address.
pub fn run(
    addr: SocketAddr,
    exit_when_idle: bool,
    ready: impl FnOnce(SocketAddr, &mut Reactor),
) -> io::Result<()> {
    let mut reactor = Reactor::new()?;
    let listener = reactor.listen(addr, ListenOptions::default(), || Echo)?;
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
        let sent = run(any, false, |addr, reactor| {
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
