//! Lingering close in user space: flush, FIN, discard input until the peer's
//! FIN (completed) or the deadline (timed out, then RST), without blocking
//! the loop for other connections.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

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
fn silent_peer_times_out_with_rst_while_others_are_served() {
    let linger = Duration::from_millis(800);
    let server = serve(ListenOptions::default(), move || Quitter { linger });
    let mut lingerer = server.client();
    lingerer.write_all(b"quit").unwrap();
    let started = Instant::now();
    let mut got = vec![0u8; REPLY];
    lingerer.read_exact(&mut got).unwrap();
    assert!(got == pattern(REPLY));
    // Our side never closes. Meanwhile another client is served promptly.
    let mut other = server.client();
    for i in 0..20u8 {
        other.write_all(&[i; 10]).unwrap();
        let mut echo = [0u8; 10];
        other.read_exact(&mut echo).unwrap();
        assert_eq!(echo, [i; 10]);
    }
    assert!(
        started.elapsed() < linger,
        "the echo round trips waited for the linger deadline"
    );
    // At the deadline the server resets: after its FIN (EOF) comes an RST.
    let mut rest = [0u8; 16];
    let eof = lingerer.read(&mut rest).unwrap();
    assert_eq!(eof, 0, "the server's FIN arrives first");
    let mut saw_reset = false;
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match lingerer.write(b"still here") {
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                saw_reset = true;
                break;
            }
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(
        saw_reset,
        "the connection was reset after the linger deadline"
    );
    assert!(started.elapsed() >= linger);
    let id = server.log.conns()[0];
    let evs = server.log.of(id);
    assert!(
        evs.contains(&Ev::Linger(LingerOutcome::TimedOut)),
        "{evs:?}"
    );
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::LingerTimeout)));
    drop(other);
    server.finish();
}
