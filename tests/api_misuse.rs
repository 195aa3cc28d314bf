//! Misusing the API gives typed errors or no-ops, never a panic: sends and
//! closes after close, stale and foreign ids, shutdown or close twice,
//! linger-close then abort, out-of-range durations and options, posts to a
//! stopped reactor, and a handler meddling with its own closed connection.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use common::inline::Inline;
use common::*;
use netloop::bytes::{Bytes, BytesMut};
use netloop::handler::{Discard, Echo};
use netloop::{
    Backoff, CloseReason, ConnId, ConnOptions, ConnState, ConnectOptions, Ctx, Error, Handler,
    ListenOptions, Reactor,
};

/// Opens one client and returns it with the server-side id.
fn open_one(s: &mut Inline) -> (std::net::TcpStream, ConnId) {
    let before = s.log.conns().len();
    let c = s.client();
    s.turn_until("the connection opened", |_, log| {
        log.conns().len() == before + 1
    });
    (c, s.log.conns()[before])
}

fn assert_no_such_conn<T: std::fmt::Debug>(what: &str, r: netloop::Result<T>) {
    assert!(
        matches!(r, Err(Error::NoSuchConn | Error::ForeignConn)),
        "{what}: expected an unknown-connection error, got {r:?}"
    );
}

#[test]
fn operations_on_a_closed_connection_are_typed_errors() {
    let mut s = Inline::new(ListenOptions::default(), || Echo);
    let (mut c, id) = open_one(&mut s);
    {
        let mut rc = s.reactor.ctx();
        rc.conn(id).close().expect("first close");
        rc.conn(id)
            .close()
            .expect("a second close before it applies is a no-op");
    }
    // The peer reads to our FIN and closes; that ends the lingering close.
    let reader = std::thread::spawn(move || read_to_end(&mut c).1);
    s.turn_until("closed", |_, log| log.closes().contains_key(&id));
    reader.join().unwrap().expect("the peer sees a clean FIN");

    let mut rc = s.reactor.ctx();
    let mut conn = rc.conn(id);
    assert_no_such_conn("send", conn.send(b"late"));
    assert_no_such_conn("send_bytes", conn.send_bytes(Bytes::from_static(b"late")));
    assert_no_such_conn("close", conn.close());
    assert_no_such_conn("shutdown_write", conn.shutdown_write());
    assert_no_such_conn("linger_close", conn.linger_close(Duration::from_secs(1)));
    assert_no_such_conn("abort", conn.abort());
    assert_no_such_conn("pause_read", conn.pause_read());
    assert_no_such_conn("resume_read", conn.resume_read());
    assert_no_such_conn("set_water_marks", conn.set_water_marks(10, 5));
    assert_no_such_conn("set_max_send_queue", conn.set_max_send_queue(10));
    assert_no_such_conn("queued", conn.queued());
    assert_no_such_conn("stats", conn.stats());
    assert_no_such_conn("peer_addr", conn.peer_addr());
    assert_no_such_conn("tcp_info", conn.tcp_info());
    assert_no_such_conn("is_read_paused", conn.is_read_paused());
    assert_eq!(conn.conn_state(), None);
    assert!(!conn.is_open());
    s.log.assert_one_close_each();
    assert_eq!(s.log.of(id).last(), Some(&Ev::Close(CloseReason::Local)));
    s.finish();
}

#[test]
fn sends_while_closing_are_refused_and_queued_bytes_still_arrive() {
    const LEN: usize = 4 << 20;
    let opts = ListenOptions::default().conn(ConnOptions::default().send_buffer(16 << 10));
    let mut s = Inline::new(opts, || Discard);
    let (mut c, id) = open_one(&mut s);
    let data = pattern(LEN);
    {
        let mut rc = s.reactor.ctx();
        let mut conn = rc.conn(id);
        conn.send(&data).expect("send");
        assert!(conn.queued().unwrap() > 0, "the peer does not read yet");
        conn.close().unwrap();
    }
    s.turn_until("closing", |r, _| {
        r.ctx().conn(id).conn_state() == Some(ConnState::LingerFlushing)
    });
    {
        let mut rc = s.reactor.ctx();
        let mut conn = rc.conn(id);
        assert!(matches!(conn.send(b"more"), Err(Error::WriteClosed)));
        assert!(matches!(
            conn.send_bytes(Bytes::from_static(b"more")),
            Err(Error::WriteClosed)
        ));
        conn.close().expect("close while closing is a no-op");
        conn.shutdown_write()
            .expect("shutdown while closing is a no-op");
    }
    // Read on a thread; the reactor keeps turning here.
    let reader = std::thread::spawn(move || read_to_end(&mut c));
    s.turn_until("closed", |_, log| log.closes().contains_key(&id));
    let (got, end) = reader.join().unwrap();
    end.expect("clean end");
    assert!(got == data, "got {} of {LEN} bytes, or altered", got.len());
    assert_eq!(s.log.of(id).last(), Some(&Ev::Close(CloseReason::Local)));
    s.finish();
}

#[test]
fn shutdown_twice_gives_one_half_close() {
    let mut s = Inline::new(ListenOptions::default(), || Discard);
    let (mut c, id) = open_one(&mut s);
    {
        let mut rc = s.reactor.ctx();
        rc.conn(id).shutdown_write().unwrap();
        rc.conn(id).shutdown_write().unwrap();
    }
    s.turn_until("half-closed", |_, log| log.of(id).contains(&Ev::HalfClose));
    s.reactor
        .ctx()
        .conn(id)
        .shutdown_write()
        .expect("shutdown after the half-close is a no-op");
    assert!(matches!(
        s.reactor.ctx().conn(id).send(b"x"),
        Err(Error::WriteClosed)
    ));
    let mut buf = [0u8; 1];
    assert_eq!(
        c.read_retrying(&mut buf).unwrap(),
        0,
        "the peer sees our FIN"
    );
    c.write_all(b"still reading").unwrap();
    drop(c);
    s.turn_until("closed", |_, log| log.closes().contains_key(&id));
    let evs = s.log.of(id);
    assert_eq!(evs.iter().filter(|e| **e == Ev::HalfClose).count(), 1);
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::PeerClosed)));
    s.finish();
}

/// Whether the peer sees a reset (not a clean FIN) on its next read.
fn peer_sees_reset(c: &mut std::net::TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match c.read_retrying(&mut buf) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) => return e.kind() == ErrorKind::ConnectionReset,
        }
    }
}

#[test]
fn linger_close_then_abort_resets_once() {
    let mut s = Inline::new(ListenOptions::default(), || Discard);
    // Both asked in one go: the abort wins, no linger callback.
    let (mut c1, a) = open_one(&mut s);
    {
        let mut rc = s.reactor.ctx();
        rc.conn(a).linger_close(Duration::from_secs(30)).unwrap();
        rc.conn(a).abort().unwrap();
    }
    // Abort first, then a linger request: the weaker request is ignored.
    let (mut c2, b) = open_one(&mut s);
    {
        let mut rc = s.reactor.ctx();
        rc.conn(b).abort().unwrap();
        rc.conn(b).linger_close(Duration::from_secs(30)).unwrap();
    }
    // Linger under way (our FIN sent, waiting for the peer's), then abort.
    let (mut c3, d) = open_one(&mut s);
    s.reactor
        .ctx()
        .conn(d)
        .linger_close(Duration::from_secs(30))
        .unwrap();
    s.turn_until("lingering", |r, _| {
        r.ctx().conn(d).conn_state() == Some(ConnState::Lingering)
    });
    s.reactor.ctx().conn(d).abort().unwrap();
    s.turn_until("all three closed", |_, log| log.closes().len() == 3);
    for id in [a, b, d] {
        let evs = s.log.of(id);
        assert_eq!(
            evs.last(),
            Some(&Ev::Close(CloseReason::Aborted)),
            "{evs:?}"
        );
        assert!(
            !evs.iter().any(|e| matches!(e, Ev::Linger(_))),
            "an aborted linger reported an outcome: {evs:?}"
        );
    }
    assert!(peer_sees_reset(&mut c1));
    assert!(peer_sees_reset(&mut c2));
    // c3 got our FIN first (the linger had started): reads end cleanly,
    // and the reset shows on its next write.
    assert!(!peer_sees_reset(&mut c3), "the linger's FIN came first");
    let write = c3.write_all(b"x").and_then(|_| c3.write_all(b"y"));
    assert!(
        matches!(
            write.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
        ),
        "the peer was not reset: {write:?}"
    );
    s.finish();
}

#[test]
fn ids_and_timers_of_another_reactor_reach_nothing() {
    let mut a = Inline::new(ListenOptions::default(), || Echo);
    let mut b = Inline::new(ListenOptions::default(), || Echo);
    let (mut ca, ia) = open_one(&mut a);
    let (mut cb, ib) = open_one(&mut b);
    let ta = a.reactor.ctx().schedule(Duration::from_secs(3600), |_| {});
    let fired = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = fired.clone();
    let tb = b
        .reactor
        .ctx()
        .schedule(Duration::from_millis(50), move |_| flag.set(true));
    assert_ne!(ia, ib, "two reactors handed out the same connection id");
    assert_ne!(ta, tb, "two reactors handed out the same timer id");
    {
        let mut rc = b.reactor.ctx();
        let mut foreign = rc.conn(ia);
        assert_no_such_conn("send", foreign.send(b"not for b"));
        assert_no_such_conn("close", foreign.close());
        assert_no_such_conn("abort", foreign.abort());
        assert!(!foreign.is_open());
        assert!(!rc.cancel_timer(ta), "a's timer id cancelled a timer of b");
    }
    b.turn_until("b's own timer fired", |_, _| fired.get());
    // Both connections are untouched.
    for (s, c) in [(&mut a, &mut ca), (&mut b, &mut cb)] {
        c.write_all(b"ping").unwrap();
        let reader = {
            let mut c = c.try_clone().unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4];
                c.read_exact(&mut buf).map(|_| buf)
            })
        };
        s.turn_until("echoed", |_, log| log.count(|e| *e == Ev::Read(4)) == 1);
        assert_eq!(&reader.join().unwrap().unwrap(), b"ping");
    }
    assert!(a.reactor.ctx().cancel_timer(ta));
    drop((ca, cb));
    a.finish();
    b.finish();
}

/// Sets the longest possible timers in `on_open`.
struct FarFuture;

impl Handler for FarFuture {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer(Duration::MAX);
        ctx.set_interval(Duration::MAX);
        ctx.reactor()
            .schedule(Duration::MAX, |_| panic!("a timer at Duration::MAX fired"));
        ctx.reactor()
            .schedule_repeating(Duration::MAX, |_| panic!("a timer at Duration::MAX fired"));
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        Echo.on_read(ctx, input);
    }
}

#[test]
fn extreme_durations_neither_panic_nor_fire_early() {
    let conn = ConnOptions::default()
        .idle_timeout(Duration::MAX)
        .write_stall_timeout(Duration::MAX);
    let mut s = Inline::new(ListenOptions::default().conn(conn), || FarFuture);
    let (mut c, id) = open_one(&mut s);
    s.reactor.ctx().conn(id).send(b"hi").unwrap();
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    let until = Instant::now() + Duration::from_millis(200);
    s.turn_until("200 ms passed", |_, _| Instant::now() >= until);
    assert_eq!(
        s.log.of(id),
        vec![Ev::Open],
        "something fired or closed early"
    );
    s.reactor
        .ctx()
        .conn(id)
        .linger_close(Duration::MAX)
        .unwrap();
    s.turn_until("lingering", |r, _| {
        r.ctx().conn(id).conn_state() == Some(ConnState::Lingering)
    });
    drop(c);
    s.turn_until("closed", |_, log| log.closes().contains_key(&id));
    assert_eq!(s.log.of(id).last(), Some(&Ev::Close(CloseReason::Lingered)));
    assert_eq!(s.reactor.metrics().panics, 0);
    s.reactor.shutdown(Duration::MAX);
    s.reactor.shutdown(Duration::MAX);
    s.turn();
    assert!(s.reactor.is_finished(), "shutdown with no connection left");
    s.finish();
}

#[test]
fn inconsistent_options_are_refused_with_an_error() {
    let mut reactor = Reactor::new().unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    for conn in [
        ConnOptions::default().max_send_queue(0),
        ConnOptions::default().max_input(0),
        ConnOptions::default().read_budget(0),
    ] {
        let err = reactor
            .listen(any, ListenOptions::default().conn(conn.clone()), || Discard)
            .expect_err("listen accepted a zero limit");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = reactor
            .connect(any, ConnectOptions::default().conn(conn), Discard)
            .expect_err("connect accepted a zero limit");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
    let marks = ConnOptions::default().water_marks(10, 100);
    assert!(marks.low_water <= marks.high_water);
    assert_eq!(reactor.conn_count(), 0);

    // Backoff's fields are public: nonsense values give a delay, not a panic.
    let with = |start: Duration, max: Duration, jitter: f64| {
        let mut b = Backoff::new(start, max);
        b.jitter = jitter;
        b
    };
    let wild = [
        with(Duration::MAX, Duration::MAX, f64::NAN),
        with(Duration::from_secs(1), Duration::MAX, 5.0),
        with(Duration::from_secs(1), Duration::from_secs(2), -3.0),
    ];
    for b in wild {
        for attempt in [0, 1, 40, u32::MAX] {
            for random in [0.0, 0.5, 0.999, f64::NAN, 7.0] {
                let d = b.delay(attempt, random);
                assert!(d <= b.max, "{b:?}: delay {d:?} above max");
            }
        }
    }
}

#[test]
fn a_message_over_the_cap_is_refused_whole() {
    let opts = ListenOptions::default().conn(ConnOptions::default().max_send_queue(1024));
    let mut s = Inline::new(opts, || Echo);
    let (mut c, id) = open_one(&mut s);
    {
        let mut rc = s.reactor.ctx();
        let mut conn = rc.conn(id);
        let refused = conn.send(&[7u8; 2048]);
        assert!(
            matches!(
                refused,
                Err(Error::QueueFull {
                    queued: 0,
                    len: 2048,
                    cap: 1024
                })
            ),
            "{refused:?}"
        );
        conn.send(b"").expect("an empty send is fine");
        conn.send(b"ok").unwrap();
    }
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok", "nothing of the refused message went out");
    drop(c);
    s.finish();
}

#[test]
fn a_stopped_reactor_refuses_posts_and_stops_idempotently() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    reactor.stop();
    reactor.stop();
    reactor.turn(Some(Duration::ZERO)).unwrap();
    assert!(reactor.is_finished());
    assert!(handle.is_stopped());
    assert!(matches!(handle.post(|_| {}), Err(Error::Stopped)));
    assert!(matches!(handle.stop(), Err(Error::Stopped)));
    reactor.shutdown(Duration::from_secs(1));
    reactor
        .run()
        .expect("run on a stopped reactor returns at once");
    drop(reactor);
    assert!(matches!(handle.post(|_| {}), Err(Error::Stopped)));
}

/// Meddles with its own connection from every late callback.
struct Meddler;

impl Handler for Meddler {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.resume_read(); // without a pause: a no-op
        ctx.pause_read();
        ctx.pause_read();
        ctx.resume_read();
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        Echo.on_read(ctx, input);
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_>, _reason: CloseReason) {
        assert!(ctx.send(b"after close").is_err());
        assert!(ctx.send_bytes(Bytes::from_static(b"after")).is_err());
        ctx.close();
        ctx.shutdown_write();
        ctx.linger_close(Duration::from_secs(1));
        ctx.abort();
        ctx.pause_read();
        ctx.resume_read();
        ctx.set_water_marks(1, 2);
        assert_eq!(ctx.queued(), 0);
        assert_eq!(ctx.conn_state(), ConnState::Closed);
        ctx.set_timer(Duration::ZERO);
        ctx.set_interval(Duration::ZERO);
        let me = ctx.id();
        assert!(!ctx.reactor().conn_ids().any(|id| id == me));
    }
}

#[test]
fn a_handler_meddling_with_its_closed_connection_changes_nothing() {
    let mut s = Inline::new(ListenOptions::default(), || Meddler);
    let (mut c, id) = open_one(&mut s);
    c.write_all(b"echo").unwrap();
    let mut buf = [0u8; 4];
    let reader = {
        let mut c = c.try_clone().unwrap();
        std::thread::spawn(move || c.read_exact(&mut buf).map(|_| buf))
    };
    s.turn_until("echoed", |_, log| log.count(|e| *e == Ev::Read(4)) == 1);
    assert_eq!(&reader.join().unwrap().unwrap(), b"echo");
    drop(c);
    s.turn_until("closed", |_, log| log.closes().contains_key(&id));
    // Timers set from on_close never reach the handler and do not linger.
    let until = Instant::now() + Duration::from_millis(50);
    s.turn_until("timers due", |_, _| Instant::now() >= until);
    let m = s.reactor.metrics();
    assert_eq!(m.panics, 0, "a callback panicked");
    assert_eq!(m.timers_pending, 0, "timers of a closed connection remain");
    assert_eq!(
        s.log.of(id).last(),
        Some(&Ev::Close(CloseReason::PeerClosed))
    );
    s.finish();
}
