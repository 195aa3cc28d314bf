//! 2,000 slowloris connections, each dribbling one byte a second and never
//! finishing a request, do not stall a normal client: its round trips stay
//! within a bound far below the dribble period (stated below, with the
//! figures printed). Timeouts then close them all: those that go silent by
//! the idle timeout, those that keep dribbling by the handler's header
//! deadline (an idle timeout alone cannot catch a byte a second).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::{Buf, BytesMut};
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions, TimerId};

const SLOW: usize = 2_000;
const DRIBBLE_EVERY: Duration = Duration::from_secs(1);
/// Half the slow clients stop dribbling after this and idle out.
const SILENT_AFTER: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// A request must be complete this long after the previous one (or the open).
const HEADER_TIMEOUT: Duration = Duration::from_secs(8);
/// The bound on the normal client's round trips while the slow ones
/// dribble: a loop that waited on a slow client even once would take a
/// dribble period (1 s). Both are an order of magnitude above what this
/// machine shows under load (printed), to stay clear of noise.
const MAX_P50: Duration = Duration::from_millis(20);
const MAX_P99: Duration = Duration::from_millis(100);

/// Requests end with an empty line; each gets "ok\n". A connection that
/// does not complete a request within HEADER_TIMEOUT is aborted.
#[derive(Default)]
struct Framed {
    deadline: Option<TimerId>,
}

impl Framed {
    fn arm(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(t) = self.deadline.take() {
            ctx.cancel_timer(t);
        }
        self.deadline = Some(ctx.set_timer(HEADER_TIMEOUT));
    }
}

impl Handler for Framed {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        self.arm(ctx);
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        while let Some(end) = input.windows(2).position(|w| w == b"\n\n") {
            input.advance(end + 2);
            if ctx.send(b"ok\n").is_err() {
                return ctx.abort();
            }
            self.arm(ctx);
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: TimerId, _tag: u32) {
        if self.deadline == Some(timer) {
            ctx.abort();
        }
    }
}

fn round_trip(c: &mut TcpStream) -> Duration {
    let t0 = Instant::now();
    c.write_all(b"GET\n\n").unwrap();
    let mut buf = [0u8; 3];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok\n");
    t0.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Dribbles a byte a second on every slow connection; the first half stops
/// after SILENT_AFTER. Returns when every connection has been closed by the
/// server (a write fails, or a read sees the end).
fn dribble(mut slow: Vec<TcpStream>) {
    let start = Instant::now();
    let mut alive = vec![true; slow.len()];
    while alive.iter().any(|&a| a) {
        assert!(start.elapsed() < PATIENCE, "slow clients were never closed");
        let silent = start.elapsed() >= SILENT_AFTER;
        for (i, c) in slow.iter_mut().enumerate() {
            if !alive[i] {
                continue;
            }
            let mut probe = [0u8; 1];
            let closed = match c.read_retrying(&mut probe) {
                Ok(0) => true,
                Ok(_) => panic!("a slow client got an answer"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(_) => true,
            };
            let quiet = silent && i < SLOW / 2;
            if closed || (!quiet && c.write(b"x").is_err()) {
                alive[i] = false;
            }
        }
        std::thread::sleep(DRIBBLE_EVERY);
    }
}

#[test]
fn slow_dribblers_do_not_stall_a_normal_client_and_time_out() {
    let conn = ConnOptions::default().idle_timeout(IDLE_TIMEOUT);
    let server = serve(ListenOptions::default().conn(conn), Framed::default);
    let mut normal = server.client();
    let mut baseline: Vec<Duration> = (0..500).map(|_| round_trip(&mut normal)).collect();
    baseline.sort();

    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let c = server.client();
            c.set_nonblocking(true).unwrap();
            c
        })
        .collect();
    let handle = server.handle.clone();
    wait_until("all slow clients accepted", || {
        handle.metrics().open == SLOW as u64 + 1
    });
    let dribbler = std::thread::spawn(move || dribble(slow));

    // Round trips, one a millisecond, for as long as slow clients remain.
    let mut loaded = Vec::new();
    while handle.metrics().open > 1 {
        loaded.push(round_trip(&mut normal));
        std::thread::sleep(Duration::from_millis(1));
    }
    dribbler.join().unwrap();
    loaded.sort();
    let (b50, b99) = (percentile(&baseline, 0.5), percentile(&baseline, 0.99));
    let (l50, l99) = (percentile(&loaded, 0.5), percentile(&loaded, 0.99));
    println!(
        "normal client RTT: alone p50 {b50:?} p99 {b99:?}; with {SLOW} slowloris \
         p50 {l50:?} p99 {l99:?} max {:?} over {} round trips",
        loaded.last().unwrap(),
        loaded.len()
    );
    assert!(l50 <= MAX_P50, "median round trip {l50:?} under slowloris");
    assert!(l99 <= MAX_P99, "p99 round trip {l99:?} under slowloris");

    // The normal client (first) is still open; the slow ones closed by a
    // timeout: the silent half idled out, the dribbling half hit the deadline.
    let ids = server.log.conns();
    let closes = server.log.closes();
    let reason = |id| closes.get(id).map(|r: &Vec<CloseReason>| r[0]);
    let idled = ids[1..=SLOW / 2]
        .iter()
        .filter(|id| reason(id) == Some(CloseReason::IdleTimeout))
        .count();
    let deadlined = ids[SLOW / 2 + 1..]
        .iter()
        .filter(|id| reason(id) == Some(CloseReason::Aborted))
        .count();
    assert_eq!(
        idled,
        SLOW / 2,
        "silent slow clients closed by the idle timeout"
    );
    assert_eq!(
        deadlined,
        SLOW / 2,
        "dribbling ones closed at the header deadline"
    );
    drop(normal);
    drop(handle);
    server.finish();
}
