//! The write-stall timeout: queued bytes that do not move for the timeout
//! abort the connection with `WriteStall` (RST); a slow reader whose bytes
//! keep moving is not a stall, even when the kernel announces the room it
//! made only much later (EPOLLOUT waits for a third of the buffer); a
//! handler can keep the connection (`Verdict::Keep`).

mod common;

use std::io::{self};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::BytesMut;
use netloop::{
    CloseReason, ConnId, ConnOptions, Ctx, Handler, ListenOptions, ReactorHandle, Verdict,
};
use socket2::{Domain, Socket, Type};

const STALL: Duration = Duration::from_millis(800);
const PAYLOAD: usize = 8 << 20;
/// How fast the slow reader reads: 128 KiB per stall period, far from the
/// third of the server's 2 MiB send buffer that would bring EPOLLOUT, yet
/// enough to open the window a few times per period.
const SLOW_RATE: f64 = (160 << 10) as f64;
/// How much earlier than the moment the test saw the last move of the
/// queue the reactor may have stamped it (its clock is read when the poll
/// returns, in whole milliseconds).
const SLACK: Duration = Duration::from_millis(20);

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

/// The last move of a connection's queue into the kernel, watched by
/// polling its `bytes_out`: the move happened after `before`, the start of
/// the last poll that still saw the older count.
struct LastMove {
    id: ConnId,
    bytes_out: u64,
    before: Instant,
    polled: Instant,
}

impl LastMove {
    fn new(handle: &ReactorHandle, id: ConnId) -> LastMove {
        let polled = Instant::now();
        let bytes_out = handle.conn_stats(id).expect("open").bytes_out;
        LastMove {
            id,
            bytes_out,
            before: polled,
            polled,
        }
    }

    /// Polls once; false once the connection is gone.
    fn poll(&mut self, handle: &ReactorHandle) -> bool {
        let at = Instant::now();
        let Ok(stats) = handle.conn_stats(self.id) else {
            return false;
        };
        if stats.bytes_out != self.bytes_out {
            self.bytes_out = stats.bytes_out;
            self.before = self.polled;
        }
        self.polled = at;
        true
    }
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
    // Slow but steady, `SLOW_RATE` for four stall periods. The bytes move,
    // but far too slowly for the kernel to free a third of its 2 MiB send
    // buffer (and so send EPOLLOUT) within one stall period. The reader
    // keeps to a schedule rather than sleeping a fixed time per read: after
    // a late wake-up on a loaded machine it catches up. It starts at once
    // (the server's stall clock starts when it accepts); the connection's
    // queue is watched as soon as the server has logged it.
    let slow_from = Instant::now();
    let slow_until = slow_from + STALL * 4;
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    let mut watched: Option<LastMove> = None;
    while Instant::now() < slow_until {
        let due = (slow_from.elapsed().as_secs_f64() * SLOW_RATE) as usize;
        if got < due {
            let want = (due - got).min(buf.len());
            got += client.read_retrying(&mut buf[..want]).unwrap();
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
        let Some(last_move) = watched.as_mut() else {
            if let Some(&id) = server.log.conns().first() {
                watched = Some(LastMove::new(&server.handle, id));
            }
            continue;
        };
        assert!(
            last_move.poll(&server.handle),
            "a slow reader was taken for a stall {:?} into reading: {:?}",
            slow_from.elapsed(),
            server.log.events()
        );
    }
    assert!(got > 0);
    let mut last_move = watched.expect("watched while read from");
    let id = last_move.id;
    assert!(
        server.log.closes().is_empty(),
        "a slow reader was taken for a stall: {:?}",
        server.log.events()
    );
    // Stop reading: the queue stops moving and the connection is aborted,
    // a full stall period after the queue last moved.
    wait_until("the stalled connection closed", || {
        !last_move.poll(&server.handle)
    });
    let waited = last_move.before.elapsed();
    let evs = server.log.of(id);
    assert_eq!(
        &evs[evs.len() - 2..],
        [Ev::WriteStall, Ev::Close(CloseReason::WriteStall)]
    );
    assert!(
        waited >= STALL - SLACK,
        "aborted within {waited:?} of the queue's last move"
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
    // Before connecting: the stall clock starts when the server accepts.
    let started = Instant::now();
    let _client = small_window_client(server.addr);
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
