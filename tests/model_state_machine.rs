//! A property test of one real connection against a reference model.
//!
//! proptest generates sequences of operations — sends of random sizes
//! (copied and shared), peer reads and writes of random sizes, peer FIN and
//! RST, shutdown_write, close, linger_close, abort, pause/resume, loop turns
//! and time passing — and runs them on a reactor turned by this thread,
//! against a nonblocking peer socket in the same thread. Both sockets have
//! small kernel buffers, so writes are partial and WouldBlock is common.
//!
//! Checked after every step and at the end:
//! - the peer receives exactly the bytes `send` accepted, in order, up to
//!   the first fault (a prefix; all of them after a clean close that left
//!   no input unread, which would make the kernel send RST);
//! - the handler receives exactly what the peer wrote, in order (a prefix;
//!   all of it by the time `on_eof` runs);
//! - the peer sees our FIN only after every accepted byte arrived, and no
//!   send is accepted after it;
//! - `send` fails exactly when the model says (write side closed, or past
//!   the hard cap), and the queue never holds more than the cap;
//! - high/low water events alternate and report sizes within the marks;
//! - exactly one `on_close`, last, with a reason the operations explain;
//!   no `on_eof` without a peer FIN, nothing after `on_close`.

mod common;

use common::ReadRetrying;
use std::cell::RefCell;
use std::io::{ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use netloop::bytes::{Bytes, BytesMut};
use netloop::{
    CloseReason, ConnId, ConnOptions, ConnState, Ctx, Error, Handler, LingerOutcome, ListenOptions,
    Reactor,
};
use proptest::prelude::*;
use socket2::{Domain, Socket, Type};

const CAP: usize = 64 << 10;
const HIGH: usize = 32 << 10;
const LOW: usize = 8 << 10;
const KERNEL_BUF: usize = 4 << 10;

/// Byte `i` of what the server sends.
fn down(i: usize) -> u8 {
    ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Byte `i` of what the peer sends.
fn up(i: usize) -> u8 {
    ((i as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) >> 56) as u8
}

#[derive(Clone, Debug)]
enum Op {
    Send(usize),
    SendBytes(usize),
    PeerRead(usize),
    PeerWrite(usize),
    PeerFin,
    PeerRst,
    ShutdownWrite,
    Close,
    LingerClose(u64),
    Abort,
    Pause,
    Resume,
    Turn,
    Sleep(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..40_000).prop_map(Op::Send),
        2 => (0usize..40_000).prop_map(Op::SendBytes),
        4 => (1usize..50_000).prop_map(Op::PeerRead),
        2 => (1usize..20_000).prop_map(Op::PeerWrite),
        1 => Just(Op::PeerFin),
        1 => Just(Op::PeerRst),
        1 => Just(Op::ShutdownWrite),
        1 => Just(Op::Close),
        1 => (1u64..40).prop_map(Op::LingerClose),
        1 => Just(Op::Abort),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        6 => Just(Op::Turn),
        1 => (0u64..25).prop_map(Op::Sleep),
    ]
}

/// What the server's handler saw.
#[derive(Default, Debug)]
struct ServerSide {
    events: Vec<String>,
    /// Bytes delivered to `on_read`; each checked against `up`.
    received: usize,
    misdelivered: Option<usize>,
    eof_at: Option<usize>,
    half_closes: usize,
    lingers: Vec<LingerOutcome>,
    /// High/low water events in order: `Some(queued)` high, `None` drain.
    marks: Vec<Option<usize>>,
    closes: Vec<CloseReason>,
    /// Callbacks after `on_close`.
    late: usize,
}

struct Probe(Rc<RefCell<ServerSide>>);

impl Probe {
    fn note(&self, what: &str) {
        let mut s = self.0.borrow_mut();
        if !s.closes.is_empty() {
            s.late += 1;
        }
        s.events.push(what.to_string());
    }
}

impl Handler for Probe {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.note("read");
        let mut s = self.0.borrow_mut();
        for &b in input.iter() {
            if b != up(s.received) && s.misdelivered.is_none() {
                s.misdelivered = Some(s.received);
            }
            s.received += 1;
        }
        input.clear();
    }
    fn on_eof(&mut self, _ctx: &mut Ctx<'_>) {
        self.note("eof");
        let mut s = self.0.borrow_mut();
        s.eof_at = Some(s.received);
    }
    fn on_half_close(&mut self, _ctx: &mut Ctx<'_>) {
        self.note("half-close");
        self.0.borrow_mut().half_closes += 1;
    }
    fn on_linger_close(&mut self, _ctx: &mut Ctx<'_>, outcome: LingerOutcome) {
        self.note("linger");
        self.0.borrow_mut().lingers.push(outcome);
    }
    fn on_high_water(&mut self, _ctx: &mut Ctx<'_>, queued: usize) {
        self.note("high");
        self.0.borrow_mut().marks.push(Some(queued));
    }
    fn on_drain(&mut self, _ctx: &mut Ctx<'_>) {
        self.note("drain");
        self.0.borrow_mut().marks.push(None);
    }
    fn on_close(&mut self, _ctx: &mut Ctx<'_>, reason: CloseReason) {
        self.note("close");
        self.0.borrow_mut().closes.push(reason);
    }
}

/// The reference model: what the operations did and what must follow.
#[derive(Default, Debug)]
struct Model {
    /// Bytes `send` accepted (a prefix of the `down` stream).
    accepted: usize,
    /// Bytes the peer received (checked against `down`).
    received: usize,
    /// Bytes the peer wrote (a prefix of the `up` stream).
    written: usize,
    peer_fin: bool,
    peer_rst: bool,
    /// The peer read our FIN (end of stream) or got an error.
    peer_eof: bool,
    peer_error: bool,
    asked_shutdown: bool,
    asked_close: bool,
    asked_linger: bool,
    asked_abort: bool,
}

struct Case {
    reactor: Reactor,
    id: ConnId,
    peer: Option<TcpStream>,
    server: Rc<RefCell<ServerSide>>,
    m: Model,
    log: Vec<String>,
}

type Check = Result<(), TestCaseError>;

impl Case {
    fn new() -> Case {
        let server = Rc::new(RefCell::new(ServerSide::default()));
        let side = server.clone();
        let conn = ConnOptions::default()
            .send_buffer(KERNEL_BUF)
            .recv_buffer(KERNEL_BUF)
            .water_marks(HIGH, LOW)
            .max_send_queue(CAP);
        let mut reactor = Reactor::new().unwrap();
        let l = reactor
            .listen(
                "127.0.0.1:0".parse().unwrap(),
                ListenOptions::default().conn(conn),
                move || Probe(side.clone()),
            )
            .unwrap();
        let addr = reactor.listener_addr(l).unwrap();
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(KERNEL_BUF).unwrap();
        sock.set_send_buffer_size(KERNEL_BUF).unwrap();
        sock.connect(&addr.into()).unwrap();
        sock.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let id = loop {
            reactor.turn(Some(Duration::from_millis(1))).unwrap();
            if let Some(id) = reactor.ctx().conn_ids().next() {
                break id;
            }
            assert!(Instant::now() < deadline, "never accepted");
        };
        Case {
            reactor,
            id,
            peer: Some(sock.into()),
            server,
            m: Model::default(),
            log: Vec::new(),
        }
    }

    fn state(&mut self) -> Option<ConnState> {
        self.reactor.ctx().conn(self.id).conn_state()
    }

    fn turn(&mut self) -> Check {
        self.reactor
            .turn(Some(Duration::from_millis(1)))
            .map_err(|e| TestCaseError::fail(format!("turn: {e}")))?;
        Ok(())
    }

    fn send(&mut self, n: usize, shared: bool) -> Check {
        let state = self.state();
        let queued = self.reactor.ctx().conn(self.id).queued().ok();
        let data: Vec<u8> = (self.m.accepted..self.m.accepted + n).map(down).collect();
        let result = {
            let mut rc = self.reactor.ctx();
            let mut conn = rc.conn(self.id);
            if shared {
                conn.send_bytes(Bytes::from(data))
            } else {
                conn.send(&data)
            }
        };
        let can_send = state.is_some_and(|s| s.can_send());
        match (&result, state) {
            (Err(Error::NoSuchConn), None) => {}
            (Err(Error::WriteClosed), Some(_)) if !can_send => {}
            (Err(Error::QueueFull { .. }), Some(_)) if can_send && queued.unwrap() + n > CAP => {}
            // The socket failed (e.g. after a peer reset): nothing was sent.
            (Err(Error::Io(_)), Some(_)) if can_send && self.m.peer_rst => {}
            (Ok(()), Some(_)) if can_send && (n == 0 || queued.unwrap() + n <= CAP) => {
                prop_assert!(!self.m.peer_eof, "a send was accepted after our FIN");
                self.m.accepted += n;
            }
            _ => prop_assert!(
                false,
                "send({n}) in {state:?} with {queued:?} queued gave {result:?}"
            ),
        }
        Ok(())
    }

    fn peer_read(&mut self, n: usize) -> Check {
        let Some(peer) = self.peer.as_mut() else {
            return Ok(());
        };
        if self.m.peer_eof || self.m.peer_error {
            return Ok(());
        }
        let mut buf = vec![0u8; n];
        match peer.read_retrying(&mut buf) {
            Ok(0) => {
                self.m.peer_eof = true;
                prop_assert_eq!(
                    self.m.received,
                    self.m.accepted,
                    "our FIN came before every accepted byte arrived"
                );
            }
            Ok(k) => {
                for (i, &b) in buf[..k].iter().enumerate() {
                    prop_assert_eq!(
                        b,
                        down(self.m.received + i),
                        "byte {} altered",
                        self.m.received + i
                    );
                }
                self.m.received += k;
                prop_assert!(
                    self.m.received <= self.m.accepted,
                    "more arrived than was sent"
                );
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => self.m.peer_error = true,
            Err(e) => prop_assert!(false, "peer read: {e}"),
        }
        Ok(())
    }

    fn peer_write(&mut self, n: usize) -> Check {
        let Some(peer) = self.peer.as_mut() else {
            return Ok(());
        };
        if self.m.peer_fin {
            return Ok(());
        }
        let data: Vec<u8> = (self.m.written..self.m.written + n).map(up).collect();
        match peer.write(&data) {
            Ok(k) => self.m.written += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            // Our side reset the connection (abort, linger timeout). The
            // write consumed the error: later reads return 0, not a FIN.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                self.m.peer_error = true
            }
            Err(e) => prop_assert!(false, "peer write: {e}"),
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Check {
        self.log.push(format!("{op:?}"));
        match *op {
            Op::Send(n) => self.send(n, false)?,
            Op::SendBytes(n) => self.send(n, true)?,
            Op::PeerRead(n) => self.peer_read(n)?,
            Op::PeerWrite(n) => self.peer_write(n)?,
            Op::PeerFin => {
                if let Some(p) = &self.peer {
                    if !self.m.peer_fin {
                        let _ = p.shutdown(Shutdown::Write);
                        self.m.peer_fin = true;
                    }
                }
            }
            Op::PeerRst => {
                if let Some(p) = self.peer.take() {
                    socket2::SockRef::from(&p)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                    self.m.peer_rst = true;
                }
            }
            Op::ShutdownWrite => self.ask(|c| c.shutdown_write(), |m| m.asked_shutdown = true)?,
            Op::Close => self.ask(|c| c.close(), |m| m.asked_close = true)?,
            Op::LingerClose(ms) => self.ask(
                |c| c.linger_close(Duration::from_millis(ms)),
                |m| m.asked_linger = true,
            )?,
            Op::Abort => self.ask(|c| c.abort(), |m| m.asked_abort = true)?,
            Op::Pause => self.ask(|c| c.pause_read(), |_| {})?,
            Op::Resume => self.ask(|c| c.resume_read(), |_| {})?,
            Op::Turn => self.turn()?,
            Op::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                self.turn()?;
            }
        }
        self.check_invariants()
    }

    /// Asks something of the connection: it succeeds while the connection
    /// exists, and fails with NoSuchConn (never panics) after.
    fn ask(
        &mut self,
        f: impl FnOnce(&mut netloop::ConnRef<'_>) -> netloop::Result<()>,
        note: impl FnOnce(&mut Model),
    ) -> Check {
        let exists = self.state().is_some();
        let result = f(&mut self.reactor.ctx().conn(self.id));
        match (&result, exists) {
            (Ok(()), true) => note(&mut self.m),
            (Err(Error::NoSuchConn), false) => {}
            _ => prop_assert!(false, "exists {exists}, got {result:?}"),
        }
        Ok(())
    }

    fn check_invariants(&mut self) -> Check {
        if let Ok(q) = self.reactor.ctx().conn(self.id).queued() {
            prop_assert!(q <= CAP, "{q} bytes queued, cap {CAP}");
        }
        let s = self.server.borrow();
        prop_assert_eq!(s.misdelivered, None, "the handler got altered input");
        prop_assert!(
            s.received <= self.m.written,
            "the handler got bytes never sent"
        );
        prop_assert_eq!(s.late, 0, "callbacks after on_close: {:?}", s.events);
        prop_assert!(s.closes.len() <= 1, "on_close ran {} times", s.closes.len());
        prop_assert!(s.half_closes <= 1 && s.lingers.len() <= 1);
        if let Some(at) = s.eof_at {
            prop_assert!(self.m.peer_fin, "on_eof without a peer FIN");
            prop_assert_eq!(at, self.m.written, "on_eof before all the peer's bytes");
        }
        prop_assert!(s.half_closes == 0 || self.m.asked_shutdown);
        prop_assert!(s.lingers.is_empty() || self.m.asked_linger);
        for pair in s.marks.windows(2) {
            prop_assert!(
                pair[0].is_some() != pair[1].is_some(),
                "marks {:?}",
                s.marks
            );
        }
        if let Some(Some(_)) = s.marks.first() {
        } else {
            prop_assert!(s.marks.is_empty(), "a drain before any high water");
        }
        for q in s.marks.iter().flatten() {
            prop_assert!((HIGH..=CAP).contains(q), "high water reported at {q}");
        }
        Ok(())
    }

    /// Ends the case: the peer reads everything and finishes its side, the
    /// connection is closed if nothing else closed it, until both are done.
    fn settle(&mut self) -> Check {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut asked = false;
        // A paused connection would never see the peer's FIN.
        let _ = self.reactor.ctx().conn(self.id).resume_read();
        loop {
            prop_assert!(
                Instant::now() < deadline,
                "never settled: {:?}",
                self.server.borrow().events
            );
            self.turn()?;
            self.peer_read(64 << 10)?;
            let closed = !self.server.borrow().closes.is_empty();
            if !closed && !self.m.peer_fin && self.peer.is_some() {
                self.apply(&Op::PeerFin)?;
            }
            if !closed && !asked && self.server.borrow().eof_at.is_some() {
                let _ = self.reactor.ctx().conn(self.id).resume_read();
                self.ask(|c| c.close(), |m| m.asked_close = true)?;
                asked = true;
            }
            let peer_done = self.peer.is_none() || self.m.peer_eof || self.m.peer_error;
            if closed && peer_done {
                break;
            }
        }
        drop(self.peer.take());
        for _ in 0..3 {
            self.turn()?;
        }
        prop_assert_eq!(self.reactor.conn_count(), 0);
        self.check_invariants()?;
        self.check_ending()
    }

    /// The close reason is one the operations explain, and the delivery
    /// matches it.
    fn check_ending(&mut self) -> Check {
        let s = self.server.borrow();
        prop_assert_eq!(s.closes.len(), 1, "on_close count: {:?}", s.events);
        prop_assert_eq!(s.events.last().map(String::as_str), Some("close"));
        let reason = s.closes[0];
        let m = &self.m;
        let explained = match reason {
            CloseReason::Local | CloseReason::PeerClosed => m.asked_close || m.asked_shutdown,
            CloseReason::Lingered => m.asked_linger && s.lingers == [LingerOutcome::Completed],
            CloseReason::LingerTimeout => m.asked_linger && s.lingers == [LingerOutcome::TimedOut],
            CloseReason::Aborted => m.asked_abort,
            CloseReason::Reset => m.peer_rst,
            _ => false,
        };
        prop_assert!(explained, "{reason:?} after {:?}; model {m:?}", self.log);
        // A clean ending delivers everything, unless the peer sent bytes the
        // handler never read: unread when the socket closed, or arriving
        // after it — either way the kernel answers with RST, which can
        // destroy bytes in flight (the documented reason to use
        // linger_close when the peer may still be sending).
        let unread_input = m.written > s.received;
        // (A peer that reset threw its own socket away: nothing to check.)
        let clean = !m.peer_rst
            && (reason == CloseReason::Lingered || (reason.is_graceful() && !unread_input));
        if clean {
            prop_assert!(
                m.peer_eof,
                "a clean close ({reason:?}), but the peer never saw our FIN: {:?}; {m:?}",
                s.events
            );
            prop_assert_eq!(m.received, m.accepted, "bytes lost in a clean close");
        }
        Ok(())
    }
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 128;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_connection_follows_the_reference_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut case = Case::new();
        for op in &ops {
            case.apply(op)?;
        }
        case.settle()?;
    }
}
