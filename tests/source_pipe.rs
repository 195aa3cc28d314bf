//! A pipe registered as an event source: its readable events reach the
//! callback with the bytes written, and deregistering it (or stopping the
//! reactor) closes it: the write end then fails with `EPIPE`.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use netloop::mio::Interest;
use netloop::mio::unix::pipe;
use netloop::{Reactor, SourceId};

/// Generous: the machine is shared and noisy.
const PATIENCE: Duration = Duration::from_secs(20);

/// Turns the reactor until `cond` holds, failing after [`PATIENCE`].
fn turn_until<S>(
    reactor: &mut Reactor<S>,
    what: &str,
    mut cond: impl FnMut(&mut Reactor<S>) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    while !cond(reactor) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        reactor.turn(Some(Duration::from_millis(10))).unwrap();
    }
}

/// What the callback saw: the bytes, and how many callbacks.
#[derive(Default)]
struct Seen {
    bytes: Vec<u8>,
    calls: usize,
}

/// Registers the read end of a new pipe; the callback reads it dry into
/// the shared state. Returns the write end.
fn pipe_source(reactor: &mut Reactor<Seen>) -> (pipe::Sender, SourceId) {
    let (tx, rx) = pipe::new().unwrap();
    let id = reactor
        .register_source(rx, Interest::READABLE, |rc, _id, rx, ready| {
            assert!(ready.is_readable() || ready.is_read_closed(), "{ready:?}");
            rc.shared().calls += 1;
            let mut buf = [0; 4096];
            loop {
                match rx.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => rc.shared().bytes.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        })
        .unwrap();
    (tx, id)
}

/// Writes until the pipe refuses; returns the error (`EPIPE` once the
/// read end is closed; a full pipe would say `WouldBlock`).
fn write_error(tx: &mut pipe::Sender) -> io::Error {
    loop {
        if let Err(e) = tx.write(b"x") {
            return e;
        }
    }
}

#[test]
fn readable_events_reach_the_callback_with_the_bytes() {
    let mut reactor = Reactor::with_state(Seen::default()).unwrap();
    let (mut tx, _id) = pipe_source(&mut reactor);
    tx.write_all(b"hello ").unwrap();
    turn_until(&mut reactor, "the first write arrived", |r| {
        r.shared().bytes.len() == 6
    });
    tx.write_all(b"world").unwrap();
    turn_until(&mut reactor, "the second write arrived", |r| {
        r.shared().bytes.len() == 11
    });
    assert_eq!(reactor.shared().bytes, b"hello world");
    assert!(
        reactor.shared().calls >= 2,
        "one callback per write at least"
    );
}

#[test]
fn deregistering_closes_the_pipe_and_ends_the_callbacks() {
    let mut reactor = Reactor::with_state(Seen::default()).unwrap();
    let (mut tx, id) = pipe_source(&mut reactor);
    tx.write_all(b"a").unwrap();
    turn_until(&mut reactor, "the byte arrived", |r| r.shared().calls == 1);
    reactor.deregister_source(id).unwrap();
    let e = write_error(&mut tx);
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
    reactor.turn(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(reactor.shared().calls, 1, "a callback after deregistering");
    assert!(matches!(
        reactor.deregister_source(id),
        Err(netloop::Error::NoSuchSource)
    ));
}

#[test]
fn a_stopped_reactor_closes_its_sources() {
    let mut reactor = Reactor::with_state(Seen::default()).unwrap();
    let (mut tx, _id) = pipe_source(&mut reactor);
    reactor.ctx().schedule(Duration::ZERO, |rc| rc.stop());
    reactor.run().unwrap();
    let e = write_error(&mut tx);
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
}

#[test]
fn take_source_hands_the_open_pipe_back() {
    let mut reactor = Reactor::with_state(Seen::default()).unwrap();
    let (mut tx, id) = pipe_source(&mut reactor);
    assert!(
        matches!(
            reactor.ctx().take_source::<pipe::Sender>(id),
            Err(netloop::Error::NoSuchSource)
        ),
        "a source of another type"
    );
    let mut rx: pipe::Receiver = reactor.ctx().take_source(id).unwrap();
    tx.write_all(b"kept").unwrap();
    rx.set_nonblocking(false).unwrap();
    let mut got = [0; 4];
    rx.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"kept");
    reactor.turn(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(
        reactor.shared().calls,
        0,
        "the callback ran after take_source"
    );
}
