//! Once warmed up, echoing makes no heap allocation per message on the
//! reactor thread (ping-pong and pipelined), counted by a global allocator.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use common::counting_alloc::{self, Counting};
use common::{PATIENCE, client, wait_until};
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{CloseReason, Ctx, Handler, ListenOptions, MetricsSnapshot, Reactor, ReactorHandle};

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONNS: usize = 20;

/// A reactor on its own thread whose handlers count their `on_close`
/// (the shared harness records every callback in a growing log, which
/// would allocate on the reactor thread).
struct Server {
    addr: SocketAddr,
    handle: ReactorHandle,
    closes: Arc<AtomicUsize>,
    thread: JoinHandle<MetricsSnapshot>,
}

/// Wraps a handler and counts `on_close` calls.
struct CountClose<H> {
    inner: H,
    closes: Arc<AtomicUsize>,
}

impl<H: Handler> Handler for CountClose<H> {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.inner.on_read(ctx, input)
    }
    fn on_high_water(&mut self, ctx: &mut Ctx<'_>, queued: usize) {
        self.inner.on_high_water(ctx, queued)
    }
    fn on_drain(&mut self, ctx: &mut Ctx<'_>) {
        self.inner.on_drain(ctx)
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        self.closes.fetch_add(1, Ordering::SeqCst);
        self.inner.on_close(ctx, reason)
    }
}

fn serve<H: Handler>(make: fn() -> H) -> Server {
    let closes = Arc::new(AtomicUsize::new(0));
    let thread_closes = closes.clone();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = Reactor::new().expect("reactor");
        let any = "127.0.0.1:0".parse().unwrap();
        let factory = move || CountClose {
            inner: make(),
            closes: thread_closes.clone(),
        };
        let listener = reactor
            .listen(any, ListenOptions::default(), factory)
            .expect("listen");
        let addr = reactor.listener_addr(listener).expect("address");
        tx.send((addr, reactor.handle())).expect("test waits");
        reactor.run().expect("reactor run")
    });
    let (addr, handle) = rx.recv().expect("reactor started");
    Server {
        addr,
        handle,
        closes,
        thread,
    }
}

impl Server {
    fn client(&self) -> TcpStream {
        client(self.addr)
    }

    /// Waits until no connection is left, stops the reactor, and checks
    /// that each connection got exactly one `on_close`.
    fn finish(self) {
        let handle = self.handle.clone();
        wait_until("the reactor holds no connections", || {
            handle.metrics().open == 0
        });
        let _ = self.handle.stop();
        let metrics = self.thread.join().expect("reactor thread");
        assert_eq!(metrics.open, 0);
        assert_eq!(metrics.closed_total(), metrics.accepted);
        assert_eq!(self.closes.load(Ordering::SeqCst) as u64, metrics.accepted);
    }
}
const SIZE: usize = 64;

/// Starts counting allocations on the reactor thread.
fn start_counting(server: &Server) {
    let (tx, rx) = mpsc::channel();
    server
        .handle
        .post(move |_| {
            // Confirm first: sending may allocate.
            let _ = tx.send(());
            counting_alloc::start();
        })
        .expect("reactor runs");
    rx.recv_timeout(PATIENCE)
        .expect("the reactor started counting");
}

/// Stops counting on the reactor thread; returns the count.
fn stop_counting(server: &Server) -> u64 {
    let (tx, rx) = mpsc::channel();
    server
        .handle
        .post(move |_| {
            let _ = tx.send(counting_alloc::stop());
        })
        .expect("reactor runs");
    rx.recv_timeout(PATIENCE)
        .expect("the reactor stopped counting")
}

/// Every client sends `depth` messages at once, then reads the echoes.
fn exchange(clients: &mut [TcpStream], depth: usize) {
    let out = vec![0x5a; SIZE * depth];
    let mut back = vec![0; SIZE * depth];
    for c in clients.iter_mut() {
        c.write_all(&out).unwrap();
    }
    for c in clients.iter_mut() {
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, out);
    }
}

#[test]
fn echo_allocates_nothing_per_message_once_warm() {
    let server = serve(|| Echo);
    let mut clients: Vec<TcpStream> = (0..CONNS).map(|_| server.client()).collect();
    for depth in [1, 16] {
        for _ in 0..200 {
            exchange(&mut clients, depth);
        }
    }

    start_counting(&server);
    let rounds = 1_000;
    for depth in [1, 16] {
        for _ in 0..rounds {
            exchange(&mut clients, depth);
        }
    }
    let allocations = stop_counting(&server);

    let messages = rounds * CONNS * (1 + 16);
    assert_eq!(
        allocations, 0,
        "{allocations} allocations on the reactor thread for {messages} echoed messages"
    );
    drop(clients);
    server.finish();
}

#[test]
fn the_counter_sees_reactor_allocations() {
    // Guards the test above against counting nothing at all: a handler that
    // allocates on every read is caught.
    let server = serve(|| Copying);
    let mut client = server.client();
    exchange(std::slice::from_mut(&mut client), 1);
    start_counting(&server);
    for _ in 0..10 {
        exchange(std::slice::from_mut(&mut client), 1);
    }
    assert!(stop_counting(&server) >= 10);
    drop(client);
    server.finish();
}

/// Echoes through a fresh `Vec` per read.
struct Copying;

impl Handler for Copying {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        let copy = input.to_vec();
        input.clear();
        let _ = ctx.send(&copy);
    }
}
