//! Pushing the idle timeout back on every read costs no allocation (it is a
//! store of the read time; the one timer per connection is re-armed only
//! when it fires): 2,000 reads on a connection with an idle timeout
//! allocate nothing at all, and the queue holds one timer throughout.
//!
//! The reactor runs on the test thread; only that thread's allocations are
//! counted (libtest's own threads may allocate meanwhile).

use std::cell::Cell;
use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netloop::bytes::BytesMut;
use netloop::{ConnOptions, Ctx, Handler, ListenOptions, Reactor};

mod common;

use common::counting_alloc::{self, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts received bytes (an `Rc<Cell>`: counting allocates nothing).
struct Count(Rc<Cell<usize>>);

impl Handler for Count {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.0.set(self.0.get() + input.len());
        input.clear();
    }
}

/// Sends one message and turns the loop until it has been read.
fn round(reactor: &mut Reactor, client: &mut TcpStream, got: &Cell<usize>, want: usize) {
    client.write_all(b"hello").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.get() < want {
        assert!(Instant::now() < deadline, "the message never arrived");
        reactor.turn(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn reads_push_the_idle_timeout_back_without_allocating() {
    let mut reactor = Reactor::new().unwrap();
    let got = Rc::new(Cell::new(0));
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
}
