//! The load generator, built on netloop: `conns` connections, each keeping
//! `depth` messages of `size` bytes in flight against an echo server
//! (ping-pong at depth 1, pipelined above), or a churn of short
//! connections (connect, one echo, close).
//!
//! The client's reactor runs on the caller's thread, turn by turn, so a
//! benchmark can ask for exactly "N more messages" and time them.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netloop::bytes::BytesMut;
use netloop::{CloseReason, ConnectOptions, Ctx, Handler, Reactor, TimerId};

use crate::histogram::Histogram;

/// What the connections do.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Connections opened.
    pub conns: usize,
    /// Bytes per message.
    pub size: usize,
    /// Messages in flight per connection (1: ping-pong).
    pub depth: usize,
    /// Messages per connection before it closes (`None`: until stopped).
    pub per_conn: Option<u64>,
    /// Paced load: each connection sends at most once per `period`
    /// (connections staggered over it), so the offered rate is
    /// `conns / period` whatever the server's speed, as long as it keeps
    /// up. `None`: each echo is answered at once (closed loop).
    pub period: Option<Duration>,
}

/// Shared by all client connections (the reactor's state).
#[derive(Default)]
pub struct Stats {
    /// Send and receive times, in nanoseconds.
    pub clock: TurnNanos,
    /// Echoes received in full.
    pub completed: u64,
    /// Round-trip times of the echoes received while `record` is on.
    pub latency: Histogram,
    /// Record latencies (off during warm-up).
    pub record: bool,
    /// Connections opened so far.
    pub opened: usize,
    /// Connections closed so far.
    pub closed: usize,
    /// Connections that ended with anything but a clean close.
    pub failed: usize,
    /// Churn: start a new connection when one closes.
    pub churning: bool,
}

/// The reactor's clock (`Ctx::now`, read once per turn) in nanoseconds
/// since the client started, converted once per turn: `Instant`
/// arithmetic costs some 50 instructions, and every message would pay it
/// twice (stamp, latency).
pub struct TurnNanos {
    start: Instant,
    last: Instant,
    last_nanos: u64,
}

impl Default for TurnNanos {
    fn default() -> Self {
        let start = Instant::now();
        TurnNanos {
            start,
            last: start,
            last_nanos: 0,
        }
    }
}

impl TurnNanos {
    /// `t` in nanoseconds since the start.
    pub fn of(&mut self, t: Instant) -> u64 {
        if t != self.last {
            self.last = t;
            self.last_nanos = t.saturating_duration_since(self.start).as_nanos() as u64;
        }
        self.last_nanos
    }
}

/// One ping-pong / pipelined connection.
struct Pinger {
    size: usize,
    depth: usize,
    /// Messages still to send (`u64::MAX`: unlimited).
    to_send: u64,
    in_flight: usize,
    /// Bytes of the echo of the oldest in-flight message received so far.
    partial: usize,
    /// When each in-flight message was sent: a ring of `depth` slots, the
    /// oldest at `oldest`.
    sent_at: Box<[u64]>,
    oldest: usize,
    /// `depth * size` bytes of payload.
    payload: Vec<u8>,
    /// Paced: the time between sends, when the next one is due, and the
    /// timer that will send it.
    period: Option<Duration>,
    next_send: Instant,
    pacer: Option<TimerId>,
    /// Plain ping-pong: depth 1, unpaced, unlimited (the hot path).
    ping_pong: bool,
}

impl Pinger {
    /// The `index`-th of `spec.conns` connections (paced ones start at
    /// staggered times).
    fn new(spec: &Spec, index: usize) -> Pinger {
        let stagger = spec.period.map_or(Duration::ZERO, |p| {
            p.mul_f64(index as f64 / spec.conns as f64)
        });
        Pinger {
            period: spec.period,
            next_send: Instant::now() + stagger,
            pacer: None,
            ping_pong: spec.depth == 1 && spec.period.is_none() && spec.per_conn.is_none(),
            size: spec.size,
            depth: spec.depth,
            to_send: spec.per_conn.unwrap_or(u64::MAX),
            in_flight: 0,
            partial: 0,
            sent_at: vec![0; spec.depth].into_boxed_slice(),
            oldest: 0,
            payload: vec![0x5a; spec.size * spec.depth],
        }
    }

    /// Sends now (closed loop), or when the pace allows (paced).
    fn send_next(&mut self, ctx: &mut Ctx<'_, Stats>, now: Instant) {
        let Some(period) = self.period else {
            return self.refill(ctx, now);
        };
        if self.pacer.is_some() || self.in_flight >= self.depth {
            return;
        }
        if self.next_send <= now {
            self.next_send = self.next_send.max(now - period) + period;
            return self.refill(ctx, now);
        }
        self.pacer = Some(ctx.set_timer(self.next_send - now));
    }

    /// Tops the connection up to `depth` messages in flight, in one send.
    fn refill(&mut self, ctx: &mut Ctx<'_, Stats>, now: Instant) {
        let room = self.depth - self.in_flight;
        let n = if self.to_send < room as u64 {
            self.to_send as usize
        } else {
            room
        };
        if n == 0 {
            if self.in_flight == 0 {
                ctx.close();
            }
            return;
        }
        if let Err(error) = ctx.send(&self.payload[..n * self.size]) {
            drop(error);
            ctx.abort();
            return;
        }
        if self.to_send != u64::MAX {
            self.to_send -= n as u64;
        }
        let stamp = ctx.reactor().shared().clock.of(now);
        for _ in 0..n {
            let slot = self.slot(self.in_flight);
            self.sent_at[slot] = stamp;
            self.in_flight += 1;
        }
    }

    /// Plain ping-pong, the echo back whole: records it and sends the next
    /// ping. Kept short, and stamped with the turn's clock (no clock read
    /// per message): in a closed loop on two cores the slower side sets the
    /// pace and makes the other wait, and that must be the server under
    /// test, not the load generator (BENCHMARKS.md).
    fn ping_again(&mut self, ctx: &mut Ctx<'_, Stats>) {
        let now = ctx.now();
        let stats = ctx.reactor().shared();
        let now = stats.clock.of(now);
        stats.completed += 1;
        if stats.record {
            stats
                .latency
                .record_nanos(now.saturating_sub(self.sent_at[0]));
        }
        self.partial = 0;
        self.sent_at[0] = now;
        if let Err(error) = ctx.send(&self.payload[..self.size]) {
            drop(error);
            ctx.abort();
        }
    }

    /// The ring slot `k` places after the oldest.
    fn slot(&self, k: usize) -> usize {
        let i = self.oldest + k;
        if i >= self.depth { i - self.depth } else { i }
    }

    /// Forgets the oldest in-flight message; returns when it was sent.
    fn pop_oldest(&mut self) -> u64 {
        let sent = self.sent_at[self.oldest];
        self.oldest = self.slot(1);
        self.in_flight -= 1;
        sent
    }
}

impl Handler<Stats> for Pinger {
    fn on_open(&mut self, ctx: &mut Ctx<'_, Stats>) {
        ctx.reactor().shared().opened += 1;
        let now = ctx.now();
        self.send_next(ctx, now);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Stats>, timer: TimerId, _tag: u32) {
        if self.pacer == Some(timer) {
            self.pacer = None;
            // Timers fire on millisecond ticks: due now at the latest.
            let now = Instant::now();
            self.next_send = self.next_send.min(now);
            self.send_next(ctx, now);
        }
    }

    fn on_read(&mut self, ctx: &mut Ctx<'_, Stats>, input: &mut BytesMut) {
        let bytes = self.partial + input.len();
        input.clear();
        if self.ping_pong && bytes == self.size {
            return self.ping_again(ctx);
        }
        let done = bytes / self.size;
        self.partial = bytes % self.size;
        if done == 0 {
            return;
        }
        let now = ctx.now();
        let stats = ctx.reactor().shared();
        let now_nanos = stats.clock.of(now);
        stats.completed += done as u64;
        for _ in 0..done.min(self.in_flight) {
            let sent = self.pop_oldest();
            if stats.record {
                stats.latency.record_nanos(now_nanos.saturating_sub(sent));
            }
        }
        self.send_next(ctx, now);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, Stats>, reason: CloseReason) {
        let stats = ctx.reactor().shared();
        stats.closed += 1;
        if !reason.is_graceful() {
            stats.failed += 1;
        }
    }
}

/// One churn connection: connect, send `size` bytes, wait for the echo,
/// close; then (while churning) a new one takes its place.
struct Churner {
    addr: SocketAddr,
    size: usize,
    received: usize,
    started: Instant,
}

impl Churner {
    fn start(ctx: &mut netloop::ReactorCtx<'_, Stats>, addr: SocketAddr, size: usize) {
        let churner = Churner {
            addr,
            size,
            received: 0,
            started: Instant::now(),
        };
        if ctx
            .connect(addr, ConnectOptions::default(), churner)
            .is_err()
        {
            ctx.shared().failed += 1;
        }
    }
}

const CHURN_PAYLOAD: [u8; 64] = [0x5a; 64];

impl Handler<Stats> for Churner {
    fn on_open(&mut self, ctx: &mut Ctx<'_, Stats>) {
        ctx.reactor().shared().opened += 1;
        if ctx.send(&CHURN_PAYLOAD[..self.size]).is_err() {
            ctx.abort();
        }
    }

    fn on_read(&mut self, ctx: &mut Ctx<'_, Stats>, input: &mut BytesMut) {
        self.received += input.len();
        input.clear();
        if self.received >= self.size {
            let stats = ctx.reactor().shared();
            stats.completed += 1;
            if stats.record {
                stats.latency.record(self.started.elapsed());
            }
            ctx.close();
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, Stats>, reason: CloseReason) {
        let stats = ctx.reactor().shared();
        stats.closed += 1;
        if !reason.is_graceful() {
            stats.failed += 1;
        }
        if stats.churning {
            Churner::start(ctx.reactor(), self.addr, self.size);
        }
    }
}

/// A client reactor with its connections.
pub struct Client {
    /// The reactor, run turn by turn on the caller's thread.
    pub reactor: Reactor<Stats>,
    conns: usize,
}

/// How long setting up or tearing down may take before it is an error.
const PATIENCE: Duration = Duration::from_secs(60);

impl Client {
    /// Opens `spec.conns` connections to `addr` and waits until all are up.
    pub fn connect(addr: SocketAddr, spec: Spec) -> io::Result<Client> {
        let mut reactor = Reactor::with_state(Stats::default())?;
        for index in 0..spec.conns {
            reactor.connect(addr, ConnectOptions::default(), Pinger::new(&spec, index))?;
        }
        let mut client = Client {
            reactor,
            conns: spec.conns,
        };
        client.turn_until("connections opened", |s| s.opened + s.closed >= spec.conns)?;
        if client.stats().failed > 0 {
            return Err(io::Error::other("some connections failed to open"));
        }
        Ok(client)
    }

    /// Starts `parallel` churn connections of `size`-byte messages (at most 64).
    pub fn churn(addr: SocketAddr, parallel: usize, size: usize) -> io::Result<Client> {
        let mut reactor = Reactor::with_state(Stats {
            churning: true,
            ..Stats::default()
        })?;
        let size = size.min(CHURN_PAYLOAD.len());
        for _ in 0..parallel {
            Churner::start(&mut reactor.ctx(), addr, size);
        }
        Ok(Client {
            reactor,
            conns: parallel,
        })
    }

    /// The counters (and the `record` switch).
    pub fn stats(&mut self) -> &mut Stats {
        self.reactor.shared()
    }

    /// Runs until `n` more messages completed; returns how long it took.
    pub fn run_messages(&mut self, n: u64) -> io::Result<Duration> {
        let target = self.stats().completed + n;
        let start = Instant::now();
        self.turn_until("messages completed", |s| s.completed >= target)?;
        Ok(start.elapsed())
    }

    /// Runs for `d`; returns the messages completed meanwhile.
    pub fn run_for(&mut self, d: Duration) -> io::Result<u64> {
        let before = self.stats().completed;
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.reactor.turn(Some(Duration::from_millis(10)))?;
            self.check_failures()?;
        }
        Ok(self.stats().completed - before)
    }

    /// Runs until every connection has closed by itself (`per_conn` limits).
    pub fn run_to_end(&mut self) -> io::Result<()> {
        let conns = self.conns;
        self.turn_until("connections finished", |s| s.closed >= conns)
    }

    /// Closes every connection (flushing what is queued) and waits until
    /// all are gone.
    pub fn shut_down(mut self) -> io::Result<()> {
        self.stats().churning = false;
        let mut rc = self.reactor.ctx();
        let ids: Vec<_> = rc.conn_ids().collect();
        for id in ids {
            let _ = rc.conn(id).close();
        }
        let deadline = Instant::now() + PATIENCE;
        while self.reactor.conn_count() > 0 {
            self.reactor.turn(Some(Duration::from_millis(100)))?;
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connections did not close",
                ));
            }
        }
        Ok(())
    }

    fn turn_until(&mut self, what: &str, mut done: impl FnMut(&Stats) -> bool) -> io::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        while !done(self.reactor.shared()) {
            self.reactor.turn(Some(Duration::from_millis(100)))?;
            self.check_failures()?;
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out waiting until {what}"),
                ));
            }
        }
        Ok(())
    }

    fn check_failures(&mut self) -> io::Result<()> {
        match self.stats().failed {
            0 => Ok(()),
            n => Err(io::Error::other(format!("{n} connections failed"))),
        }
    }
}
