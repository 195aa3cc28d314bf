//! Pushing the idle timeout back on every read costs no allocation (it is a
//! store of the read time; the one timer per connection is re-armed only
//! when it fires): 2,000 reads on a connection with an idle timeout
//! allocate nothing at all, and the queue holds one timer throughout. When
//! the client leaves, the connection closes with exactly one `on_close`.
//!
//! The reactor runs on the test thread; only that thread's allocations are
//! counted (libtest's own threads may allocate meanwhile).

use std::cell::Cell;
use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netloop::bytes::BytesMut;
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions, Reactor};

mod common;

use common::counting_alloc::{self, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What the handler saw, in cells: counting allocates nothing.
#[derive(Default)]
struct Tally {
    bytes: Cell<usize>,
    closes: Cell<usize>,
    /// Callbacks that came after `on_close`.
    after_close: Cell<usize>,
}

impl Tally {
    fn callback(&self) {
        if self.closes.get() > 0 {
            self.after_close.set(self.after_close.get() + 1);
        }
    }
}

/// Counts received bytes and closes.
struct Count(Rc<Tally>);

impl Handler for Count {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.0.callback();
        self.0.bytes.set(self.0.bytes.get() + input.len());
        input.clear();
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        self.0.callback();
        ctx.close();
    }
    fn on_close(&mut self, _ctx: &mut Ctx<'_>, _reason: CloseReason) {
        self.0.callback();
        self.0.closes.set(self.0.closes.get() + 1);
    }
}

/// Sends one message and turns the loop until it has been read.
fn round(reactor: &mut Reactor, client: &mut TcpStream, got: &Tally, want: usize) {
    client.write_all(b"hello").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.bytes.get() < want {
        assert!(Instant::now() < deadline, "the message never arrived");
        reactor.turn(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn reads_push_the_idle_timeout_back_without_allocating() {
    let mut reactor = Reactor::new().unwrap();
    let got = Rc::new(Tally::default());
    let counter = got.clone();
    let opts =
        ListenOptions::default().conn(ConnOptions::default().idle_timeout(Duration::from_secs(60)));
    let listener = reactor
        .listen("127.0.0.1:0".parse().unwrap(), opts, move || {
            Count(counter.clone())
        })
        .unwrap();
    let mut client = TcpStream::connect(reactor.listener_addr(listener).unwrap()).unwrap();
    // Warm up: accept, first reads, buffers and queues at their working size.
    let mut want = 0;
    for _ in 0..20 {
        want += 5;
        round(&mut reactor, &mut client, &got, want);
    }
    assert_eq!(reactor.conn_count(), 1);
    counting_alloc::start();
    for _ in 0..2000 {
        want += 5;
        round(&mut reactor, &mut client, &got, want);
    }
    let allocations = counting_alloc::stop();
    assert_eq!(
        allocations, 0,
        "2000 reads with an idle timeout allocated {allocations} times"
    );
    assert_eq!(
        reactor.metrics().timers_pending,
        1,
        "one idle timer, never re-inserted"
    );
    // The client leaves: the connection closes, once.
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(20);
    while reactor.conn_count() > 0 {
        assert!(Instant::now() < deadline, "the connection never closed");
        reactor.turn(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(reactor.metrics().open, 0);
    assert_eq!(reactor.metrics().accepted, 1);
    assert_eq!(got.closes.get(), 1, "on_close calls");
    assert_eq!(got.after_close.get(), 0, "callbacks after on_close");
}
