//! A peer that does not read: the send queue stops at its hard cap, water
//! mark callbacks fire once per crossing (`on_drain` only once the queue is
//! down to the low mark), and nothing is lost once the peer reads. An echo
//! with marks of 1 byte and 0 (the echo example's) queues at most what one
//! read brought.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
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

/// A client with a 4 KiB receive buffer (and a read timeout).
fn small_window_client(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let c: std::net::TcpStream = sock.into();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c
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
    let mut c = small_window_client(server.addr);

    // While the client does not read, the server crosses high water once and stays there.
    server.wait_log("the queue crosses high water", |log| {
        log.count(|e| matches!(e, Ev::High(_))) == 1
    });
    let id = server.log.conns()[0];
    assert!(!server.log.of(id).contains(&Ev::Drain));

    let mut got = Vec::with_capacity(TOTAL);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = c.read_retrying(&mut buf).expect("client read");
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

/// The library's [`Echo`], noting the largest send queue it left behind an
/// `on_read`.
struct QueueWatch {
    largest: Arc<AtomicUsize>,
}

impl Handler for QueueWatch {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        Echo.on_read(ctx, input);
        self.largest.fetch_max(ctx.queued(), Ordering::Relaxed);
    }
    fn on_high_water(&mut self, ctx: &mut Ctx<'_>, queued: usize) {
        Echo.on_high_water(ctx, queued);
    }
    fn on_drain(&mut self, ctx: &mut Ctx<'_>) {
        Echo.on_drain(ctx);
    }
}

/// The most one read brings (the loop's read buffer).
const ONE_READ: usize = 64 << 10;

#[test]
fn an_echo_with_marks_of_one_byte_and_zero_queues_at_most_one_read() {
    const SENT: usize = 4 << 20;
    let largest = Arc::new(AtomicUsize::new(0));
    let seen = largest.clone();
    let conn = ConnOptions::default()
        .water_marks(1, 0)
        .send_buffer(16 << 10);
    let server = serve(ListenOptions::default().conn(conn), move || QueueWatch {
        largest: seen.clone(),
    });
    // A small receive window, so the echo's replies back up at once.
    let mut c = small_window_client(server.addr);
    let mut writer = c.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        writer.write_all(&pattern(SENT)).expect("client write");
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });

    // The client is not reading yet: a reply backs up and reading pauses.
    server.wait_log("reading pauses behind a queued reply", |log| {
        log.count(|e| matches!(e, Ev::High(_))) >= 1
    });
    let mut got = Vec::with_capacity(SENT);
    c.read_to_end(&mut got).expect("client read");
    sender.join().unwrap();
    assert_eq!(got.len(), SENT, "bytes echoed");
    assert!(got == pattern(SENT), "echoed bytes differ from those sent");

    let id = server.log.conns()[0];
    let highs: Vec<usize> = server
        .log
        .of(id)
        .into_iter()
        .filter_map(|e| if let Ev::High(q) = e { Some(q) } else { None })
        .collect();
    assert!(highs.len() > 1, "reading paused once only: {highs:?}");
    let largest = largest.load(Ordering::Relaxed);
    assert!(
        largest <= ONE_READ && highs.iter().all(|q| *q <= ONE_READ),
        "queued {largest} bytes (at high water: {highs:?}), more than one read of {ONE_READ}"
    );
    drop(c);
    server.finish();
}
