//! The write-stall timeout: queued bytes that do not move for the timeout
//! abort the connection with `WriteStall` (RST); a slow reader whose bytes
//! keep moving is not a stall, even when the kernel announces the room it
//! made only much later (EPOLLOUT waits for a third of the buffer); a
//! handler can keep the connection (`Verdict::Keep`).

mod common;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions, Verdict};
use socket2::{Domain, Socket, Type};

const STALL: Duration = Duration::from_millis(800);
const PAYLOAD: usize = 8 << 20;

/// Sends `PAYLOAD` bytes on open (most of it queues), then closes.
struct Flood {
    keeps: u32,
}

impl Handler for Flood {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.send(&pattern(PAYLOAD)).unwrap();
        ctx.close();
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_write_stall(&mut self, _ctx: &mut Ctx<'_>) -> Verdict {
        if self.keeps > 0 {
            self.keeps -= 1;
            Verdict::Keep
        } else {
            Verdict::Close
        }
    }
}

fn stall_opts() -> ListenOptions {
    ListenOptions::default().conn(
        ConnOptions::default()
            .write_stall_timeout(STALL)
            .max_send_queue(PAYLOAD)
            // A big kernel send buffer: its EPOLLOUT comes late.
            .send_buffer(1 << 20),
    )
}

/// A client with a small receive buffer (set before connecting, so the
/// window stays small).
fn small_window_client(addr: SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(32 << 10).unwrap();
    s.connect(&addr.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Reads until the stream ends; returns the byte count and how it ended.
fn drain(s: &mut TcpStream) -> (usize, io::Result<()>) {
    let (bytes, end) = read_to_end(s);
    (bytes.len(), end)
}

#[test]
fn a_reader_that_stops_is_a_stall_and_a_slow_one_is_not() {
    let server = serve(stall_opts(), || Flood { keeps: 0 });
    let mut client = small_window_client(server.addr);
    // Slow but steady: 4 KiB every 50 ms for four stall periods. The bytes
    // move, but far too slowly for the kernel to free a third of its 2 MiB
    // send buffer (and so send EPOLLOUT) within one stall period.
    let slow_until = Instant::now() + STALL * 4;
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    while Instant::now() < slow_until {
        got += client.read(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(got > 0);
    assert!(
        server.log.closes().is_empty(),
        "a slow reader was taken for a stall: {:?}",
        server.log.events()
    );
    // Stop reading: the queue stops moving and the connection is aborted.
    let stopped = Instant::now();
    server.wait_log("the stalled connection closed", |log| {
        !log.closes().is_empty()
    });
    let waited = stopped.elapsed();
    let id = server.log.conns()[0];
    let evs = server.log.of(id);
    assert_eq!(
        &evs[evs.len() - 2..],
        [Ev::WriteStall, Ev::Close(CloseReason::WriteStall)]
    );
    assert!(
        waited >= STALL - Duration::from_millis(100),
        "aborted {waited:?} after the reader stopped"
    );
    // The peer sees a reset, not a clean end, and not all the bytes.
    let (rest, end) = drain(&mut client);
    assert!(got + rest < PAYLOAD);
    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
    server.finish();
}

#[test]
fn keep_gives_the_reader_another_period() {
    let server = serve(stall_opts(), || Flood { keeps: 2 });
    let _client = small_window_client(server.addr);
    let started = Instant::now();
    server.wait_log("the stalled connection closed", |log| {
        !log.closes().is_empty()
    });
    let elapsed = started.elapsed();
    let id = server.log.conns()[0];
    let stalls = server
        .log
        .of(id)
        .iter()
        .filter(|e| **e == Ev::WriteStall)
        .count();
    assert_eq!(stalls, 3);
    assert!(
        elapsed >= STALL * 3,
        "three stall periods, took {elapsed:?}"
    );
    server.finish();
}
