//! Lingering close on a Unix domain connection: flush, shut the write
//! side, discard input until the peer's end of stream (completed) or the
//! deadline (timed out), without blocking the loop for others.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use common::unix::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{CloseReason, Ctx, Handler, LingerOutcome, ListenOptions};

const REPLY: usize = 1 << 20;

/// Echo, except that "quit" gets a large reply and a lingering close.
struct Quitter {
    linger: Duration,
}

impl Handler for Quitter {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.starts_with(b"quit") {
            input.clear();
            ctx.send(&pattern(REPLY)).unwrap();
            ctx.linger_close(self.linger);
        } else {
            Echo.on_read(ctx, input);
        }
    }
}

#[test]
fn peer_ending_in_time_completes_the_linger_and_its_input_is_discarded() {
    let server = serve_unix(ListenOptions::default(), || Quitter {
        linger: Duration::from_secs(10),
    });
    let mut c = server.client();
    c.write_all(b"quit").unwrap();
    // Input sent during the linger is discarded, not a reason to reset.
    c.write_all(&[7u8; 100_000]).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got)
        .expect("the reply ends with end of stream");
    assert!(got == pattern(REPLY), "the whole reply arrived");
    c.shutdown(Shutdown::Write).unwrap();
    let id = server.log.conns()[0];
    server.wait_log("the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    let evs = server.log.of(id);
    assert!(
        evs.contains(&Ev::Linger(LingerOutcome::Completed)),
        "{evs:?}"
    );
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::Lingered)));
    drop(c);
    server.finish();
}

#[test]
fn a_silent_peer_is_dropped_at_the_deadline_and_others_are_served_meanwhile() {
    let linger = Duration::from_secs(2);
    let server = serve_unix(ListenOptions::default(), move || Quitter { linger });
    let mut lingerer = server.client();
    server.wait_log("the lingerer is open", |log| log.conns().len() == 1);
    let id = server.log.conns()[0];
    let mut other = server.client();
    let started = Instant::now();
    lingerer.write_all(b"quit").unwrap();
    let mut got = Vec::new();
    lingerer.read_to_end(&mut got).unwrap();
    assert!(got == pattern(REPLY), "the reply, then end of stream");
    for i in 0..20u8 {
        other.write_all(&[i; 10]).unwrap();
        let mut echo = [0u8; 10];
        other.read_exact(&mut echo).unwrap();
        assert_eq!(echo, [i; 10]);
    }
    assert!(
        !server.log.of(id).iter().any(|e| matches!(e, Ev::Linger(_))),
        "the echo round trips waited for the linger deadline"
    );
    server.wait_log("the linger timed out", |log| log.closes().contains_key(&id));
    assert!(started.elapsed() >= linger, "dropped before the deadline");
    let evs = server.log.of(id);
    assert!(
        evs.contains(&Ev::Linger(LingerOutcome::TimedOut)),
        "{evs:?}"
    );
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::LingerTimeout)));
    drop((lingerer, other));
    server.finish();
}
