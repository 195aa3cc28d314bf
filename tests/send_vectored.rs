//! `send_vectored` and `send_bytes_vectored`: the parts arrive in order and
//! intact; with a tiny send buffer and a peer that does not read, what the
//! kernel did not take is queued and delivered later; the cap applies to
//! the whole length, and a closed write side refuses them like `send`.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netloop::bytes::{Bytes, BytesMut};
use netloop::{ConnOptions, Ctx, Error, Handler, ListenOptions, Reactor};

/// Generous: the machine is shared and noisy.
const PATIENCE: Duration = Duration::from_secs(20);

/// A reactor driven by the test thread, with one client connected.
struct Fixture {
    reactor: Reactor,
    client: TcpStream,
}

impl Fixture {
    fn new<H: Handler + 'static>(conn: ConnOptions, handler: impl Fn() -> H + 'static) -> Fixture {
        let mut reactor = Reactor::new().unwrap();
        let opts = ListenOptions::default().conn(conn);
        let listener = reactor
            .listen("127.0.0.1:0".parse().unwrap(), opts, handler)
            .unwrap();
        let addr = reactor.listener_addr(listener).unwrap();
        let client = TcpStream::connect(addr).unwrap();
        client.set_nonblocking(true).unwrap();
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

/// Wraps every read in `<` and `>`, as three parts of one send.
struct Brackets;

impl Handler for Brackets {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        ctx.send_vectored(&[b"<", input, b">"]).unwrap();
        input.clear();
    }
}

#[test]
fn parts_arrive_in_order_and_intact() {
    let mut f = Fixture::new(ConnOptions::default(), || Brackets);
    f.client.write_all(b"abc").unwrap();
    assert_eq!(f.read(5), b"<abc>");
    f.client.write_all(b"de").unwrap();
    assert_eq!(f.read(4), b"<de>");
}

/// What the handler's sends returned, and how much each left queued.
type Results = Rc<RefCell<Vec<(Result<(), String>, usize)>>>;

/// Sends `parts()` on open with `send_vectored` (or the `Bytes` variant),
/// recording the outcome and the queue.
struct SendOnOpen {
    parts: Vec<Bytes>,
    shared: bool,
    results: Results,
}

impl Handler for SendOnOpen {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let outcome = if self.shared {
            ctx.send_bytes_vectored(&self.parts)
        } else {
            let slices: Vec<&[u8]> = self.parts.iter().map(|p| &p[..]).collect();
            ctx.send_vectored(&slices)
        };
        let queued = ctx.queued();
        self.results
            .borrow_mut()
            .push((outcome.map_err(|e| format!("{e:?}")), queued));
        // After close, vectored sends are refused like send.
        if self.parts.iter().map(|p| p.len()).sum::<usize>() < 100 {
            ctx.close();
            let refused = ctx.send_vectored(&[b"late"]);
            assert!(matches!(refused, Err(Error::WriteClosed)), "{refused:?}");
        }
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

/// Large parts of distinct bytes, and the whole they make.
fn large_parts() -> (Vec<Bytes>, Vec<u8>) {
    let parts: Vec<Bytes> = (0..4u8)
        .map(|i| {
            Bytes::from(
                (0..300_000u32)
                    .map(|n| (n % 251) as u8 ^ i)
                    .collect::<Vec<u8>>(),
            )
        })
        .chain([Bytes::from_static(b"end")])
        .collect();
    let whole = parts.iter().flat_map(|p| p.iter().copied()).collect();
    (parts, whole)
}

fn remainder_is_queued_then_delivered(shared: bool) {
    let (parts, whole) = large_parts();
    let results = Results::default();
    let log = results.clone();
    let mut f = Fixture::new(ConnOptions::default().send_buffer(4096), move || {
        SendOnOpen {
            parts: parts.clone(),
            shared,
            results: log.clone(),
        }
    });
    let deadline = Instant::now() + PATIENCE;
    while results.borrow().is_empty() {
        assert!(Instant::now() < deadline, "never accepted");
        f.reactor.turn(Some(Duration::from_millis(1))).unwrap();
    }
    let (outcome, queued) = results.borrow()[0].clone();
    assert_eq!(outcome, Ok(()));
    assert!(
        queued > 0 && queued < whole.len(),
        "a tiny send buffer took all or nothing: {queued} of {} queued",
        whole.len()
    );
    let got = f.read(whole.len());
    assert_eq!(got.len(), whole.len());
    assert!(got == whole, "the parts arrived altered or out of order");
}

#[test]
fn with_a_full_kernel_the_rest_is_queued_and_delivered_later() {
    remainder_is_queued_then_delivered(false);
}

#[test]
fn shared_parts_are_queued_and_delivered_too() {
    remainder_is_queued_then_delivered(true);
}

#[test]
fn the_cap_applies_to_the_whole_length() {
    let results = Results::default();
    let log = results.clone();
    let parts = vec![Bytes::from(vec![1u8; 30]), Bytes::from(vec![2u8; 30])];
    let mut f = Fixture::new(ConnOptions::default().max_send_queue(50), move || {
        SendOnOpen {
            parts: parts.clone(),
            shared: false,
            results: log.clone(),
        }
    });
    // Refused as a whole (nothing sent) though each part fits; the close
    // then ends the stream with nothing on it.
    assert_eq!(f.read(1), b"");
    let (outcome, queued) = results.borrow()[0].clone();
    let refused = outcome.unwrap_err();
    assert!(
        refused.contains("QueueFull") && refused.contains("len: 60"),
        "{refused}"
    );
    assert_eq!(queued, 0);
}
