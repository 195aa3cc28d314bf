//! Graceful shutdown: listeners close at once (connections the kernel had
//! already queued on a listener of our own are accepted first and served,
//! not reset; a shared listener's queue is left to its other holder),
//! handlers get on_shutdown (an outbound connect still in flight gets it
//! after on_open); a slow reader with 8 MiB queued gets every byte if it reads before the
//! deadline, one that never reads is aborted at the deadline, and run()
//! returns a summary of what was served.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::{Bytes, BytesMut};
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions};

const PAYLOAD: usize = 8 << 20;

/// Answers `go` with PAYLOAD bytes (queued without copy); does nothing on
/// shutdown unless told to close then.
struct Bulk {
    payload: Bytes,
    close_on_shutdown: bool,
}

impl Handler for Bulk {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.as_ref() == b"go" {
            input.clear();
            ctx.send_bytes(self.payload.clone()).expect("queued");
        }
    }
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_>) {
        if self.close_on_shutdown {
            ctx.close();
        }
    }
}

/// Small buffers on both sides so nearly all of PAYLOAD waits in the
/// reactor's queue, not in the kernel.
fn options() -> ListenOptions {
    ListenOptions::default().conn(ConnOptions::default().send_buffer(16 << 10))
}

/// A client with a small receive window (set before connecting).
fn slow_client(addr: std::net::SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(16 << 10).unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

fn serve_bulk(close_on_shutdown: bool) -> Server {
    let payload = Bytes::from(pattern(PAYLOAD));
    serve(options(), move || Bulk {
        payload: payload.clone(),
        close_on_shutdown,
    })
}

/// Starts a client that asks for the payload; returns once the reactor has
/// most of it queued (past the default 1 MiB high water mark).
fn request(server: &Server) -> (TcpStream, netloop::ConnId) {
    let before = server.log.conns().len();
    let mut c = slow_client(server.addr);
    c.write_all(b"go").unwrap();
    server.wait_log("the payload is queued", |log| {
        log.conns()
            .get(before)
            .is_some_and(|&id| log.of(id).iter().any(|e| matches!(e, Ev::High(_))))
    });
    (c, server.log.conns()[before])
}

#[test]
fn a_reader_gets_everything_and_a_non_reader_is_aborted_at_the_deadline() {
    const GRACE: Duration = Duration::from_secs(4);
    let server = serve_bulk(false);
    let (mut reader, reader_id) = request(&server);
    let (mut sleeper, sleeper_id) = request(&server);

    let began = Instant::now();
    server.handle.shutdown(GRACE).unwrap();
    server.wait_log("both handlers got on_shutdown", |log| {
        log.of(reader_id).contains(&Ev::Shutdown) && log.of(sleeper_id).contains(&Ev::Shutdown)
    });
    // Listeners closed at once: new clients are refused by the kernel.
    let refused = TcpStream::connect(server.addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    // The reader reads before the deadline: every byte, then a clean FIN
    // (at the deadline its connection is idle, so it is closed, not reset).
    let (got, end) = read_to_end(&mut reader);
    assert_eq!(got.len(), PAYLOAD, "bytes the reader received");
    assert!(
        got == pattern(PAYLOAD),
        "received bytes differ from those sent"
    );
    assert!(end.is_ok(), "the reader's connection ended with {end:?}");

    // The one that never reads is aborted at the deadline, not before.
    server.wait_log("the sleeper is closed", |log| {
        log.of(sleeper_id)
            .contains(&Ev::Close(CloseReason::Shutdown))
    });
    let waited = began.elapsed();
    assert!(
        waited + Duration::from_millis(50) >= GRACE,
        "closed after {waited:?}, before the {GRACE:?} deadline"
    );
    let (got, end) = read_to_end(&mut sleeper);
    assert!(got.len() < PAYLOAD, "the sleeper cannot have it all");
    assert_eq!(
        end.expect_err("aborted").kind(),
        std::io::ErrorKind::ConnectionReset
    );

    // run() returned on its own (shutdown done) with the summary.
    let summary = server.finish();
    assert_eq!(summary.accepted, 2);
    assert_eq!(summary.closed_with(CloseReason::Shutdown), 2);
    assert_eq!(summary.closed_total(), 2);
    assert_eq!(summary.bytes_in, 4, "two requests");
    assert!(summary.bytes_out >= PAYLOAD as u64);
    assert!(summary.bytes_out < 2 * PAYLOAD as u64);
}

#[test]
fn handlers_that_finish_early_end_the_loop_before_the_deadline() {
    // A deadline the test would time out waiting for: the loop must end as
    // soon as the last connection is gone.
    const GRACE: Duration = Duration::from_secs(600);
    let server = serve_bulk(true);
    let (mut reader, reader_id) = request(&server);
    server.handle.shutdown(GRACE).unwrap();

    let (got, end) = read_to_end(&mut reader);
    assert_eq!(got.len(), PAYLOAD);
    assert!(end.is_ok(), "{end:?}");
    drop(reader); // our FIN ends its lingering close
    server.wait_log("closed by its handler", |log| {
        log.of(reader_id)
            .ends_with(&[Ev::Close(CloseReason::Local)])
    });
    wait_until("the reactor ends by itself", || server.handle.is_stopped());
    let summary = server.finish();
    assert_eq!(summary.accepted, 1);
    assert_eq!(summary.closed_with(CloseReason::Local), 1);
    assert_eq!(summary.bytes_out, PAYLOAD as u64);
    assert_eq!(summary.open, 0);
}

/// Says `bye` on shutdown, then closes; ignores input.
struct Farewell;

impl Handler for Farewell {
    fn on_read(&mut self, _: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_>) {
        ctx.send(b"bye").expect("queued");
        ctx.close();
    }
}

#[test]
fn connections_queued_in_the_kernel_when_shutdown_begins_are_served_not_reset() {
    const QUEUED: usize = 5;
    let common::inline::Inline {
        mut reactor,
        addr,
        log,
    } = common::inline::Inline::new(ListenOptions::default(), || Farewell);
    // Completed by the kernel, not yet accepted: the loop has not run.
    let clients: Vec<TcpStream> = (0..QUEUED).map(|_| client(addr)).collect();
    reactor.shutdown(Duration::from_secs(60));
    // Each client reads to the end, then closes (which ends our linger).
    let readers = std::thread::spawn(move || {
        clients
            .into_iter()
            .map(|mut c| read_to_end(&mut c))
            .collect::<Vec<_>>()
    });
    let summary = reactor.run().unwrap();
    for (got, end) in readers.join().unwrap() {
        assert!(
            end.is_ok(),
            "a queued client's connection ended with {end:?}"
        );
        assert_eq!(got, b"bye", "what a queued client received");
    }
    assert_eq!(
        TcpStream::connect(addr).unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    assert_eq!(summary.accepted, QUEUED as u64);
    log.assert_one_close_each();
    for id in log.conns() {
        assert_eq!(
            log.of(id),
            [Ev::Open, Ev::Shutdown, Ev::Close(CloseReason::Local)]
        );
    }
}

#[test]
fn a_shared_listener_leaves_its_queue_to_the_other_holder() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let mut reactor = netloop::Reactor::new().unwrap();
    reactor
        .adopt_listener(held.try_clone().unwrap(), ListenOptions::default(), || {
            Farewell
        })
        .unwrap();
    let mut waiting = client(addr);
    reactor.shutdown(Duration::from_secs(60));
    let summary = reactor.run().unwrap();
    assert_eq!(summary.accepted, 0, "the reactor took a queued connection");
    // The other holder of the socket still has the connection, alive.
    let (mut taken, _) = held.accept().unwrap();
    taken.write_all(b"still here").unwrap();
    let mut got = [0u8; 10];
    std::io::Read::read_exact(&mut waiting, &mut got).unwrap();
    assert_eq!(&got, b"still here");
}

/// A reactor that starts connecting to `addr` with a recorded `Farewell`
/// and begins a graceful shutdown before its loop has turned, so the
/// connect is still in flight when the shutdown begins.
fn connect_then_shut_down(addr: std::net::SocketAddr) -> (netloop::Reactor, netloop::ConnId, Log) {
    let log = Log::default();
    let mut reactor = netloop::Reactor::new().unwrap();
    let id = reactor
        .connect(
            addr,
            netloop::ConnectOptions::default(),
            Recorder::new(Farewell, log.clone()),
        )
        .unwrap();
    reactor.shutdown(Duration::from_secs(60));
    (reactor, id, log)
}

#[test]
fn an_outbound_connect_under_way_at_shutdown_gets_on_open_before_on_shutdown() {
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut reactor, id, log) = connect_then_shut_down(peer.local_addr().unwrap());
    let reader = std::thread::spawn(move || {
        let (mut taken, _) = peer.accept().unwrap();
        read_to_end(&mut taken)
    });
    reactor.run().unwrap();
    let (got, end) = reader.join().unwrap();
    assert!(end.is_ok(), "the peer's connection ended with {end:?}");
    assert_eq!(got, b"bye", "what the peer received");
    assert_eq!(
        log.of(id),
        [Ev::Open, Ev::Shutdown, Ev::Close(CloseReason::Local)]
    );
}

#[test]
fn an_outbound_connect_that_fails_during_shutdown_closes_without_on_shutdown() {
    // A port nobody listens on: the connect is refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (mut reactor, id, log) = connect_then_shut_down(addr);
    reactor.run().unwrap();
    let refused = netloop::ConnectErrorKind::Refused;
    assert_eq!(
        log.of(id),
        [
            Ev::ConnectError(refused),
            Ev::Close(CloseReason::ConnectFailed(refused))
        ]
    );
}
