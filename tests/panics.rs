//! A handler that panics in any callback closes only its own connection,
//! with reason Panicked (a panic in on_close just ends that call); the loop
//! and the other connections carry on, and new clients are still served
//! (even when the panic payload itself panics when dropped).
//! (on_keepalive_failure needs a silent peer in a network namespace; it runs
//! through the same guarded dispatch as every callback here.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{
    CloseReason, ConnOptions, ConnectOptions, Ctx, Handler, LingerOutcome, ListenOptions, TimerId,
    Verdict,
};

/// The callback that panics.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Where {
    Open,
    Read,
    Eof,
    HalfClose,
    LingerCompleted,
    LingerTimedOut,
    HighWater,
    Drain,
    IdleTimeout,
    WriteStall,
    Timer,
    Shutdown,
    Close,
    ConnectError,
}

/// Echoes like [`Echo`], steers its connection towards the callback under
/// test, and panics there. `None`: a healthy echo connection.
struct Bomb {
    at: Option<Where>,
}

/// Big enough to fill the kernel's buffers on loopback and queue the rest.
const FLOOD: usize = 16 << 20;

impl Bomb {
    fn boom(&self, here: Where) {
        if self.at == Some(here) {
            panic!("provoked panic in {here:?}");
        }
    }
}

impl Handler for Bomb {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        self.boom(Where::Open);
        match self.at {
            Some(Where::HalfClose) => ctx.shutdown_write(),
            Some(Where::LingerCompleted) => ctx.linger_close(Duration::from_secs(30)),
            Some(Where::LingerTimedOut) => ctx.linger_close(Duration::from_millis(50)),
            Some(Where::HighWater | Where::Drain | Where::WriteStall) => {
                ctx.set_water_marks(256 << 10, 64 << 10);
                ctx.send(&vec![b'x'; FLOOD]).expect("flood send");
            }
            Some(Where::Timer) => {
                ctx.set_timer(Duration::from_millis(10));
            }
            _ => {}
        }
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.boom(Where::Read);
        Echo.on_read(ctx, input);
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        self.boom(Where::Eof);
        ctx.close();
    }
    fn on_half_close(&mut self, _ctx: &mut Ctx<'_>) {
        self.boom(Where::HalfClose);
    }
    fn on_linger_close(&mut self, _ctx: &mut Ctx<'_>, outcome: LingerOutcome) {
        match outcome {
            LingerOutcome::Completed => self.boom(Where::LingerCompleted),
            LingerOutcome::TimedOut => self.boom(Where::LingerTimedOut),
        }
    }
    fn on_high_water(&mut self, _ctx: &mut Ctx<'_>, _queued: usize) {
        self.boom(Where::HighWater);
    }
    fn on_drain(&mut self, _ctx: &mut Ctx<'_>) {
        self.boom(Where::Drain);
    }
    fn on_idle_timeout(&mut self, _ctx: &mut Ctx<'_>) -> Verdict {
        self.boom(Where::IdleTimeout);
        Verdict::Keep
    }
    fn on_write_stall(&mut self, _ctx: &mut Ctx<'_>) -> Verdict {
        self.boom(Where::WriteStall);
        Verdict::Keep
    }
    fn on_timer(&mut self, _ctx: &mut Ctx<'_>, _timer: TimerId, _tag: u32) {
        self.boom(Where::Timer);
    }
    fn on_shutdown(&mut self, _ctx: &mut Ctx<'_>) {
        self.boom(Where::Shutdown);
    }
    fn on_close(&mut self, _ctx: &mut Ctx<'_>, _reason: CloseReason) {
        self.boom(Where::Close);
    }
    fn on_connect_error(&mut self, _ctx: &mut Ctx<'_>, _error: &netloop::ConnectError) {
        self.boom(Where::ConnectError);
    }
}

/// A server whose second connection is the bomb; the others are healthy.
fn server_with(at: Where, conn: ConnOptions) -> Server {
    let accepted = Arc::new(AtomicUsize::new(0));
    serve(ListenOptions::default().conn(conn), move || {
        let n = accepted.fetch_add(1, Ordering::SeqCst);
        Bomb {
            at: (n == 1).then_some(at),
        }
    })
}

fn ping(c: &mut TcpStream, msg: &[u8]) {
    c.write_all(msg).unwrap();
    let mut buf = vec![0u8; msg.len()];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(buf, msg);
}

/// Reads (and drops) until the stream ends, however it ends.
fn drain_in_background(c: &TcpStream) -> std::thread::JoinHandle<()> {
    let mut c = c.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = read_to_end(&mut c);
    })
}

/// Runs one scenario: a healthy connection pings, a doomed one is driven
/// into `at` by `provoke`, then the healthy one and a new client still
/// ping.
fn scenario(at: Where, conn: ConnOptions, provoke: impl FnOnce(&Server, &mut TcpStream)) {
    let server = server_with(at, conn);
    let mut healthy = server.client();
    ping(&mut healthy, b"before");
    let mut doomed = server.client();
    server.wait_log("the doomed connection opened", |log| {
        log.count(|e| *e == Ev::Open) == 2
    });
    provoke(&server, &mut doomed);
    let doomed_id = server.log.conns()[1];
    server.wait_log("the doomed connection closed", |log| {
        log.closes().contains_key(&doomed_id)
    });
    let reasons = server.log.closes()[&doomed_id].clone();
    if at == Where::Close {
        assert_eq!(reasons.len(), 1, "{reasons:?}");
    } else {
        assert_eq!(reasons, vec![CloseReason::Panicked], "panic in {at:?}");
    }
    ping(&mut healthy, b"after");
    if at != Where::Shutdown {
        let mut fresh = server.client();
        ping(&mut fresh, b"fresh");
    }
    assert!(server.handle.metrics().panics >= 1);
    drop((healthy, doomed));
    server.finish();
}

fn nothing(_: &Server, _: &mut TcpStream) {}

#[test]
fn panic_in_on_open() {
    scenario(Where::Open, ConnOptions::default(), nothing);
}

#[test]
fn panic_in_on_read() {
    scenario(Where::Read, ConnOptions::default(), |_, c| {
        c.write_all(b"boom").unwrap()
    });
}

#[test]
fn panic_in_on_eof() {
    scenario(Where::Eof, ConnOptions::default(), |_, c| {
        c.shutdown(std::net::Shutdown::Write).unwrap()
    });
}

#[test]
fn panic_in_on_half_close() {
    scenario(Where::HalfClose, ConnOptions::default(), nothing);
}

#[test]
fn panic_in_on_linger_close_completed() {
    scenario(Where::LingerCompleted, ConnOptions::default(), |_, c| {
        let mut buf = [0u8; 1];
        assert_eq!(c.read_retrying(&mut buf).unwrap(), 0, "the linger's FIN");
        c.shutdown(std::net::Shutdown::Write).unwrap();
    });
}

#[test]
fn panic_in_on_linger_close_timed_out() {
    scenario(Where::LingerTimedOut, ConnOptions::default(), nothing);
}

#[test]
fn panic_in_on_high_water() {
    scenario(Where::HighWater, ConnOptions::default(), nothing);
}

#[test]
fn panic_in_on_drain() {
    scenario(Where::Drain, ConnOptions::default(), |server, c| {
        server.wait_log("high water", |log| {
            log.count(|e| matches!(e, Ev::High(_))) == 1
        });
        drain_in_background(c);
    });
}

#[test]
fn panic_in_on_idle_timeout() {
    // The healthy connection idles too, but its handler says Keep.
    let conn = ConnOptions::default().idle_timeout(Duration::from_millis(100));
    scenario(Where::IdleTimeout, conn, nothing);
}

#[test]
fn panic_in_on_write_stall() {
    let conn = ConnOptions::default().write_stall_timeout(Duration::from_millis(100));
    scenario(Where::WriteStall, conn, nothing);
}

#[test]
fn panic_in_on_timer() {
    scenario(Where::Timer, ConnOptions::default(), nothing);
}

#[test]
fn panic_in_on_shutdown() {
    scenario(Where::Shutdown, ConnOptions::default(), |server, _| {
        server.handle.shutdown(Duration::from_secs(60)).unwrap();
    });
}

#[test]
fn panic_in_on_close() {
    scenario(Where::Close, ConnOptions::default(), |_, c| {
        c.shutdown(std::net::Shutdown::Write).unwrap()
    });
}

#[test]
fn panic_in_on_connect_error() {
    let server = server_with(Where::ConnectError, ConnOptions::default());
    let mut healthy = server.client();
    ping(&mut healthy, b"before");
    // A port nobody listens on: the connect is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_addr = closed.local_addr().unwrap();
    drop(closed);
    let log = server.log.clone();
    server
        .handle
        .post(move |rc| {
            let bomb = Recorder::new(
                Bomb {
                    at: Some(Where::ConnectError),
                },
                log,
            );
            rc.connect(refused_addr, ConnectOptions::default(), bomb)
                .expect("socket");
        })
        .unwrap();
    server.wait_log("the outbound connection closed", |log| {
        log.closes().len() == 1
    });
    let (id, reasons) = server.log.closes().into_iter().next().unwrap();
    assert_eq!(
        reasons,
        vec![CloseReason::Panicked],
        "{:?}",
        server.log.of(id)
    );
    ping(&mut healthy, b"after");
    assert_eq!(server.handle.metrics().panics, 1);
    drop(healthy);
    server.finish();
}

/// A panic payload whose destructor panics too.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("provoked: the panic payload panics when dropped");
    }
}

/// Panics with a [`PanicsOnDrop`] payload on "boom".
struct Nasty;

impl Handler for Nasty {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.starts_with(b"boom") {
            std::panic::panic_any(PanicsOnDrop);
        }
        Echo.on_read(ctx, input);
    }
}

/// A panic whose payload panics again when dropped ends nothing more than
/// an ordinary one: in a callback, a posted closure and a reactor timer.
#[test]
fn a_panic_whose_payload_panics_when_dropped_is_contained() {
    let server = serve(ListenOptions::default(), || Nasty);
    let mut healthy = server.client();
    ping(&mut healthy, b"before");
    let mut doomed = server.client();
    doomed.write_all(b"boom").unwrap();
    let (_, end) = read_to_end(&mut doomed);
    assert!(end.is_err(), "the panicking connection is reset");
    ping(&mut healthy, b"after");
    // The same from a posted closure and from a reactor timer.
    server
        .handle
        .post(|rc| {
            rc.schedule(Duration::ZERO, |_| std::panic::panic_any(PanicsOnDrop));
            std::panic::panic_any(PanicsOnDrop);
        })
        .unwrap();
    let handle = server.handle.clone();
    wait_until("all three panics caught", || handle.metrics().panics == 3);
    let mut fresh = server.client();
    ping(&mut fresh, b"fresh");
    ping(&mut healthy, b"still");
    drop((healthy, doomed, fresh, handle));
    server.wait_log("all closed", |log| log.closes().len() == 3);
    let panicked = server
        .log
        .closes()
        .values()
        .filter(|r| r[0] == CloseReason::Panicked)
        .count();
    assert_eq!(panicked, 1);
    server.finish();
}
