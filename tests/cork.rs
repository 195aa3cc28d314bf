//! Cork: sends made while corked do not reach the kernel (the peer sees
//! nothing while the callback runs), and leave together, in order, at
//! `uncork()`, at the end of `batch`, or when the callback returns (also
//! before a close asked for in it); what the kernel does not take then is
//! queued and delivered like any send.

use std::cell::RefCell;
use std::io::{self, Read};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netloop::bytes::BytesMut;
use netloop::{ConnOptions, Ctx, Handler, ListenOptions, Reactor};

/// Generous: the machine is shared and noisy.
const PATIENCE: Duration = Duration::from_secs(20);

/// The client's end, shared with the handler so it can look at what has
/// arrived while its callback runs.
type Peer = Rc<RefCell<Option<TcpStream>>>;

/// Bytes waiting at the peer right now (without taking them).
fn arrived(peer: &Peer) -> usize {
    let peer = peer.borrow();
    let mut buf = [0; 4096];
    match peer.as_ref().expect("client connected").peek(&mut buf) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => panic!("peek: {e}"),
    }
}

/// Waits (inside a callback) until `len` bytes wait at the peer.
fn wait_arrived(peer: &Peer, len: usize) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while arrived(peer) < len {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

/// A reactor driven by the test thread, with one client connected.
struct Fixture {
    reactor: Reactor,
    client: TcpStream,
}

impl Fixture {
    /// The handler gets the client's end through `peer`.
    fn new<H: Handler + 'static>(
        conn: ConnOptions,
        peer: &Peer,
        handler: impl Fn() -> H + 'static,
    ) -> Fixture {
        let mut reactor = Reactor::new().unwrap();
        let opts = ListenOptions::default().conn(conn);
        let listener = reactor
            .listen("127.0.0.1:0".parse().unwrap(), opts, handler)
            .unwrap();
        let client = TcpStream::connect(reactor.listener_addr(listener).unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        *peer.borrow_mut() = Some(client.try_clone().unwrap());
        Fixture { reactor, client }
    }

    /// Turns the reactor and reads until `len` bytes came (or EOF).
    fn read(&mut self, len: usize) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        let mut got = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        while got.len() < len {
            assert!(
                Instant::now() < deadline,
                "only {} of {len} bytes came",
                got.len()
            );
            self.reactor.turn(Some(Duration::from_millis(1))).unwrap();
            match self.client.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        got
    }
}

/// What the handler saw at the peer at each step.
type Steps = Rc<RefCell<Vec<(&'static str, usize)>>>;

/// How a test's handler sends on open.
#[derive(Clone, Copy)]
enum Plan {
    /// Cork, send four parts, return (the loop lifts the cork).
    UntilReturn,
    /// Cork, send, uncork, then one more (direct) send.
    Uncork,
    /// The same in `batch`.
    Batch,
    /// Cork, send, close: the sends go out before the FIN.
    ThenClose,
}

struct Corked {
    plan: Plan,
    peer: Peer,
    steps: Steps,
}

impl Corked {
    fn note(&self, what: &'static str) {
        self.steps.borrow_mut().push((what, arrived(&self.peer)));
    }
}

impl Handler for Corked {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        match self.plan {
            Plan::UntilReturn => {
                ctx.cork();
                assert!(ctx.is_corked());
                ctx.send(b"one ").unwrap();
                ctx.send(b"two ").unwrap();
                ctx.send_vectored(&[b"three ", b"four"]).unwrap();
                assert_eq!(ctx.queued(), 18, "held back in the queue");
                self.note("corked");
            }
            Plan::Uncork => {
                ctx.cork();
                ctx.send(b"a").unwrap();
                ctx.send(b"b").unwrap();
                self.note("corked");
                ctx.uncork();
                assert!(!ctx.is_corked());
                assert!(wait_arrived(&self.peer, 2), "uncork wrote nothing");
                self.note("uncorked");
                ctx.send(b"c").unwrap();
            }
            Plan::Batch => {
                ctx.batch(|ctx| {
                    ctx.send(b"x").unwrap();
                    ctx.send(b"y").unwrap();
                    self.note("in batch");
                });
                assert!(wait_arrived(&self.peer, 2), "batch wrote nothing");
                self.note("after batch");
            }
            Plan::ThenClose => {
                ctx.cork();
                ctx.send(b"last ").unwrap();
                ctx.send(b"words").unwrap();
                ctx.close();
            }
        }
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

fn run(plan: Plan, conn: ConnOptions) -> (Fixture, Steps) {
    let peer = Peer::default();
    let steps = Steps::default();
    let (p, s) = (peer.clone(), steps.clone());
    let f = Fixture::new(conn, &peer, move || Corked {
        plan,
        peer: p.clone(),
        steps: s.clone(),
    });
    (f, steps)
}

#[test]
fn corked_sends_leave_together_when_the_callback_returns() {
    let (mut f, steps) = run(Plan::UntilReturn, ConnOptions::default());
    assert_eq!(f.read(18), b"one two three four");
    assert_eq!(
        *steps.borrow(),
        [("corked", 0)],
        "a corked send reached the peer"
    );
}

#[test]
fn uncork_writes_what_the_cork_held_back() {
    let (mut f, steps) = run(Plan::Uncork, ConnOptions::default());
    assert_eq!(f.read(3), b"abc");
    assert_eq!(*steps.borrow(), [("corked", 0), ("uncorked", 2)]);
}

#[test]
fn batch_writes_at_its_end() {
    let (mut f, steps) = run(Plan::Batch, ConnOptions::default());
    assert_eq!(f.read(2), b"xy");
    assert_eq!(*steps.borrow(), [("in batch", 0), ("after batch", 2)]);
}

#[test]
fn a_close_in_the_corked_callback_comes_after_the_sends() {
    let (mut f, _) = run(Plan::ThenClose, ConnOptions::default());
    assert_eq!(f.read(usize::MAX), b"last words", "then EOF");
}

/// Many corked sends, more than a tiny send buffer takes: the rest waits
/// in the queue and arrives in order.
struct Bulk;

impl Handler for Bulk {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.cork();
        for i in 0..256u32 {
            ctx.send(&[(i % 251) as u8; 4096]).unwrap();
        }
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

#[test]
fn what_the_kernel_does_not_take_at_the_lift_is_queued_and_delivered() {
    let peer = Peer::default();
    let mut f = Fixture::new(ConnOptions::default().send_buffer(4096), &peer, || Bulk);
    let got = f.read(256 * 4096);
    let expected: Vec<u8> = (0..256u32).flat_map(|i| [(i % 251) as u8; 4096]).collect();
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the corked sends arrived altered or out of order"
    );
}
