//! A peer that does not read: the send queue stops at its hard cap, water
//! mark callbacks fire once per crossing (`on_drain` only once the queue is
//! down to the low mark), and nothing is lost once the peer reads.

mod common;

use std::io::Read;
use std::sync::{Arc, Mutex};

use common::*;
use netloop::bytes::BytesMut;
use netloop::{ConnOptions, Ctx, Error, Handler, ListenOptions};

const TOTAL: usize = 6 << 20;
const HIGH: usize = 256 << 10;
const LOW: usize = 64 << 10;
const CAP: usize = 512 << 10;

/// Sends a pattern of TOTAL bytes as fast as the queue allows: fills to the
/// cap, waits for on_drain, fills again; then closes.
struct Producer {
    sent: usize,
    data: Vec<u8>,
    refused: usize,
    /// `ctx.queued()` seen at the start of each `on_drain`.
    queued_at_drain: Arc<Mutex<Vec<usize>>>,
}

impl Producer {
    fn fill(&mut self, ctx: &mut Ctx<'_>) {
        while self.sent < TOTAL {
            let end = (self.sent + 16 * 1024).min(TOTAL);
            match ctx.send(&self.data[self.sent..end]) {
                Ok(()) => self.sent = end,
                Err(Error::QueueFull { queued, cap, .. }) => {
                    assert!(queued <= cap);
                    self.refused += 1;
                    return;
                }
                Err(e) => panic!("unexpected send error: {e}"),
            }
            assert!(ctx.queued() <= CAP, "queue {} above the cap", ctx.queued());
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
        self.queued_at_drain.lock().unwrap().push(ctx.queued());
        self.fill(ctx);
    }
}

#[test]
fn queue_stops_at_the_cap_and_water_marks_fire_once_per_crossing_with_drain_at_the_low_mark() {
    let queued_at_drain = Arc::new(Mutex::new(Vec::new()));
    let drains = queued_at_drain.clone();
    let conn = ConnOptions::default()
        .water_marks(HIGH, LOW)
        .max_send_queue(CAP)
        .send_buffer(16 << 10);
    let server = serve(ListenOptions::default().conn(conn), move || Producer {
        sent: 0,
        data: pattern(TOTAL),
        refused: 0,
        queued_at_drain: drains.clone(),
    });
    // A small receive window so the server's queue really fills.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&server.addr.into()).unwrap();
    let mut c: std::net::TcpStream = sock.into();
    c.set_read_timeout(Some(PATIENCE)).unwrap();

    // While the client does not read, the server crosses high water once and stays there.
    server.wait_log("the queue crosses high water", |log| {
        log.count(|e| matches!(e, Ev::High(_))) == 1
    });
    let id = server.log.conns()[0];
    assert!(!server.log.of(id).contains(&Ev::Drain));

    let mut got = Vec::with_capacity(TOTAL);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = c.read(&mut buf).expect("client read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), TOTAL, "bytes received");
    assert!(
        got == pattern(TOTAL),
        "received bytes differ from those sent"
    );

    // Crossings alternate: High, Drain, High, Drain, ... never two in a row.
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
    for e in &marks {
        if let Ev::High(q) = e {
            assert!((HIGH..=CAP).contains(q), "high water reported at {q}");
        }
    }
    // on_drain comes at or below the low mark, not as soon as the queue
    // leaves the high one.
    let queued_at_drain = queued_at_drain.lock().unwrap().clone();
    assert_eq!(
        queued_at_drain.len(),
        marks.iter().filter(|e| **e == Ev::Drain).count()
    );
    for q in &queued_at_drain {
        assert!(
            *q <= LOW,
            "on_drain with {q} bytes queued, above the low mark {LOW}"
        );
    }
    drop(c);
    let metrics = server.finish();
    assert!(metrics.high_water_events >= 1);
}
