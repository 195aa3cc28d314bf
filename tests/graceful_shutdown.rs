//! Graceful shutdown: listeners close at once, handlers get on_shutdown; a
//! slow reader with 8 MiB queued gets every byte if it reads before the
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
