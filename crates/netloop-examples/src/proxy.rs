//! The TCP proxy of the `proxy` example (`examples/proxy.rs`: `cargo run
//! --release --example proxy -- LISTEN_ADDR UPSTREAM_ADDR`).
//!
//! For each client the proxy connects to the upstream (5 s timeout; on
//! failure the client is closed and the classified error logged), then
//! copies bytes both ways:
//!
//! ```text
//!   client ──read──► Side(client) ──send──► [upstream queue] ──► upstream
//!   client ◄── [client queue] ◄──send── Side(upstream) ◄──read── upstream
//! ```
//!
//! - Backpressure, end to end: when a side's send queue passes its high
//!   water mark, the proxy stops reading from the other side, and resumes
//!   when the queue drains to the low mark. TCP flow control then slows the
//!   sender, so a pair holds at most about `high water + one read` per
//!   direction whatever the speeds (the hard cap is never reached).
//! - Half-close: a FIN from one side becomes `shutdown(SHUT_WR)` on the
//!   other once its queue is flushed; the other direction keeps flowing.
//!   A side closes when both its directions are done; when one side has
//!   closed cleanly, the other gets a lingering close (flush, FIN, wait for
//!   the peer's FIN), so no RST destroys data still in flight.
//! - A reset (or any error) on one side aborts the other.
//!
//! Each side acts on the other through `ctx.conn(peer_id)`: no shared
//! pointers between handlers. Logs go through the `log` crate (the example
//! sets up env_logger: `RUST_LOG=debug` shows every pair's close reasons
//! and peak queue).

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use netloop::bytes::BytesMut;
use netloop::{
    CloseReason, ConnId, ConnOptions, ConnectError, ConnectOptions, Ctx, Error, Handler,
    ListenOptions, ListenerId, Reactor,
};

/// Proxy settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where clients are forwarded to.
    pub upstream: SocketAddr,
    /// How long an upstream connect may take.
    pub connect_timeout: Duration,
    /// Send-queue size at which the other side stops being read.
    pub high_water: usize,
    /// Send-queue size at which it is read again.
    pub low_water: usize,
    /// Hard cap on either side's send queue (a safety net: backpressure
    /// keeps queues near the high water mark).
    pub max_send_queue: usize,
    /// How long the last side waits for its peer's FIN when closing.
    pub linger: Duration,
}

impl Config {
    /// Defaults for forwarding to `upstream`.
    pub fn new(upstream: SocketAddr) -> Config {
        Config {
            upstream,
            connect_timeout: Duration::from_secs(5),
            high_water: 256 * 1024,
            low_water: 64 * 1024,
            max_send_queue: 1024 * 1024,
            linger: Duration::from_secs(5),
        }
    }

    /// The connection options of both sides.
    pub fn conn_options(&self) -> ConnOptions {
        ConnOptions::default()
            .water_marks(self.high_water, self.low_water)
            .max_send_queue(self.max_send_queue)
            // A side left holding input (other side full) stops reading at this.
            .max_input(self.high_water)
    }
}

/// Counters of one proxy reactor (its shared state).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Clients accepted.
    pub clients: u64,
    /// Upstream connects that failed.
    pub connect_failures: u64,
    /// The most bytes any one side ever had queued.
    pub peak_queued: u64,
}

/// Listens on `listen` and forwards every client to `config.upstream`.
pub fn serve(
    reactor: &mut Reactor<Stats>,
    listen: SocketAddr,
    config: Config,
) -> io::Result<ListenerId> {
    let config = Rc::new(config);
    let opts = ListenOptions::default().conn(config.conn_options());
    reactor.listen(listen, opts, move || Side::client(config.clone()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Client,
    Upstream,
}

/// One side of a pair; `peer` names the other side.
pub struct Side {
    role: Role,
    peer: Option<ConnId>,
    config: Rc<Config>,
}

impl Side {
    /// The handler of a newly accepted client.
    pub fn client(config: Rc<Config>) -> Side {
        Side {
            role: Role::Client,
            peer: None,
            config,
        }
    }

    /// Sends `input` to the peer, keeping what it cannot take. Returns
    /// whether this side should stop reading for now.
    fn forward(&self, ctx: &mut Ctx<'_, Stats>, peer: ConnId, input: &mut BytesMut) -> bool {
        let mut other = ctx.reactor().conn(peer);
        match other.send(input) {
            Ok(()) => {
                input.clear();
                // Pause now rather than when the peer's on_high_water runs:
                // it bounds the overshoot to one read.
                other.queued().is_ok_and(|q| q >= self.config.high_water)
            }
            // Over the cap: keep the input; the peer's on_drain resumes us.
            Err(Error::QueueFull { .. }) => true,
            Err(e) => {
                // The peer is closed or closing: these bytes cannot be
                // delivered, so the client must not believe they were.
                log::debug!("{}: peer {peer} cannot take data ({e}): aborting", ctx.id());
                input.clear();
                ctx.abort();
                false
            }
        }
    }
}

impl Handler<Stats> for Side {
    fn on_open(&mut self, ctx: &mut Ctx<'_, Stats>) {
        if self.role == Role::Upstream {
            // The upstream is up: start reading the client.
            if let Some(peer) = self.peer {
                let _ = ctx.reactor().conn(peer).resume_read();
            }
            return;
        }
        ctx.reactor().shared().clients += 1;
        // Nothing to forward to yet: hold the client back until connected.
        ctx.pause_read();
        let upstream = Side {
            role: Role::Upstream,
            peer: Some(ctx.id()),
            config: self.config.clone(),
        };
        let opts = ConnectOptions::default()
            .timeout(self.config.connect_timeout)
            .conn(self.config.conn_options());
        match ctx.reactor().connect(self.config.upstream, opts, upstream) {
            Ok(id) => self.peer = Some(id),
            Err(e) => {
                log::warn!("{}: no upstream socket: {e}", ctx.id());
                ctx.close();
            }
        }
    }

    fn on_read(&mut self, ctx: &mut Ctx<'_, Stats>, input: &mut BytesMut) {
        let Some(peer) = self.peer else {
            input.clear();
            return;
        };
        if self.forward(ctx, peer, input) {
            ctx.pause_read();
        }
    }

    /// Our peer finished sending: pass the FIN on, after the queue.
    fn on_eof(&mut self, ctx: &mut Ctx<'_, Stats>) {
        let passed_on = self
            .peer
            .is_some_and(|p| ctx.reactor().conn(p).shutdown_write().is_ok());
        if !passed_on {
            ctx.close();
        }
    }

    fn on_high_water(&mut self, ctx: &mut Ctx<'_, Stats>, _queued: usize) {
        if let Some(peer) = self.peer {
            let _ = ctx.reactor().conn(peer).pause_read();
        }
    }

    fn on_drain(&mut self, ctx: &mut Ctx<'_, Stats>) {
        if let Some(peer) = self.peer {
            let _ = ctx.reactor().conn(peer).resume_read();
        }
    }

    fn on_connect_error(&mut self, ctx: &mut Ctx<'_, Stats>, error: &ConnectError) {
        ctx.reactor().shared().connect_failures += 1;
        let client = self.peer.map_or_else(|| "?".to_string(), |p| p.to_string());
        log::warn!("client {client}: upstream {error}; closing the client");
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, Stats>, reason: CloseReason) {
        let peak = ctx.stats().peak_queued;
        let stats = ctx.reactor().shared();
        stats.peak_queued = stats.peak_queued.max(peak);
        log::debug!(
            "{} ({:?}) closed: {reason}; peak queue {peak} bytes",
            ctx.id(),
            self.role
        );
        let Some(peer) = self.peer else { return };
        let mut other = ctx.reactor().conn(peer);
        if !other.is_open() {
            return;
        }
        let _ = match reason {
            // Our side ended cleanly: the other finishes what it has queued
            // and waits for its peer's FIN (reading, so it must not be paused).
            r if r.is_graceful() => {
                let _ = other.resume_read();
                other.linger_close(self.config.linger)
            }
            // Nothing was ever forwarded: a plain close tells the client.
            CloseReason::ConnectFailed(_) => other.close(),
            // Reset, error, timeout: the stream is broken; break the other too.
            _ => other.abort(),
        };
    }
}
