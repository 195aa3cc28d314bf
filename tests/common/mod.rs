//! Shared test harness: a reactor on its own thread, a handler wrapper that
//! records every callback, and condition waits with deadlines.
//!
//! Every test ends with [`Server::finish`], which waits until the reactor
//! holds no connections, stops it, and checks that each connection that was
//! opened got exactly one `on_close` (and nothing after it).
#![allow(dead_code)]

pub mod counting_alloc;
pub mod inline;
pub mod peer;
pub mod procfs;
#[cfg(feature = "tls")]
pub mod tls;
pub mod tools;
pub mod unix;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netloop::bytes::BytesMut;
use netloop::{
    CloseReason, ConnId, ConnectError, ConnectErrorKind, ConnectOptions, Ctx, Handler,
    LingerOutcome, ListenOptions, MetricsSnapshot, Reactor, ReactorHandle, TimerId, Verdict,
};

/// Generous: the machine is shared and noisy.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One recorded callback.
#[derive(Clone, Debug, PartialEq)]
pub enum Ev {
    Open,
    Read(usize),
    Eof,
    HalfClose,
    Linger(LingerOutcome),
    High(usize),
    Drain,
    KeepaliveFailure(io::ErrorKind),
    IdleTimeout,
    WriteStall,
    Timer,
    ConnectError(ConnectErrorKind),
    Shutdown,
    InputFull(usize),
    Disconnect(CloseReason),
    Close(CloseReason),
}

/// Callbacks seen, in order, shared between the reactor thread and the test.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<(ConnId, Ev)>>>);

impl Log {
    pub fn push(&self, id: ConnId, ev: Ev) {
        self.0.lock().unwrap().push((id, ev));
    }

    pub fn events(&self) -> Vec<(ConnId, Ev)> {
        self.0.lock().unwrap().clone()
    }

    /// Callbacks of one connection.
    pub fn of(&self, id: ConnId) -> Vec<Ev> {
        self.events()
            .into_iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, e)| e)
            .collect()
    }

    /// Connections in the order they were opened (or attempted).
    pub fn conns(&self) -> Vec<ConnId> {
        let mut seen = std::collections::HashSet::new();
        let mut order = Vec::new();
        for (id, _) in self.0.lock().unwrap().iter() {
            if seen.insert(*id) {
                order.push(*id);
            }
        }
        order
    }

    pub fn count(&self, pred: impl Fn(&Ev) -> bool) -> usize {
        self.events().iter().filter(|(_, e)| pred(e)).count()
    }

    /// Close reasons, by connection.
    pub fn closes(&self) -> HashMap<ConnId, Vec<CloseReason>> {
        let mut out: HashMap<ConnId, Vec<CloseReason>> = HashMap::new();
        for (id, ev) in self.events() {
            if let Ev::Close(r) = ev {
                out.entry(id).or_default().push(r);
            }
        }
        out
    }

    /// Every connection that appears got exactly one `on_close`, and it was
    /// its last callback.
    pub fn assert_one_close_each(&self) {
        // One pass (tests with thousands of connections log many events):
        // per connection, the number of closes and whether the last was one.
        let mut seen: HashMap<ConnId, (usize, bool)> = HashMap::new();
        for (id, ev) in self.0.lock().unwrap().iter() {
            let entry = seen.entry(*id).or_default();
            let is_close = matches!(ev, Ev::Close(_));
            entry.0 += usize::from(is_close);
            entry.1 = is_close;
        }
        for (id, (closes, last_is_close)) in seen {
            assert_eq!(
                closes,
                1,
                "{id:?} got {closes} on_close calls: {:?}",
                self.of(id)
            );
            assert!(
                last_is_close,
                "{id:?}: on_close was not last: {:?}",
                self.of(id)
            );
        }
    }
}

/// Wraps a handler and records each callback before delegating.
pub struct Recorder<H> {
    pub inner: H,
    pub log: Log,
}

impl<H> Recorder<H> {
    pub fn new(inner: H, log: Log) -> Self {
        Recorder { inner, log }
    }
}

impl<S: 'static, H: Handler<S>> Handler<S> for Recorder<H> {
    fn on_open(&mut self, ctx: &mut Ctx<'_, S>) {
        self.log.push(ctx.id(), Ev::Open);
        self.inner.on_open(ctx)
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_, S>, input: &mut BytesMut) {
        self.log.push(ctx.id(), Ev::Read(input.len()));
        self.inner.on_read(ctx, input)
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_, S>) {
        self.log.push(ctx.id(), Ev::Eof);
        self.inner.on_eof(ctx)
    }
    fn on_disconnect(&mut self, ctx: &mut Ctx<'_, S>, reason: CloseReason) {
        self.log.push(ctx.id(), Ev::Disconnect(reason));
        self.inner.on_disconnect(ctx, reason)
    }
    fn on_input_full(&mut self, ctx: &mut Ctx<'_, S>, buffered: usize) -> netloop::Verdict {
        self.log.push(ctx.id(), Ev::InputFull(buffered));
        self.inner.on_input_full(ctx, buffered)
    }
    fn on_half_close(&mut self, ctx: &mut Ctx<'_, S>) {
        self.log.push(ctx.id(), Ev::HalfClose);
        self.inner.on_half_close(ctx)
    }
    fn on_linger_close(&mut self, ctx: &mut Ctx<'_, S>, outcome: LingerOutcome) {
        self.log.push(ctx.id(), Ev::Linger(outcome));
        self.inner.on_linger_close(ctx, outcome)
    }
    fn on_high_water(&mut self, ctx: &mut Ctx<'_, S>, queued: usize) {
        self.log.push(ctx.id(), Ev::High(queued));
        self.inner.on_high_water(ctx, queued)
    }
    fn on_drain(&mut self, ctx: &mut Ctx<'_, S>) {
        self.log.push(ctx.id(), Ev::Drain);
        self.inner.on_drain(ctx)
    }
    fn on_keepalive_failure(&mut self, ctx: &mut Ctx<'_, S>, error: &io::Error) {
        self.log.push(ctx.id(), Ev::KeepaliveFailure(error.kind()));
        self.inner.on_keepalive_failure(ctx, error)
    }
    fn on_idle_timeout(&mut self, ctx: &mut Ctx<'_, S>) -> Verdict {
        self.log.push(ctx.id(), Ev::IdleTimeout);
        self.inner.on_idle_timeout(ctx)
    }
    fn on_write_stall(&mut self, ctx: &mut Ctx<'_, S>) -> Verdict {
        self.log.push(ctx.id(), Ev::WriteStall);
        self.inner.on_write_stall(ctx)
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, S>, timer: TimerId, tag: u32) {
        self.log.push(ctx.id(), Ev::Timer);
        self.inner.on_timer(ctx, timer, tag)
    }
    fn on_connect_error(&mut self, ctx: &mut Ctx<'_, S>, error: &ConnectError) {
        self.log.push(ctx.id(), Ev::ConnectError(error.kind));
        self.inner.on_connect_error(ctx, error)
    }
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, S>) {
        self.log.push(ctx.id(), Ev::Shutdown);
        self.inner.on_shutdown(ctx)
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, S>, reason: CloseReason) {
        self.log.push(ctx.id(), Ev::Close(reason));
        self.inner.on_close(ctx, reason)
    }
}

/// A reactor running on its own thread, listening on `addr`: a TCP
/// address ([`serve`]), or a Unix socket path (`unix::serve_unix`).
pub struct Server<A = SocketAddr> {
    pub addr: A,
    pub handle: ReactorHandle,
    pub log: Log,
    thread: Option<JoinHandle<MetricsSnapshot>>,
}

/// Starts a server whose connections get `make()` handlers, recorded.
pub fn serve<H, F>(opts: ListenOptions, make: F) -> Server
where
    H: Handler,
    F: Fn() -> H + Send + 'static,
{
    serve_at("127.0.0.1:0".parse().unwrap(), opts, make)
}

/// Like [`serve`], listening on `bind` (e.g. an address inside a test
/// network namespace).
pub fn serve_at<H, F>(bind: SocketAddr, opts: ListenOptions, make: F) -> Server
where
    H: Handler,
    F: Fn() -> H + Send + 'static,
{
    let log = Log::default();
    let thread_log = log.clone();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = Reactor::new().expect("reactor");
        let listener = reactor
            .listen(bind, opts, move || {
                Recorder::new(make(), thread_log.clone())
            })
            .expect("listen");
        let addr = reactor.listener_addr(listener).expect("listener address");
        tx.send((addr, reactor.handle()))
            .expect("test thread waits");
        reactor.run().expect("reactor run")
    });
    let (addr, handle) = rx.recv().expect("reactor started");
    Server {
        addr,
        handle,
        log,
        thread: Some(thread),
    }
}

impl Server {
    /// A blocking client connected to this server.
    pub fn client(&self) -> TcpStream {
        client(self.addr)
    }

    /// Starts an outbound connection from the server's reactor, recorded in
    /// the same log. Returns its id once the reactor has created it.
    pub fn connect<H: Handler + Send>(
        &self,
        addr: SocketAddr,
        opts: ConnectOptions,
        handler: H,
    ) -> ConnId {
        let log = self.log.clone();
        let (tx, rx) = mpsc::channel();
        self.handle
            .post(move |rc| {
                let id = rc.connect(addr, opts, Recorder::new(handler, log));
                let _ = tx.send(id.map_err(|e| e.to_string()));
            })
            .expect("reactor running");
        rx.recv_timeout(PATIENCE)
            .expect("the reactor ran the connect")
            .expect("connect created a socket")
    }
}

impl<A> Server<A> {
    /// Waits until the log satisfies `cond`.
    pub fn wait_log(&self, what: &str, cond: impl Fn(&Log) -> bool) {
        wait_until(what, || cond(&self.log));
    }

    /// Waits until the reactor holds no connections, stops it, and checks
    /// exactly-once `on_close`. Returns the final counters.
    pub fn finish(mut self) -> MetricsSnapshot {
        let handle = self.handle.clone();
        wait_until("the reactor holds no connections", || {
            handle.metrics().open == 0
        });
        let metrics = self.stop();
        assert_eq!(metrics.open, 0, "connections left open: {metrics:?}");
        self.log.assert_one_close_each();
        metrics
    }

    /// Stops the reactor (aborting what is open) and returns its counters.
    pub fn stop(&mut self) -> MetricsSnapshot {
        let _ = self.handle.stop();
        self.thread
            .take()
            .expect("not stopped yet")
            .join()
            .expect("reactor thread panicked")
    }
}

impl<A> Drop for Server<A> {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.handle.stop();
            let _ = t.join();
        }
    }
}

/// A blocking client with a read timeout, so a broken test fails instead of hanging.
pub fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Polls `cond` until it holds, failing the test after [`PATIENCE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    let mut pause = Duration::from_micros(100);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// `Read::read` that tries again when a signal interrupted the wait. A
/// socket with a read timeout (as [`client`] sets) reports any signal that
/// arrives while it waits as `Interrupted`, even one the process has no
/// handler for (its cgroup freezing and thawing it is one), and
/// `Read::read`, unlike `read_exact`, passes that on.
pub trait ReadRetrying: Read {
    fn read_retrying(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }
}

impl<R: Read + ?Sized> ReadRetrying for R {}

/// Reads until EOF; returns the bytes and how the stream ended.
pub fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, io::Result<()>) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (out, Err(e)),
        }
    }
}

/// Deterministic test data: byte `i` of the stream is a function of `i`.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

/// Writes `data` on a thread while the caller reads, so big payloads do not
/// deadlock on full buffers.
pub fn write_in_background(s: &TcpStream, data: Vec<u8>, shutdown: bool) -> JoinHandle<()> {
    let mut w = s.try_clone().unwrap();
    std::thread::spawn(move || {
        w.write_all(&data).expect("client write");
        if shutdown {
            w.shutdown(std::net::Shutdown::Write)
                .expect("client shutdown");
        }
    })
}

/// Sets `SO_LINGER` 0 and drops the stream: the peer gets RST.
pub fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// A port below the ephemeral range, bound (not listening) so that
/// connects to it are refused and nobody else takes it; listen on the
/// socket to open it.
pub fn refused_addr() -> (socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    for port in (21000..32000).step_by(97) {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port + std::process::id() as u16 % 97));
        if s.bind(&addr.into()).is_ok() {
            return (s, addr);
        }
    }
    panic!("no free port");
}
