//! A source deregistered from inside its own callback: the callback
//! finishes, the source is closed when it returns, and no callback follows;
//! its id stays dead when the slot goes to a new source, which gets its
//! own events only.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use netloop::mio::Interest;
use netloop::mio::unix::pipe;
use netloop::{Error, Reactor, SourceId};

/// Generous: the machine is shared and noisy.
const PATIENCE: Duration = Duration::from_secs(20);

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

/// Callbacks seen, by which source, with what `take_source` and a second
/// deregistration said from inside the callback.
#[derive(Default)]
struct Seen {
    calls: Vec<SourceId>,
    take_inside: Option<bool>,
    second_deregister: Option<bool>,
}

/// Writes until the pipe refuses; `EPIPE` once the read end is closed.
fn write_error(tx: &mut pipe::Sender) -> io::Error {
    loop {
        if let Err(e) = tx.write(b"x") {
            return e;
        }
    }
}

#[test]
fn a_source_deregistered_by_its_own_callback_is_closed_and_never_called_again() {
    let mut reactor = Reactor::with_state(Seen::default()).unwrap();
    let (mut tx, rx) = pipe::new().unwrap();
    let old = reactor
        .register_source(rx, Interest::READABLE, |rc, id, rx, _| {
            let mut buf = [0; 16];
            let _ = rx.read(&mut buf);
            rc.shared().calls.push(id);
            rc.deregister_source(id).expect("its own source");
            // Deregistered: neither given back nor deregistered twice.
            let taken = rc.take_source::<pipe::Receiver>(id);
            rc.shared().take_inside = Some(matches!(taken, Err(Error::NoSuchSource)));
            let again = rc.deregister_source(id);
            rc.shared().second_deregister = Some(matches!(again, Err(Error::NoSuchSource)));
            // The callback still holds its source until it returns.
            let _ = rx.read(&mut buf);
        })
        .unwrap();
    tx.write_all(b"a").unwrap();
    turn_until(&mut reactor, "the callback ran", |r| {
        !r.shared().calls.is_empty()
    });
    assert_eq!(reactor.shared().take_inside, Some(true));
    assert_eq!(reactor.shared().second_deregister, Some(true));
    let e = write_error(&mut tx);
    assert_eq!(
        e.kind(),
        io::ErrorKind::BrokenPipe,
        "the pipe stayed open: {e}"
    );
    reactor.turn(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(
        reactor.shared().calls,
        [old],
        "called again after deregistering"
    );

    // The freed slot goes to the next source; the old id names nothing.
    let (mut tx2, rx2) = pipe::new().unwrap();
    let new = reactor
        .register_source(rx2, Interest::READABLE, |rc, id, rx, _| {
            let mut buf = [0; 16];
            while rx.read(&mut buf).is_ok_and(|n| n > 0) {}
            rc.shared().calls.push(id);
        })
        .unwrap();
    assert_ne!(new, old);
    assert!(matches!(
        reactor.deregister_source(old),
        Err(Error::NoSuchSource)
    ));
    tx2.write_all(b"b").unwrap();
    turn_until(&mut reactor, "the new source's callback ran", |r| {
        r.shared().calls.len() == 2
    });
    assert_eq!(reactor.shared().calls, [old, new]);
    reactor.deregister_source(new).unwrap();
}
