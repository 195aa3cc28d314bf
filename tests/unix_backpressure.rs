//! Backpressure on a Unix domain connection: a peer that does not read
//! fills the socket, then the send queue up to its hard cap (never past
//! it: sends beyond are refused), high water fires once, and once the peer
//! reads, on_drain comes at the low mark and every byte arrives in order.

mod common;

use std::io::Read;
use std::sync::{Arc, Mutex};

use common::unix::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::{ConnOptions, Ctx, Error, Handler, ListenOptions};

const TOTAL: usize = 6 << 20;
const HIGH: usize = 256 << 10;
const LOW: usize = 64 << 10;
const CAP: usize = 512 << 10;

/// What the producer saw, for the test to check.
#[derive(Default)]
struct Seen {
    refused: usize,
    peak_queued: usize,
    queued_at_drain: Vec<usize>,
}

/// Sends TOTAL bytes as fast as the queue allows: fills to the cap, waits
/// for on_drain, fills again; then closes.
struct Producer {
    sent: usize,
    data: Vec<u8>,
    seen: Arc<Mutex<Seen>>,
}

impl Producer {
    fn fill(&mut self, ctx: &mut Ctx<'_>) {
        while self.sent < TOTAL {
            let end = (self.sent + 16 * 1024).min(TOTAL);
            match ctx.send(&self.data[self.sent..end]) {
                Ok(()) => self.sent = end,
                Err(Error::QueueFull { queued, cap, .. }) => {
                    assert!(queued <= cap);
                    self.seen.lock().unwrap().refused += 1;
                    return;
                }
                Err(e) => panic!("unexpected send error: {e}"),
            }
            let mut seen = self.seen.lock().unwrap();
            seen.peak_queued = seen.peak_queued.max(ctx.queued());
        }
        ctx.close();
    }
}

impl Handler for Producer {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        self.fill(ctx);
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_drain(&mut self, ctx: &mut Ctx<'_>) {
        self.seen.lock().unwrap().queued_at_drain.push(ctx.queued());
        self.fill(ctx);
    }
}

#[test]
fn a_peer_that_does_not_read_is_held_at_the_cap_and_then_gets_everything() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    let conn = ConnOptions::default()
        .water_marks(HIGH, LOW)
        .max_send_queue(CAP)
        .send_buffer(16 << 10);
    let server = serve_unix(ListenOptions::default().conn(conn), move || Producer {
        sent: 0,
        data: pattern(TOTAL),
        seen: shared.clone(),
    });
    let mut c = server.client();
    server.wait_log("the queue crosses high water", |log| {
        log.count(|e| matches!(e, Ev::High(_))) == 1
    });
    let id = server.log.conns()[0];
    wait_until("a send is refused at the cap", || {
        seen.lock().unwrap().refused > 0
    });
    assert!(!server.log.of(id).contains(&Ev::Drain));
    // Memory is bounded by the cap while the peer reads nothing.
    let held = server.handle.conn_stats(id).unwrap();
    assert!(held.peak_queued as usize <= CAP, "{held:?}");
    assert!(
        held.bytes_out < TOTAL as u64 / 2,
        "the socket took it all: {held:?}"
    );

    let mut got = Vec::with_capacity(TOTAL);
    c.read_to_end(&mut got).expect("read to the end");
    assert_eq!(got.len(), TOTAL, "bytes received");
    assert!(
        got == pattern(TOTAL),
        "received bytes differ from those sent"
    );

    let marks: Vec<Ev> = server
        .log
        .of(id)
        .into_iter()
        .filter(|e| matches!(e, Ev::High(_) | Ev::Drain))
        .collect();
    assert!(marks.len() >= 2, "expected several crossings: {marks:?}");
    for pair in marks.windows(2) {
        assert_ne!(
            std::mem::discriminant(&pair[0]),
            std::mem::discriminant(&pair[1]),
            "two crossings in the same direction: {marks:?}"
        );
    }
    let seen = seen.lock().unwrap();
    assert!(
        seen.peak_queued <= CAP,
        "queue peaked at {}",
        seen.peak_queued
    );
    assert!(seen.peak_queued >= HIGH, "the queue never filled");
    assert!(!seen.queued_at_drain.is_empty());
    for q in &seen.queued_at_drain {
        assert!(*q <= LOW, "on_drain with {q} bytes queued, above {LOW}");
    }
    drop(c);
    let metrics = server.finish();
    assert!(metrics.high_water_events >= 1);
}
