//! The read-idle timeout: a peer that sends nothing is closed gracefully
//! with `IdleTimeout` at the timeout; a peer that keeps sending is not; a
//! handler can keep the connection (`Verdict::Keep`), and the timeout does
//! not run while we paused reading or after the peer's FIN.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions, TimerId, Verdict};

const IDLE: Duration = Duration::from_millis(400);
/// How often the talker sends: far below `IDLE`, so a late wake-up on a
/// loaded machine does not make it look idle.
const TALK: Duration = Duration::from_millis(25);
/// The idle clock keeps whole milliseconds: a close may come up to that
/// much before `IDLE` has passed in full.
const TICK: Duration = Duration::from_millis(2);

fn idle_opts() -> ListenOptions {
    ListenOptions::default().conn(ConnOptions::default().idle_timeout(IDLE))
}

#[test]
fn a_silent_peer_is_closed_at_the_timeout_and_a_talking_one_is_not() {
    let server = serve(idle_opts(), || Discard);
    let opened = Instant::now();
    let mut silent = server.client();
    let mut talker = server.client();
    server.wait_log("both open", |log| log.conns().len() == 2);
    // The talker sends every `TALK` for three idle periods. (The sleep
    // paces it; nothing waits on it.)
    let mut last_sent = Instant::now();
    while opened.elapsed() < IDLE * 3 {
        last_sent = Instant::now();
        talker.write_all(b"x").unwrap();
        std::thread::sleep(TALK);
    }
    // The silent one got a clean FIN at about the timeout.
    let (_, end) = read_to_end(&mut silent);
    end.expect("a graceful close, not a reset");
    let closes = server.log.closes();
    assert_eq!(
        closes.len(),
        1,
        "only the silent peer is closed: {closes:?}"
    );
    let silent_id = *closes.keys().next().unwrap();
    assert_eq!(
        server.log.of(silent_id),
        vec![
            Ev::Open,
            Ev::IdleTimeout,
            Ev::Close(CloseReason::IdleTimeout)
        ]
    );
    // Once the talker stops, it is closed too, not before a full `IDLE`
    // after its last byte (which the server cannot have read before it
    // was written).
    let (_, end) = read_to_end(&mut talker);
    end.unwrap();
    let waited = last_sent.elapsed();
    assert!(
        waited >= IDLE - TICK,
        "closed {waited:?} after the last byte"
    );
    let metrics = server.finish();
    assert_eq!(metrics.closed_with(CloseReason::IdleTimeout), 2);
}

/// Keeps the connection through two idle timeouts, then lets it close.
struct KeepTwice(u32);

impl Handler for KeepTwice {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_idle_timeout(&mut self, _ctx: &mut Ctx<'_>) -> Verdict {
        self.0 += 1;
        if self.0 <= 2 {
            Verdict::Keep
        } else {
            Verdict::Close
        }
    }
}

#[test]
fn keep_restarts_the_timeout() {
    let server = serve(idle_opts(), || KeepTwice(0));
    let started = Instant::now();
    let mut client = server.client();
    let (_, end) = read_to_end(&mut client);
    end.unwrap();
    let elapsed = started.elapsed();
    let id = server.log.conns()[0];
    assert_eq!(
        server.log.of(id),
        vec![
            Ev::Open,
            Ev::IdleTimeout,
            Ev::IdleTimeout,
            Ev::IdleTimeout,
            Ev::Close(CloseReason::IdleTimeout)
        ]
    );
    assert!(elapsed >= IDLE * 3, "three full timeouts, took {elapsed:?}");
    server.finish();
}

/// Pauses reading at the first byte and resumes after `PAUSE`.
struct PauseAWhile {
    resume: Option<TimerId>,
}

const PAUSE: Duration = Duration::from_millis(1200);

impl Handler for PauseAWhile {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
        if self.resume.is_none() {
            ctx.pause_read();
            self.resume = Some(ctx.set_timer(PAUSE));
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _timer: TimerId, _tag: u32) {
        ctx.resume_read();
    }
}

#[test]
fn no_idle_timeout_while_reading_is_paused() {
    let server = serve(idle_opts(), || PauseAWhile { resume: None });
    let mut client = server.client();
    // Before the write: the server pauses on reading it, so not earlier.
    let started = Instant::now();
    client.write_all(b"go").unwrap();
    let (_, end) = read_to_end(&mut client);
    end.unwrap();
    let elapsed = started.elapsed();
    let id = server.log.conns()[0];
    let evs = server.log.of(id);
    assert_eq!(
        evs.last(),
        Some(&Ev::Close(CloseReason::IdleTimeout)),
        "{evs:?}"
    );
    assert!(
        elapsed >= PAUSE + IDLE - TICK,
        "closed {elapsed:?} after pausing for {PAUSE:?}: the pause counted as idle"
    );
    server.finish();
}

/// On the peer's FIN, answers slowly: one byte every 100 ms, ten times,
/// then closes.
#[derive(Default)]
struct SlowAnswer {
    sent: u32,
}

impl Handler for SlowAnswer {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_interval(Duration::from_millis(100));
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _timer: TimerId, _tag: u32) {
        let _ = ctx.send(b"a");
        self.sent += 1;
        if self.sent == 10 {
            ctx.close();
        }
    }
}

#[test]
fn no_idle_timeout_after_the_peers_fin() {
    let server = serve(idle_opts(), SlowAnswer::default);
    let mut client = server.client();
    client.write_all(b"request").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).unwrap();
    assert_eq!(
        answer, b"aaaaaaaaaa",
        "the whole answer, over 1 s > the idle timeout"
    );
    let id = server.log.conns()[0];
    let evs = server.log.of(id);
    assert!(!evs.contains(&Ev::IdleTimeout), "{evs:?}");
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::PeerClosed)));
    server.finish();
}
