//! A reconnecting client keeps one id for its whole life: between attempts
//! sends fail with `NotConnected`, a close then gives the one `on_close`,
//! and so does stopping the reactor. Another thread starts connections with
//! `ReactorHandle::connect` / `connect_and_wait`, and handle requests that
//! find their connection gone are counted. Handler timers die with the
//! attempt that set them.

mod common;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use netloop::bytes::{Bytes, BytesMut};
use netloop::handler::Discard;
use netloop::{
    Backoff, CloseReason, ConnState, ConnectErrorKind, ConnectOptions, Ctx, Error, Handler,
    ListenOptions, TimerId,
};

/// Retries every 50 ms.
fn reconnecting() -> ConnectOptions {
    let every = Duration::from_millis(50);
    ConnectOptions::default().reconnect(Backoff::new(every, every).jitter(0.0))
}

fn failed_attempts(log: &Log, id: netloop::ConnId) -> usize {
    log.of(id)
        .iter()
        .filter(|e| matches!(e, Ev::ConnectError(_)))
        .count()
}

#[test]
fn a_close_after_failed_attempts_is_the_one_on_close() {
    let (_refusing, addr) = refused_addr();
    let server = serve(ListenOptions::default(), || Discard);
    let id = server.connect(addr, reconnecting(), Discard);
    // Every attempt's callbacks are logged under the one id.
    server.wait_log("two failed attempts", |log| failed_attempts(log, id) >= 2);
    server.handle.close(id).unwrap();
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    let events = server.log.of(id);
    assert_eq!(events.last(), Some(&Ev::Close(CloseReason::Local)));
    assert!(!events.iter().any(|e| matches!(e, Ev::Disconnect(_))));
    let m = server.finish();
    assert_eq!(m.closed_total(), 1, "one on_close for all the attempts");
}

#[test]
fn a_send_between_attempts_is_refused_with_not_connected() {
    let (_refusing, addr) = refused_addr();
    let server = serve(ListenOptions::default(), || Discard);
    // A long backoff, so the client surely waits when asked.
    let wait = Duration::from_secs(60);
    let opts = ConnectOptions::default().reconnect(Backoff::new(wait, wait).jitter(0.0));
    let id = server.connect(addr, opts, Discard);
    server.wait_log("the first attempt failed", |log| {
        failed_attempts(log, id) == 1
    });
    let (state, sent) = server
        .handle
        .call(move |rc| {
            let mut conn = rc.conn(id);
            (conn.conn_state(), conn.send_bytes(Bytes::from_static(b"x")))
        })
        .unwrap();
    assert_eq!(state, Some(ConnState::Reconnecting));
    assert!(matches!(sent, Err(Error::NotConnected)), "{sent:?}");
    server.handle.abort(id).unwrap();
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    assert_eq!(
        server.log.of(id).last(),
        Some(&Ev::Close(CloseReason::Aborted))
    );
    server.finish();
}

#[test]
fn a_lost_connection_is_a_disconnect_and_the_id_comes_back_connected() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(ListenOptions::default(), || Discard);
    let id = server.connect(upstream.local_addr().unwrap(), reconnecting(), Discard);
    let (first, _) = upstream.accept().unwrap();
    server.wait_log("open", |log| log.of(id) == [Ev::Open]);
    reset(first);
    let (_second, _) = upstream.accept().unwrap();
    server.wait_log("open again", |log| {
        log.of(id).iter().filter(|e| **e == Ev::Open).count() == 2
    });
    assert_eq!(
        server.log.of(id),
        vec![Ev::Open, Ev::Disconnect(CloseReason::Reset), Ev::Open]
    );
    let sent = server
        .handle
        .call(move |rc| rc.conn(id).send(b"same id, new connection"))
        .unwrap();
    assert!(sent.is_ok(), "{sent:?}");
    // Stopping the reactor is the end: the one on_close.
    let mut server = server;
    let m = server.stop();
    assert_eq!(m.connected, 2);
    assert_eq!(m.disconnects, 1);
    assert_eq!(server.log.closes()[&id], vec![CloseReason::Shutdown]);
    server.log.assert_one_close_each();
}

#[test]
fn another_thread_connects_and_waits_for_the_outcome() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(ListenOptions::default(), || Discard);
    let handle = server.handle.clone();
    let addr = upstream.local_addr().unwrap();
    let id = std::thread::spawn(move || {
        handle.connect_and_wait(addr, ConnectOptions::default(), Discard)
    })
    .join()
    .unwrap()
    .expect("connected");
    let state = server
        .handle
        .call(move |rc| rc.conn(id).conn_state())
        .unwrap();
    assert_eq!(state, Some(ConnState::Open));

    let (_refusing, refused) = refused_addr();
    let handle = server.handle.clone();
    let outcome = std::thread::spawn(move || {
        handle.connect_and_wait(refused, ConnectOptions::default(), Discard)
    })
    .join()
    .unwrap();
    assert!(
        matches!(outcome, Err(Error::Connect(ConnectErrorKind::Refused))),
        "{outcome:?}"
    );
    // Without waiting: the id at once, the outcome later.
    let late = server
        .handle
        .connect(addr, ConnectOptions::default(), Discard)
        .unwrap();
    assert_ne!(late, id);
    wait_until("connected", || server.handle.metrics().connected == 2);
    server.handle.close(id).unwrap();
    server.handle.close(late).unwrap();
    drop(upstream);
    wait_until("closed", || server.handle.metrics().open == 0);
    server.finish();
}

#[test]
fn handle_requests_for_a_gone_connection_are_counted() {
    let server = serve(ListenOptions::default(), || Discard);
    let c = server.client();
    drop(c);
    server.wait_log("closed", |log| !log.closes().is_empty());
    let id = server.log.conns()[0];
    server
        .handle
        .send(id, Bytes::from_static(b"too late"))
        .unwrap();
    server.handle.close(id).unwrap();
    wait_until("both counted", || {
        server.handle.metrics().handle_requests_dropped == 2
    });
    server.finish();
}

/// Sets a timer in `on_open` and, once disconnected, a later probe timer;
/// records which fired.
struct TimedClient {
    set_at_open: Arc<Mutex<Vec<TimerId>>>,
    probe: Arc<Mutex<Option<TimerId>>>,
    fired: Arc<Mutex<Vec<TimerId>>>,
}

impl Handler for TimedClient {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let t = ctx.set_timer(Duration::from_millis(200));
        self.set_at_open.lock().unwrap().push(t);
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_disconnect(&mut self, ctx: &mut Ctx<'_>, _reason: CloseReason) {
        *self.probe.lock().unwrap() = Some(ctx.set_timer(Duration::from_millis(400)));
    }
    fn on_timer(&mut self, _ctx: &mut Ctx<'_>, timer: TimerId, _tag: u32) {
        self.fired.lock().unwrap().push(timer);
    }
}

#[test]
fn timers_of_a_lost_connection_die_with_it() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(ListenOptions::default(), || Discard);
    let (set_at_open, probe, fired) = Default::default();
    let client = TimedClient {
        set_at_open: Arc::clone(&set_at_open),
        probe: Arc::clone(&probe),
        fired: Arc::clone(&fired),
    };
    // Reconnects only after the probe has fired.
    let later = Duration::from_secs(5);
    let opts = ConnectOptions::default().reconnect(Backoff::new(later, later).jitter(0.0));
    let id = server.connect(upstream.local_addr().unwrap(), opts, client);
    let (first, _) = upstream.accept().unwrap();
    server.wait_log("open", |log| log.of(id) == [Ev::Open]);
    reset(first);
    wait_until("the probe fired", || {
        let probe = *probe.lock().unwrap();
        probe.is_some_and(|p| fired.lock().unwrap().contains(&p))
    });
    let opened_timer = set_at_open.lock().unwrap()[0];
    assert!(
        !fired.lock().unwrap().contains(&opened_timer),
        "a timer of the lost connection fired"
    );
    server.handle.close(id).unwrap();
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    server.finish();
}
