//! Storms of peer resets — mid-transfer, before accept, and while the server
//! is writing — give every connection exactly one on_close (Reset), never an
//! on_eof, and leak nothing: afterwards the process holds the descriptors it
//! held before, and the reactor no connection or timer.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;

use common::inline::Inline;
use common::procfs::open_fds;
use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions, MetricsSnapshot};

/// Descriptor counts are per process: run these tests one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const THREADS: usize = 4;
const PER_THREAD: usize = 125;
const STORM: usize = THREADS * PER_THREAD;

/// A cheap deterministic size in `1..=max` for client `i`.
fn size_for(i: usize, max: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) % max) + 1
}

/// Runs `client(i)` for STORM clients on THREADS threads.
fn storm(addr: SocketAddr, client: fn(SocketAddr, usize)) {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                for k in 0..PER_THREAD {
                    client(addr, t * PER_THREAD + k);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Every connection the log saw ended in one Reset and never saw EOF.
fn assert_all_reset(log: &Log) {
    for id in log.conns() {
        let evs = log.of(id);
        assert!(
            !evs.contains(&Ev::Eof),
            "{id:?}: on_eof after a reset: {evs:?}"
        );
        assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::Reset)), "{evs:?}");
    }
    log.assert_one_close_each();
}

fn assert_nothing_leaked(fds_before: usize, metrics: &MetricsSnapshot) {
    assert_eq!(metrics.open, 0);
    assert_eq!(metrics.timers_pending, 0, "timers left behind");
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
}

/// Writes part of a payload without waiting for the server, then resets.
fn send_some_then_reset(addr: SocketAddr, i: usize) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nonblocking(true).unwrap();
    let data = pattern(size_for(i, 256 << 10));
    match c.write(&data) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(e) => panic!("client write: {e}"),
    }
    reset(c);
}

#[test]
fn resets_mid_transfer() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let fds_before = open_fds();
    let server = serve(ListenOptions::default(), || Echo);
    storm(server.addr, send_some_then_reset);
    let handle = server.handle.clone();
    wait_until("every reset connection closed", || {
        let m = handle.metrics();
        m.accepted + m.accept_errors >= STORM as u64 && m.open == 0
    });
    // A handle keeps the reactor's waker (an eventfd) open until dropped.
    drop(handle);
    assert_all_reset(&server.log);
    let log = server.log.clone();
    let metrics = server.finish();
    assert_eq!(metrics.closed_with(CloseReason::Reset), metrics.accepted);
    assert_eq!(log.conns().len() as u64, metrics.accepted);
    assert_nothing_leaked(fds_before, &metrics);
}

#[test]
fn resets_before_accept() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let fds_before = open_fds();
    let mut s = Inline::new(ListenOptions::default(), || Echo);
    // The reactor does not turn: every connection is reset while it waits
    // in the kernel's accept queue, half of them with data sent first.
    // Linux still hands such connections to accept() (the reset shows on
    // the first read); a kernel that fails the accept with ECONNABORTED
    // instead makes the listener skip it (counted in accept_errors).
    for i in 0..STORM {
        let mut c = TcpStream::connect(s.addr).unwrap();
        if i % 2 == 0 {
            c.write_all(&pattern(size_for(i, 16 << 10))).unwrap();
        }
        reset(c);
    }
    s.turn_until("the accept queue is drained", |r, _| {
        let m = r.metrics();
        m.accepted + m.accept_errors >= STORM as u64 && r.conn_count() == 0
    });
    let m = s.reactor.metrics();
    println!(
        "reset before accept: {} accepted then closed as Reset, {} skipped by accept ({} total)",
        m.accepted, m.accept_errors, STORM
    );
    assert_all_reset(&s.log);
    // The listener still serves.
    let mut c = s.client();
    c.write_all(b"still here").unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 10];
        c.read_exact(&mut buf).map(|_| buf)
    });
    s.turn_until("echoed", |_, log| log.count(|e| *e == Ev::Read(10)) == 1);
    assert_eq!(&reader.join().unwrap().unwrap(), b"still here");
    s.turn_until("the client closed", |r, _| r.conn_count() == 0);
    let metrics = s.reactor.metrics();
    s.finish();
    assert_nothing_leaked(fds_before, &metrics);
}

/// Streams bytes without end: fills the queue to high water, refills on drain.
struct Firehose;

impl Firehose {
    fn fill(ctx: &mut Ctx<'_>) {
        let chunk = [0x5au8; 64 << 10];
        while ctx.queued() < 256 << 10 {
            if ctx.send(&chunk).is_err() {
                return;
            }
        }
    }
}

impl Handler for Firehose {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        Firehose::fill(ctx);
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_drain(&mut self, ctx: &mut Ctx<'_>) {
        Firehose::fill(ctx);
    }
}

/// Reads part of the stream, then resets while the server is writing.
fn read_some_then_reset(addr: SocketAddr, i: usize) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut want = size_for(i, 512 << 10);
    let mut buf = vec![0u8; 64 << 10];
    while want > 0 {
        let n = c
            .read_retrying(&mut buf[..want.min(64 << 10)])
            .expect("read");
        assert!(n > 0, "the server closed the stream");
        want -= n;
    }
    reset(c);
}

#[test]
fn resets_while_the_server_writes() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let fds_before = open_fds();
    let conn = ConnOptions::default().water_marks(256 << 10, 64 << 10);
    let server = serve(ListenOptions::default().conn(conn), || Firehose);
    storm(server.addr, read_some_then_reset);
    let handle = server.handle.clone();
    wait_until("every connection closed", || {
        let m = handle.metrics();
        m.accepted == STORM as u64 && m.open == 0
    });
    drop(handle);
    assert_all_reset(&server.log);
    let metrics = server.finish();
    assert_eq!(metrics.closed_with(CloseReason::Reset), STORM as u64);
    assert!(metrics.bytes_out > 0);
    assert_nothing_leaked(fds_before, &metrics);
}

/// Linux's TCP_CLOSE state number (`tcp_states.h`).
const TCP_CLOSE: u8 = 7;

#[test]
fn a_reset_met_by_our_shutdown_is_reported_as_a_reset() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut s = Inline::new(ListenOptions::default(), || Echo);
    // The peers reset while our shutdown_write / linger_close is asked but
    // not yet applied: shutdown(SHUT_WR) then fails with ENOTCONN, and the
    // reason must still be the reset.
    let peers: Vec<TcpStream> = (0..2).map(|_| s.client()).collect();
    s.turn_until("both open", |r, _| r.conn_count() == 2);
    let ids = s.log.conns();
    s.reactor.ctx().conn(ids[0]).shutdown_write().unwrap();
    s.reactor
        .ctx()
        .conn(ids[1])
        .linger_close(std::time::Duration::from_secs(5))
        .unwrap();
    for p in peers {
        reset(p);
    }
    wait_until("the resets arrived", || {
        ids.iter().all(|&id| {
            s.reactor
                .ctx()
                .conn(id)
                .tcp_info()
                .is_ok_and(|i| i.state == TCP_CLOSE)
        })
    });
    s.turn_until("both closed", |_, log| log.closes().len() == 2);
    assert_all_reset(&s.log);
    s.finish();
}
