//! A client with a reconnect policy stays connected: while the server is
//! down its attempts are spaced by the exponential backoff; when the server
//! comes back it connects (the same handler and the same id); when the
//! server restarts (closing the connection) it gets `on_disconnect` and
//! reconnects, the backoff starting over; its own `close()` ends the
//! reconnecting with the one `on_close`.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Discard;
use netloop::{
    Backoff, CloseReason, ConnId, ConnectError, ConnectOptions, Ctx, Handler, ListenOptions,
};

const START: Duration = Duration::from_millis(150);
const MAX: Duration = Duration::from_millis(600);

/// What the client saw, with times.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Seen {
    Failed,
    Open,
    Disconnected(CloseReason),
    Closed(CloseReason),
}

/// A client that closes for good once it has been connected `stay` times.
struct Client {
    seen: Arc<Mutex<Vec<(Seen, Instant)>>>,
    /// The id each callback saw.
    ids: Arc<Mutex<Vec<ConnId>>>,
    opened: u32,
    stay: u32,
}

impl Client {
    fn note(&self, ctx: &Ctx<'_>, what: Seen) {
        self.seen.lock().unwrap().push((what, Instant::now()));
        self.ids.lock().unwrap().push(ctx.id());
    }
}

impl Handler for Client {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        self.note(ctx, Seen::Open);
        self.opened += 1;
        if self.opened == self.stay {
            ctx.close();
        }
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_connect_error(&mut self, ctx: &mut Ctx<'_>, _error: &ConnectError) {
        self.note(ctx, Seen::Failed);
    }
    fn on_disconnect(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        self.note(ctx, Seen::Disconnected(reason));
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        self.note(ctx, Seen::Closed(reason));
    }
}

/// Times of the failed attempts after `from`, until the next open.
fn failures_between(seen: &[(Seen, Instant)], from: Instant) -> Vec<Instant> {
    seen.iter()
        .filter(|(_, t)| *t >= from)
        .take_while(|(s, _)| *s != Seen::Open)
        .filter(|(s, _)| *s == Seen::Failed)
        .map(|(_, t)| *t)
        .collect()
}

/// The gaps between attempts follow the backoff: never shorter than it says
/// (start, doubling, capped), and starting below the cap. Lateness on a
/// busy machine only lengthens a gap, so the one upper bound, on the first
/// gap, leaves 450 ms of room: a backoff that did not double fails the
/// lower bounds, one that started at the cap fails the upper one.
fn assert_spaced_by_backoff(failures: &[Instant]) {
    assert!(failures.len() >= 4, "only {} attempts", failures.len());
    let backoff = Backoff::new(START, MAX).jitter(0.0);
    let gaps: Vec<Duration> = failures.windows(2).map(|p| p[1] - p[0]).collect();
    for (i, &gap) in gaps.iter().enumerate() {
        let want = backoff.delay(i as u32, 0.0);
        assert!(
            gap + Duration::from_millis(2) >= want,
            "attempt {} came {gap:?} after the one before; the backoff says {want:?}",
            i + 1
        );
    }
    assert!(gaps[0] < MAX, "the first gap, {:?}, is at the cap", gaps[0]);
}

#[test]
fn a_client_reconnects_with_backoff_until_it_closes_on_purpose() {
    let (holder, addr) = refused_addr();
    let server = serve(ListenOptions::default(), || Discard);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let client = Client {
        seen: seen.clone(),
        ids: ids.clone(),
        opened: 0,
        stay: 2,
    };
    let opts = ConnectOptions::default().reconnect(Backoff::new(START, MAX).jitter(0.0));
    let began = Instant::now();
    let id = server.connect(addr, opts, client);

    // Server down: refused attempts, spaced 150, 300, 600, 600 ms.
    wait_until("five failed attempts", || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == Seen::Failed)
            .count()
            >= 5
    });
    // Server up: the next attempt connects.
    holder.listen(16).unwrap();
    let listener: TcpListener = holder.into();
    let (mut first, _) = listener.accept().unwrap();
    wait_until("connected", || {
        seen.lock().unwrap().iter().any(|(s, _)| *s == Seen::Open)
    });
    assert_spaced_by_backoff(&failures_between(&seen.lock().unwrap(), began));

    // Server restart: it closes the connection and stops listening.
    first.write_all(b"bye").unwrap();
    drop(first);
    drop(listener);
    let restarted = Instant::now();
    wait_until("five failed attempts after the restart", || {
        failures_between(&seen.lock().unwrap(), restarted).len() >= 5
    });
    let listener = TcpListener::bind(addr).expect("rebind the server's port");
    let (mut second, _) = listener.accept().unwrap();
    // The client closes on purpose: read to its FIN and answer with ours,
    // which ends its lingering close.
    second.set_read_timeout(Some(PATIENCE)).unwrap();
    std::io::Read::read_to_end(&mut second, &mut Vec::new()).expect("the client's FIN");
    drop(second);
    server.wait_log("the second connection closed", |log| {
        log.closes()
            .values()
            .flatten()
            .any(|r| *r == CloseReason::Local)
    });
    {
        let seen = seen.lock().unwrap();
        let restart_failures = failures_between(&seen, restarted);
        // The backoff started over after the connection was made.
        assert_spaced_by_backoff(&restart_failures);
        let first_retry = restart_failures[0] - restarted;
        assert!(
            first_retry < MAX,
            "first retry after {first_retry:?}: the backoff did not start over"
        );
        // The first connection ended because the server closed it: a
        // disconnect; the one close came last, when the client closed.
        let ends: Vec<Seen> = seen
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| matches!(s, Seen::Disconnected(_) | Seen::Closed(_)))
            .collect();
        assert_eq!(
            ends,
            vec![
                Seen::Disconnected(CloseReason::PeerClosed),
                Seen::Closed(CloseReason::Local)
            ]
        );
        assert_eq!(
            seen.last().map(|(s, _)| *s),
            Some(Seen::Closed(CloseReason::Local))
        );
    }
    // One identity throughout: every callback of every attempt saw the id
    // `connect` returned.
    assert!(ids.lock().unwrap().iter().all(|&seen_id| seen_id == id));
    // Closed on purpose: the id is gone, so nothing can reconnect it.
    let state = server
        .handle
        .call(move |rc| rc.conn(id).conn_state())
        .unwrap();
    assert_eq!(state, None, "it is still there after close()");
    let failed = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(s, _)| *s == Seen::Failed)
        .count();
    let metrics = server.finish();
    assert_eq!(metrics.connected, 2);
    assert_eq!(
        metrics.disconnects,
        1 + failed as u64,
        "the lost connection and each failed attempt"
    );
    assert_eq!(metrics.closed_total(), 1, "one final close");
}
