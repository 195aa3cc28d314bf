//! The reactor's counters match what the test did: connections accepted and
//! open, closes by reason, bytes in and out, high-water events, posted
//! closures, timers pending, and time in callbacks when enabled.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use common::*;
use netloop::bytes::{Bytes, BytesMut};
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions};

const BIG: usize = 2 << 20;

/// Echoes, except that the request `big` is answered with BIG bytes.
struct Metered {
    big: Bytes,
}

impl Handler for Metered {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.as_ref() == b"big" {
            ctx.send_bytes(self.big.clone()).expect("queued");
        } else {
            ctx.send(input).expect("echoed");
        }
        input.clear();
    }
}

/// Sends `len` bytes and reads the echo back.
fn echo(c: &mut std::net::TcpStream, len: usize) {
    let data = pattern(len);
    let writer = write_in_background(c, data.clone(), false);
    let mut back = vec![0; len];
    c.read_exact(&mut back).unwrap();
    assert!(back == data);
    writer.join().unwrap();
}

#[test]
fn counters_match_what_happened() {
    let big = Bytes::from(pattern(BIG));
    let opts = ListenOptions::default().conn(ConnOptions::default().send_buffer(16 << 10));
    let server = serve(opts, move || Metered { big: big.clone() });
    server
        .handle
        .post(|rc| rc.set_callback_timing(true))
        .unwrap();

    // Five clients, each echoing a different amount.
    let sizes = [1, 1000, 64 << 10, 300 << 10, 10];
    let mut clients: Vec<_> = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let mut c = server.client();
        echo(&mut c, len);
        server.wait_log("opened", |log| log.conns().len() == i + 1);
        clients.push(c);
    }
    let ids = server.log.conns();
    let live = server.handle.metrics();
    assert_eq!(live.accepted, 5);
    assert_eq!(live.open, 5, "read while the loop runs");

    // One big answer: the queue crosses the high water mark once.
    clients[4].write_all(b"big").unwrap();
    let mut answer = vec![0; BIG];
    clients[4].read_exact(&mut answer).unwrap();
    assert!(answer == pattern(BIG));

    // One timer left pending.
    server
        .handle
        .call(|rc| {
            rc.schedule(Duration::from_secs(3600), |_| {});
        })
        .unwrap();

    // Each close reason once.
    let mut clients = clients.into_iter();
    let mut peer_fin = clients.next().unwrap();
    peer_fin.shutdown(Shutdown::Write).unwrap(); // PeerClosed
    assert!(read_to_end(&mut peer_fin).1.is_ok());
    reset(clients.next().unwrap()); // Reset
    server.handle.close(ids[2]).unwrap(); // Local
    server.handle.abort(ids[3]).unwrap(); // Aborted
    let mut kept = clients.nth(2).unwrap();
    server.handle.close(ids[4]).unwrap(); // Local
    assert!(read_to_end(&mut kept).1.is_ok());
    drop(kept); // our FIN ends its lingering close
    wait_until("all closed", || server.handle.metrics().open == 0);

    let m = server.finish();
    let echoed: u64 = sizes.iter().map(|&n| n as u64).sum();
    assert_eq!(m.accepted, 5);
    assert_eq!(m.connected, 0);
    assert_eq!(m.open, 0);
    assert_eq!(m.closed_with(CloseReason::PeerClosed), 1);
    assert_eq!(m.closed_with(CloseReason::Reset), 1);
    assert_eq!(m.closed_with(CloseReason::Local), 2);
    assert_eq!(m.closed_with(CloseReason::Aborted), 1);
    assert_eq!(m.closed_total(), 5);
    assert_eq!(m.bytes_in, echoed + 3, "echoed bytes and the request `big`");
    assert_eq!(m.bytes_out, echoed + BIG as u64);
    assert_eq!(m.high_water_events, 1);
    assert_eq!(m.keepalive_failures, 0);
    assert_eq!(m.accept_errors, 0);
    assert_eq!(m.panics, 0);
    assert_eq!(m.timers_pending, 1, "the hour-long timer");
    // The timing toggle, the timer call, two closes, an abort and the stop.
    assert_eq!(m.posted, 6);
    assert!(m.wakeups >= 1 && m.wakeups <= m.posted);
    assert!(m.turns > 5);
    assert!(m.busy_nanos > 0);
    // Timed: five opens, five closes, at least one read each, the posts.
    assert!(m.callbacks_timed >= 15, "{m:?}");
    assert!(m.callback_nanos > 0);
    assert!(m.mean_callback_time() > Duration::ZERO);
}

#[test]
fn callback_timing_is_off_by_default() {
    let server = serve(ListenOptions::default(), || netloop::handler::Echo);
    let mut c = server.client();
    echo(&mut c, 100);
    drop(c);
    let m = server.finish();
    assert_eq!(m.callbacks_timed, 0);
    assert_eq!(m.callback_nanos, 0);
    assert_eq!(m.bytes_in, 100);
}
