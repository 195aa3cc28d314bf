//! Lingering close in user space: flush, FIN, discard input until the peer's
//! FIN (completed) or the deadline (timed out, then RST, seen from the peer
//! without sending), without blocking the loop for other connections.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::peer::{TCP_CLOSE, TCP_CLOSE_WAIT, tcp_state};
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
fn peer_closing_in_time_completes_the_linger() {
    let server = serve(ListenOptions::default(), || Quitter {
        linger: Duration::from_secs(10),
    });
    let mut c = server.client();
    c.write_all(b"quit").unwrap();
    // Input sent during the linger is discarded, not a reason to reset.
    c.write_all(&[7u8; 100_000]).unwrap();
    let (got, end) = read_to_end(&mut c);
    end.expect("the reply ends with a clean FIN");
    assert!(got == pattern(REPLY), "the whole reply arrived");
    drop(c); // our FIN completes the server's linger
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
    server.finish();
}

#[test]
fn a_silent_peer_is_reset_at_the_deadline_and_others_are_served_while_it_lingers() {
    // Long enough that the other client's round trips (a few milliseconds)
    // fit with a wide margin before the deadline on a loaded machine.
    let linger = Duration::from_secs(2);
    let server = serve(ListenOptions::default(), move || Quitter { linger });
    let mut lingerer = server.client();
    server.wait_log("the lingerer is open", |log| log.conns().len() == 1);
    let id = server.log.conns()[0];
    let mut other = server.client();
    let started = Instant::now();
    lingerer.write_all(b"quit").unwrap();
    let mut got = vec![0u8; REPLY];
    lingerer.read_exact(&mut got).unwrap();
    assert!(got == pattern(REPLY));
    // The server's FIN follows the reply: it flushed and now lingers.
    let mut rest = [0u8; 16];
    let eof = lingerer.read_retrying(&mut rest).unwrap();
    assert_eq!(eof, 0, "the server's FIN follows the reply");
    assert_eq!(
        tcp_state(&lingerer),
        TCP_CLOSE_WAIT,
        "half closed by the server, not reset"
    );
    // Our side never closes. Meanwhile the other client is served.
    for i in 0..20u8 {
        other.write_all(&[i; 10]).unwrap();
        let mut echo = [0u8; 10];
        other.read_exact(&mut echo).unwrap();
        assert_eq!(echo, [i; 10]);
    }
    let evs = server.log.of(id);
    assert!(
        !evs.iter().any(|e| matches!(e, Ev::Linger(_))),
        "the echo round trips waited for the linger deadline: {evs:?}"
    );
    // At the deadline the server resets. Watched without sending anything
    // (data sent to a closed socket draws a reset whatever the server did):
    // the RST tears down our half-closed socket. A plain close would leave
    // it in CLOSE_WAIT for good.
    wait_until("the server's RST closed our socket", || {
        tcp_state(&lingerer) == TCP_CLOSE
    });
    assert!(
        started.elapsed() >= linger,
        "reset {:?} after the lingering close began, before its deadline",
        started.elapsed()
    );
    let evs = server.log.of(id);
    assert!(
        evs.contains(&Ev::Linger(LingerOutcome::TimedOut)),
        "{evs:?}"
    );
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::LingerTimeout)));
    drop((lingerer, other));
    server.finish();
}
