//! 1,000 connections whose peers never read, while the server keeps trying
//! to send to all of them: each send queue stops at its hard cap (sends past
//! it are refused), and the process's resident memory stays under
//! connections x cap + a stated constant the whole time.

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::procfs::rss_bytes;
use common::*;
use netloop::bytes::{Bytes, BytesMut};
use netloop::{ConnOptions, Ctx, Error, Handler, ListenOptions, TimerId};
use socket2::{Domain, Socket, Type};

const CONNS: usize = 1_000;
const CAP: usize = 128 << 10;
const CHUNK: usize = 16 << 10;
/// What the process may hold beyond the queues: the allocator's slack, the
/// partly sent front chunk of each queue (at most CHUNK), thread stacks,
/// the test's logs. Kernel socket buffers are not resident memory.
const CONSTANT: usize = 64 << 20;
const ATTEMPT_EVERY: Duration = Duration::from_millis(50);
/// How long the server keeps trying once every queue is at its cap.
const KEEP_TRYING: Duration = Duration::from_secs(2);

/// Tries to send a chunk on every tick; counts the refusals. Even
/// connections copy (`send`), odd ones hand over fresh buffers (`send_bytes`).
struct Pusher {
    copy: bool,
    refused: Arc<AtomicU64>,
    refused_here: bool,
    full: Arc<AtomicU64>,
    most_queued: Arc<AtomicUsize>,
}

impl Pusher {
    fn push(&mut self, ctx: &mut Ctx<'_>) {
        let sent = if self.copy {
            ctx.send(&[0xabu8; CHUNK])
        } else {
            ctx.send_bytes(Bytes::from(vec![0xcdu8; CHUNK]))
        };
        match sent {
            Ok(()) => {}
            Err(Error::QueueFull { queued, cap, .. }) => {
                assert!(queued <= cap);
                self.refused.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(&mut self.refused_here, true) {
                    self.full.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => panic!("send: {e}"),
        }
        self.most_queued.fetch_max(ctx.queued(), Ordering::Relaxed);
    }
}

impl Handler for Pusher {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_interval(ATTEMPT_EVERY);
        self.push(ctx);
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _timer: TimerId, _tag: u32) {
        self.push(ctx);
    }
}

/// A client with a tiny receive buffer that never reads.
fn lazy_client(addr: std::net::SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&addr.into()).unwrap();
    s.into()
}

#[test]
fn queues_stop_at_the_cap_and_memory_stays_bounded() {
    let rss_start = rss_bytes();
    let bound = rss_start + CONNS * CAP + CONSTANT;
    let refused = Arc::new(AtomicU64::new(0));
    let full = Arc::new(AtomicU64::new(0));
    let most_queued = Arc::new(AtomicUsize::new(0));
    let (r, f, m) = (refused.clone(), full.clone(), most_queued.clone());
    let next = AtomicU64::new(0);
    let conn = ConnOptions::default()
        .max_send_queue(CAP)
        .water_marks(CAP / 2, CAP / 4)
        .send_buffer(16 << 10);
    let server = serve(ListenOptions::default().conn(conn), move || Pusher {
        copy: next.fetch_add(1, Ordering::Relaxed) % 2 == 0,
        refused: r.clone(),
        refused_here: false,
        full: f.clone(),
        most_queued: m.clone(),
    });
    let clients: Vec<TcpStream> = (0..CONNS).map(|_| lazy_client(server.addr)).collect();

    let mut peak = 0;
    let mut sample = || {
        let most = most_queued.load(Ordering::Relaxed);
        assert!(most <= CAP, "a queue held {most} bytes (cap {CAP})");
        let rss = rss_bytes();
        peak = peak.max(rss);
        assert!(
            rss <= bound,
            "resident memory {} MiB above the bound {} MiB",
            rss >> 20,
            bound >> 20
        );
    };
    wait_until("every queue reached its cap", || {
        sample();
        full.load(Ordering::Relaxed) == CONNS as u64
    });
    let refused_at_cap = refused.load(Ordering::Relaxed);
    let end = Instant::now() + KEEP_TRYING;
    wait_until("the server kept trying", || {
        sample();
        Instant::now() >= end
    });
    let refused_total = refused.load(Ordering::Relaxed);
    assert!(
        refused_total > refused_at_cap + CONNS as u64,
        "the server stopped trying"
    );

    // Every queue is at (nearly) the cap, none above.
    let (tx, rx) = std::sync::mpsc::channel();
    server
        .handle
        .post(move |rc| {
            let ids: Vec<_> = rc.conn_ids().collect();
            let queued: Vec<usize> = ids
                .iter()
                .map(|&id| rc.conn(id).queued().unwrap())
                .collect();
            tx.send(queued).unwrap();
        })
        .unwrap();
    let queued = rx.recv().unwrap();
    assert_eq!(queued.len(), CONNS);
    assert!(
        queued.iter().all(|&q| q > CAP - CHUNK && q <= CAP),
        "{queued:?}"
    );
    let total: usize = queued.iter().sum();
    println!(
        "{CONNS} connections, cap {} KiB: {} MiB queued; RSS start {} MiB, peak {} MiB, \
         bound {} MiB (connections x cap + {} MiB); {refused_total} sends refused",
        CAP >> 10,
        total >> 20,
        rss_start >> 20,
        peak >> 20,
        bound >> 20,
        CONSTANT >> 20
    );
    drop(clients);
    server.finish();
}
