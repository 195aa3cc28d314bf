//! A source callback that panics does not take the loop down: that source
//! is deregistered and closed (and the panic counted), other sources and
//! the loop go on.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use netloop::Reactor;
use netloop::mio::Interest;
use netloop::mio::unix::pipe;

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

#[test]
fn a_panicking_source_callback_loses_its_source_only() {
    let mut reactor = Reactor::with_state(0usize).unwrap();
    let (mut bad_tx, bad_rx) = pipe::new().unwrap();
    reactor
        .register_source(bad_rx, Interest::READABLE, |_, _, _, _| {
            panic!("source callback")
        })
        .unwrap();
    let (mut good_tx, good_rx) = pipe::new().unwrap();
    reactor
        .register_source(good_rx, Interest::READABLE, |rc, _, rx, _| {
            let mut buf = [0; 16];
            while let Ok(n @ 1..) = rx.read(&mut buf) {
                *rc.shared() += n;
            }
        })
        .unwrap();
    bad_tx.write_all(b"boom").unwrap();
    turn_until(&mut reactor, "the panic was counted", |r| {
        r.metrics().panics == 1
    });
    let e = loop {
        if let Err(e) = bad_tx.write(b"x") {
            break e;
        }
    };
    assert_eq!(
        e.kind(),
        io::ErrorKind::BrokenPipe,
        "the panicking source stayed open: {e}"
    );
    good_tx.write_all(b"fine").unwrap();
    turn_until(&mut reactor, "the other source was served", |r| {
        *r.shared() == 4
    });
    assert_eq!(reactor.metrics().panics, 1);
}
