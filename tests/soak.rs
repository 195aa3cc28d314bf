//! Soak: mixed clients — echo, half-close, slow reader, linger, abort, RST,
//! idle — against one reactor for a bounded time (2 minutes by default;
//! NETLOOP_SOAK_SECS sets another length). Every byte echoed arrives
//! intact; every connection gets exactly one on_close, with the reason its
//! client's behaviour calls for; and at the end the process holds the
//! descriptors it held at the start, its live heap is back near the start
//! (counted by this binary's allocator) and so is its resident memory.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::procfs::{open_fds, rss_bytes};
use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{
    CloseReason, ConnOptions, Ctx, Handler, ListenOptions, MetricsSnapshot, Reactor, ReactorHandle,
};

/// Counts the bytes this process has allocated and not freed.
struct Counting;

static LIVE_HEAP: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged, and only adds bookkeeping on an atomic counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds alloc's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_HEAP.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; `ptr` came from this allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_HEAP.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const DEFAULT_SECS: u64 = 120;
const WORKERS: usize = 6;
/// Generous: a busy client whose thread is not scheduled for this long on a
/// loaded machine would be closed as idle.
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// What the reactor may keep after its connections are gone: pooled input
/// buffers (at most 64 x 64 KiB), the read scratch buffer, the slab's and
/// timer heap's capacity. A leak of ~150 bytes per connection over the
/// default soak's ~40,000 connections would exceed it (a longer soak
/// catches smaller leaks; the per-connection figure is printed).
const HEAP_SLACK: isize = 5 << 20;
/// Resident memory may stay above the start by the allocator's retained
/// free memory; reported, and bounded loosely.
const RSS_SLACK: usize = 64 << 20;

/// What the server's handlers saw, across all connections.
#[derive(Default)]
struct Seen {
    opened: AtomicU64,
    closed: AtomicU64,
    /// on_close called twice for one connection.
    double_closes: AtomicU64,
    /// Any callback after on_close.
    late_callbacks: AtomicU64,
}

/// Echo, except a connection whose first bytes are "ABORT" is aborted and
/// one whose first bytes are "LINGER" gets "bye\n" and a lingering close.
struct Mixed {
    seen: Arc<Seen>,
    started: bool,
    closed: bool,
}

impl Mixed {
    fn check_alive(&self) {
        if self.closed {
            self.seen.late_callbacks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Handler for Mixed {
    fn on_open(&mut self, _ctx: &mut Ctx<'_>) {
        self.seen.opened.fetch_add(1, Ordering::Relaxed);
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.check_alive();
        if !std::mem::replace(&mut self.started, true) {
            if input.starts_with(b"ABORT") {
                input.clear();
                return ctx.abort();
            }
            if input.starts_with(b"LINGER") {
                input.clear();
                let _ = ctx.send(b"bye\n");
                return ctx.linger_close(Duration::from_secs(10));
            }
        }
        Echo.on_read(ctx, input);
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        self.check_alive();
        ctx.close();
    }
    fn on_high_water(&mut self, ctx: &mut Ctx<'_>, queued: usize) {
        self.check_alive();
        Echo.on_high_water(ctx, queued);
    }
    fn on_drain(&mut self, ctx: &mut Ctx<'_>) {
        self.check_alive();
        Echo.on_drain(ctx);
    }
    fn on_close(&mut self, _ctx: &mut Ctx<'_>, _reason: CloseReason) {
        if std::mem::replace(&mut self.closed, true) {
            self.seen.double_closes.fetch_add(1, Ordering::Relaxed);
        }
        self.seen.closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The client behaviours, and what each must end in on the server.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Echo,
    HalfClose,
    SlowReader,
    Linger,
    Abort,
    Rst,
}

const KINDS: [Kind; 6] = [
    Kind::Echo,
    Kind::HalfClose,
    Kind::SlowReader,
    Kind::Linger,
    Kind::Abort,
    Kind::Rst,
];

/// Clients run, by kind (KINDS order), plus idle ones.
#[derive(Default)]
struct Ran {
    by_kind: [AtomicU64; 6],
    idle: AtomicU64,
    bytes_checked: AtomicU64,
}

/// A small xorshift generator: deterministic sizes without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn echo(addr: SocketAddr, data: &[u8]) {
    let mut c = client(addr);
    c.write_all(data).unwrap();
    let mut back = vec![0u8; data.len()];
    c.read_exact(&mut back).unwrap();
    assert!(back == data, "echo altered {} bytes", data.len());
}

/// Sends, shuts the write side, reads the echo to the end (at `pace`
/// between 16 KiB reads, for a slow reader).
fn half_close(addr: SocketAddr, data: &[u8], pace: Option<Duration>) {
    let mut c = client(addr);
    let writer = write_in_background(&c, data.to_vec(), true);
    let mut back = Vec::with_capacity(data.len());
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = c.read_retrying(&mut buf).expect("read the echo");
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
        if let Some(p) = pace {
            std::thread::sleep(p);
        }
    }
    writer.join().unwrap();
    assert!(
        back == data,
        "got {} of {} bytes, or altered",
        back.len(),
        data.len()
    );
}

fn linger(addr: SocketAddr) {
    let mut c = client(addr);
    c.write_all(b"LINGER and some bytes the linger discards")
        .unwrap();
    let (got, end) = read_to_end(&mut c);
    end.unwrap();
    assert_eq!(got, b"bye\n");
}

fn abort(addr: SocketAddr) {
    let mut c = client(addr);
    c.write_all(b"ABORT").unwrap();
    let (_, end) = read_to_end(&mut c);
    assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
}

fn rst(addr: SocketAddr, data: &[u8]) {
    let mut c = client(addr);
    c.write_all(data).unwrap();
    reset(c);
}

/// One worker: runs the kinds in turn with random sizes until `stop`.
fn worker(addr: SocketAddr, seed: u64, stop: Arc<AtomicBool>, ran: Arc<Ran>) {
    let mut rng = Rng(seed);
    let data = pattern(2 << 20);
    let mut k = seed as usize;
    while !stop.load(Ordering::Relaxed) {
        let kind = KINDS[k % KINDS.len()];
        k += 1;
        let bytes = match kind {
            Kind::Echo => 1 + rng.below(256 << 10),
            Kind::HalfClose => 1 + rng.below(1 << 20),
            Kind::SlowReader => (1 << 20) + rng.below(1 << 20),
            _ => 1 + rng.below(64 << 10),
        };
        match kind {
            Kind::Echo => echo(addr, &data[..bytes]),
            Kind::HalfClose => half_close(addr, &data[..bytes], None),
            Kind::SlowReader => half_close(addr, &data[..bytes], Some(Duration::from_millis(1))),
            Kind::Linger => linger(addr),
            Kind::Abort => abort(addr),
            Kind::Rst => rst(addr, &data[..bytes]),
        }
        if matches!(kind, Kind::Echo | Kind::HalfClose | Kind::SlowReader) {
            ran.bytes_checked.fetch_add(bytes as u64, Ordering::Relaxed);
        }
        ran.by_kind[k.wrapping_sub(1) % KINDS.len()].fetch_add(1, Ordering::Relaxed);
    }
}

/// Opens batches of clients that send nothing; the idle timeout closes them.
fn idler(addr: SocketAddr, stop: Arc<AtomicBool>, ran: Arc<Ran>) {
    while !stop.load(Ordering::Relaxed) {
        let batch: Vec<TcpStream> = (0..16).map(|_| client(addr)).collect();
        for mut c in batch {
            let (got, end) = read_to_end(&mut c);
            end.expect("a clean close at the idle timeout");
            assert!(got.is_empty());
            ran.idle.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The reactor on its own thread, without the test harness's recorder
/// (whose log would grow for the whole soak).
fn start_server(
    seen: Arc<Seen>,
) -> (
    SocketAddr,
    ReactorHandle,
    std::thread::JoinHandle<MetricsSnapshot>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let conn = ConnOptions::default()
            .water_marks(64 << 10, 16 << 10)
            .idle_timeout(IDLE_TIMEOUT);
        let mut reactor = Reactor::new().unwrap();
        let l = reactor
            .listen(
                "127.0.0.1:0".parse().unwrap(),
                ListenOptions::default().conn(conn),
                move || Mixed {
                    seen: seen.clone(),
                    started: false,
                    closed: false,
                },
            )
            .unwrap();
        tx.send((reactor.listener_addr(l).unwrap(), reactor.handle()))
            .unwrap();
        reactor.run().unwrap()
    });
    let (addr, handle) = rx.recv().unwrap();
    (addr, handle, thread)
}

#[test]
fn mixed_clients_for_minutes_leak_nothing_and_close_once_each() {
    let secs = std::env::var("NETLOOP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    let seen = Arc::new(Seen::default());
    let (addr, handle, server) = start_server(seen.clone());
    let (fds_start, heap_start, rss_start) =
        (open_fds(), LIVE_HEAP.load(Ordering::Relaxed), rss_bytes());

    let stop = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(Ran::default());
    let mut threads: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (stop, ran) = (stop.clone(), ran.clone());
            std::thread::spawn(move || worker(addr, 0x9e37_79b9 * (i as u64 + 1), stop, ran))
        })
        .collect();
    threads.push({
        let (stop, ran) = (stop.clone(), ran.clone());
        std::thread::spawn(move || idler(addr, stop, ran))
    });
    let t0 = Instant::now();
    let mut most_open = 0;
    let mut report = t0;
    wait_until_long(Duration::from_secs(secs), || {
        most_open = most_open.max(handle.metrics().open);
        if report.elapsed() >= Duration::from_secs(30) {
            report = Instant::now();
            println!(
                "soak {:>4}s: {} connections served, {} open, heap {} MiB, rss {} MiB",
                t0.elapsed().as_secs(),
                handle.metrics().accepted,
                handle.metrics().open,
                LIVE_HEAP.load(Ordering::Relaxed) >> 20,
                rss_bytes() >> 20
            );
        }
        t0.elapsed() >= Duration::from_secs(secs)
    });
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("a client saw a broken promise");
    }
    wait_until("the reactor holds no connections", || {
        handle.metrics().open == 0
    });

    let m = handle.metrics();
    let (fds_end, heap_end, rss_end) = (open_fds(), LIVE_HEAP.load(Ordering::Relaxed), rss_bytes());
    let count = |k: Kind| ran.by_kind[k as usize].load(Ordering::Relaxed);
    println!(
        "soak of {secs}s: {} connections ({} idle), {} MiB echoed and checked, at most {most_open} open; \
         fds {fds_start} -> {fds_end}; live heap {} -> {} KiB; rss {} -> {} MiB",
        m.accepted,
        ran.idle.load(Ordering::Relaxed),
        ran.bytes_checked.load(Ordering::Relaxed) >> 20,
        heap_start >> 10,
        heap_end >> 10,
        rss_start >> 20,
        rss_end >> 20
    );
    for k in KINDS {
        println!("  {k:?}: {}", count(k));
    }
    println!(
        "  heap growth per connection served: {:.1} bytes",
        (heap_end - heap_start) as f64 / m.accepted as f64
    );

    // Exactly one on_close each, nothing after it.
    let opened = seen.opened.load(Ordering::Relaxed);
    assert_eq!(opened, m.accepted);
    assert_eq!(
        seen.closed.load(Ordering::Relaxed),
        opened,
        "on_close count"
    );
    assert_eq!(seen.double_closes.load(Ordering::Relaxed), 0);
    assert_eq!(seen.late_callbacks.load(Ordering::Relaxed), 0);
    assert_eq!(m.closed_total(), opened);
    // Each behaviour ended the way it must.
    let graceful = count(Kind::Echo) + count(Kind::HalfClose) + count(Kind::SlowReader);
    assert_eq!(m.closed_with(CloseReason::PeerClosed), graceful);
    assert_eq!(m.closed_with(CloseReason::Lingered), count(Kind::Linger));
    assert_eq!(m.closed_with(CloseReason::Aborted), count(Kind::Abort));
    assert_eq!(m.closed_with(CloseReason::Reset), count(Kind::Rst));
    assert_eq!(
        m.closed_with(CloseReason::IdleTimeout),
        ran.idle.load(Ordering::Relaxed)
    );
    assert_eq!(m.panics, 0);
    assert_eq!(m.timers_pending, 0, "timers left behind");
    // Nothing leaked.
    assert_eq!(fds_end, fds_start, "descriptors leaked");
    assert!(
        heap_end - heap_start <= HEAP_SLACK,
        "live heap grew by {} KiB",
        (heap_end - heap_start) >> 10
    );
    assert!(
        rss_end <= rss_start + RSS_SLACK,
        "rss grew by {} MiB",
        (rss_end - rss_start) >> 20
    );

    handle.stop().unwrap();
    server.join().unwrap();
}

/// `wait_until` for a condition that takes longer than PATIENCE by design.
fn wait_until_long(limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "the soak overran");
        std::thread::sleep(Duration::from_millis(100));
    }
}
