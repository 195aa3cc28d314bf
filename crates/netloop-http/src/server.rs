//! The HTTP server on netloop: one [`HttpConn`] handler per connection, one
//! [`HttpState`] per reactor (the cached `Date` and the benchmark's answer
//! built on it, a reused output buffer, counters).
//!
//! Per batch of input (what one `on_read` hands over), every complete
//! request is answered in order into one buffer, and the buffer goes out
//! with one `send`, so 16 pipelined requests read together cost one write.
//! A batch is cut short at [`BATCH_BYTES`] of output, and reading pauses
//! while the send queue is above its high water mark: a client that sends
//! requests without reading the answers holds at most the high water mark
//! plus one batch in the server, and is aborted after the write-stall
//! timeout.
//!
//! A client that sent `Expect: 100-continue` gets `100 Continue` once the
//! head is in, or at once the final status of a request that would be
//! refused anyway (then the connection closes without reading the body).
//!
//! Bad input gets its status (see [`FrameError::status`]) with
//! `Connection: close`, then a lingering close (so the answer is not
//! destroyed by an RST for unread input). A request that does not complete
//! within the header timeout of its first byte gets 408 and the same close.

use std::sync::Arc;
use std::time::Duration;

use netloop::bytes::{Buf, BytesMut};
use netloop::{CloseReason, ConnOptions, Ctx, Error, Handler, ReactorCtx, ServerHandle, TimerId};

use crate::date::HttpDate;
use crate::framing::{self, FrameError, Limits, Parse, Request};
use crate::metrics::Exporter;
use crate::respond::{self, Persist, Prebuilt};

/// Output size at which a batch is sent before more requests are answered.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Server settings (the defaults suit a benchmark server facing the internet).
#[derive(Clone, Debug)]
pub struct Config {
    /// Request size limits.
    pub limits: Limits,
    /// A request must be complete this long after its first byte arrived
    /// (the first request: after the connect). Then: 408 and close.
    pub header_timeout: Duration,
    /// A keep-alive connection without input for this long is closed.
    pub idle_timeout: Duration,
    /// A connection whose queued responses do not move for this long is aborted.
    pub write_stall_timeout: Duration,
    /// Send-queue size at which reading pauses (resumes at a quarter of it).
    pub high_water: usize,
    /// Hard cap on queued bytes: a send past it aborts the connection.
    pub max_send_queue: usize,
    /// How long a closing connection waits for the client's FIN.
    pub linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_stall_timeout: Duration::from_secs(30),
            high_water: 256 * 1024,
            max_send_queue: 1024 * 1024,
            linger: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The connection options these settings imply.
    pub fn conn_options(&self) -> ConnOptions {
        ConnOptions::default()
            .water_marks(self.high_water, self.high_water / 4)
            .max_send_queue(self.max_send_queue.max(self.high_water + BATCH_BYTES))
            .on_overflow(netloop::OnOverflow::Abort)
            // Above the framing limit, so the framing's 413/431 come first.
            .max_input(self.limits.max_request() + 64 * 1024)
            .idle_timeout(self.idle_timeout)
            .write_stall_timeout(self.write_stall_timeout)
    }
}

/// Counters of one reactor's HTTP traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests answered (errors included).
    pub responses: u64,
    /// `on_read` calls that produced at least one response.
    pub batches: u64,
    /// `send` calls made.
    pub writes: u64,
    /// Error responses for bad input or timeouts (4xx/5xx from framing).
    pub rejected: u64,
    /// The most bytes any closed connection ever had queued.
    pub peak_queued: u64,
}

/// What the handlers of one reactor share.
pub struct HttpState {
    /// The `Date` and the benchmark's answer built on it; refreshed once
    /// per second by a reactor timer. Boxed, so a batch takes it (and puts
    /// it back) by moving a pointer; `None` only during a batch.
    prebuilt: Option<Box<Prebuilt>>,
    /// Responses of the current batch; reused, so steady state allocates nothing.
    out: Vec<u8>,
    /// Counters.
    pub stats: Stats,
    /// Serves `GET /metrics` when set (see [`serve_metrics`]).
    pub exporter: Option<Exporter>,
}

impl HttpState {
    /// Fresh state with the current date.
    pub fn new() -> HttpState {
        HttpState {
            prebuilt: Some(Box::new(Prebuilt::new(HttpDate::now()))),
            out: Vec::with_capacity(BATCH_BYTES),
            stats: Stats::default(),
            exporter: None,
        }
    }

    /// The `Date` the responses carry.
    pub fn date(&self) -> HttpDate {
        self.prebuilt
            .as_ref()
            .map_or_else(HttpDate::now, |prebuilt| *prebuilt.date())
    }

    /// Sets the `Date` the responses carry (and rebuilds what is built on it).
    pub fn set_date(&mut self, date: HttpDate) {
        match &mut self.prebuilt {
            Some(prebuilt) => **prebuilt = Prebuilt::new(date),
            None => self.prebuilt = Some(Box::new(Prebuilt::new(date))),
        }
    }

    /// The prebuilt answers, taken for a batch: put them back after it. (If
    /// a batch never did, after a panic, they are built anew.)
    fn take_prebuilt(&mut self) -> Box<Prebuilt> {
        self.prebuilt
            .take()
            .unwrap_or_else(|| Box::new(Prebuilt::new(HttpDate::now())))
    }
}

impl Default for HttpState {
    fn default() -> Self {
        HttpState::new()
    }
}

/// Starts the reactor timer that keeps [`HttpState::date`] current (call
/// once per reactor: `reactor.ctx()`, or `ServerHandle::post_all`).
pub fn refresh_date_every_second(rc: &mut ReactorCtx<'_, HttpState>) {
    rc.shared().set_date(HttpDate::now());
    rc.schedule_repeating(Duration::from_secs(1), |rc| {
        rc.shared().set_date(HttpDate::now())
    });
}

/// Where the metrics are served.
pub const METRICS_PATH: &str = "/metrics";

/// Serves every reactor's metrics at [`METRICS_PATH`] from each of them
/// (call once, after the reactors started).
///
/// ```no_run
/// # fn f(server: netloop::ServerHandle<netloop_http::server::HttpState>) {
/// netloop_http::server::serve_metrics(&server).unwrap();
/// # }
/// ```
pub fn serve_metrics(server: &ServerHandle<HttpState>) -> netloop::Result<()> {
    let handles = server.reactors().to_vec();
    server.post_all(move |rc| rc.shared().exporter = Some(Exporter::new(handles.clone())))
}

/// Answers `GET`/`HEAD` [`METRICS_PATH`] when this reactor serves metrics;
/// false if the request is not that.
fn answer_metrics(
    ctx: &mut Ctx<'_, HttpState>,
    request: &Request<'_>,
    out: &mut Vec<u8>,
    date: &HttpDate,
) -> bool {
    if request.path != METRICS_PATH || !matches!(request.method, "GET" | "HEAD") {
        return false;
    }
    let Some(exporter) = ctx.reactor().shared().exporter.as_mut() else {
        return false;
    };
    let content_type = b"application/openmetrics-text; version=1.0.0; charset=utf-8";
    respond::ok_with(
        out,
        request,
        date,
        content_type,
        exporter.render().as_bytes(),
    );
    true
}

/// How a batch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchEnd {
    /// All input consumed.
    Drained,
    /// A request is incomplete: wait for more, under the header timeout.
    Partial,
    /// Reading paused: the client is not taking responses fast enough.
    Backlog,
    /// The connection is to close after what is queued.
    Close,
}

/// One HTTP connection.
pub struct HttpConn {
    config: Arc<Config>,
    /// The header timeout, armed while a request is incomplete.
    timer: Option<TimerId>,
    /// A request has begun and is not complete yet.
    partial: bool,
    /// `100 Continue` was sent for the request in progress.
    continued: bool,
    /// The server is shutting down: close once no request is in progress.
    draining: bool,
}

impl HttpConn {
    /// A handler for a new connection.
    pub fn new(config: Arc<Config>) -> HttpConn {
        HttpConn {
            config,
            timer: None,
            partial: false,
            continued: false,
            draining: false,
        }
    }

    /// Answers every complete request at the start of `input` into `out`,
    /// sending whenever a batch is full. Returns how far it got and why it stopped.
    fn answer(
        &mut self,
        ctx: &mut Ctx<'_, HttpState>,
        input: &[u8],
        out: &mut Vec<u8>,
        prebuilt: &Prebuilt,
    ) -> (usize, u64, BatchEnd) {
        let date = prebuilt.date();
        let limits = self.config.limits;
        let (mut used, mut served) = (0, 0u64);
        while used < input.len() {
            match framing::parse(&input[used..], &limits) {
                Ok(Parse::Complete { request, len }) => {
                    used += len;
                    served += 1;
                    self.continued = false;
                    if !answer_metrics(ctx, &request, out, date) {
                        respond::respond_prebuilt(out, &request, prebuilt);
                    }
                    if !request.keep_alive {
                        return (used, served, BatchEnd::Close);
                    }
                }
                Ok(Parse::Partial) => return (used, served, BatchEnd::Partial),
                Ok(Parse::HeadOnly { request }) => {
                    let (answered, end) = self.expectation(&request, out, date);
                    return (used, served + answered, end);
                }
                Err(e) => {
                    reject(ctx, e, out, date);
                    return (used, served + 1, BatchEnd::Close);
                }
            }
            if out.len() >= BATCH_BYTES {
                send(ctx, out);
                if ctx.queued() >= self.config.high_water {
                    ctx.pause_read();
                    return (used, served, BatchEnd::Backlog);
                }
            }
        }
        (used, served, BatchEnd::Drained)
    }

    /// The client waits for `100 Continue` before sending the body of
    /// `request`: say it once per request, or, if the request will be
    /// refused anyway, answer with that status now and close (its body is
    /// never read). Returns the responses written and how the batch ends.
    fn expectation(
        &mut self,
        request: &Request<'_>,
        out: &mut Vec<u8>,
        date: &HttpDate,
    ) -> (u64, BatchEnd) {
        if self.continued {
            return (0, BatchEnd::Partial);
        }
        let status = respond::status_of(request);
        if status != 200 {
            respond::error(out, status, date, Persist::Close);
            return (1, BatchEnd::Close);
        }
        respond::continue_100(out);
        self.continued = true;
        (0, BatchEnd::Partial)
    }

    /// Arms the header timeout, or restarts it when requests completed
    /// since it was armed (the deadline is per request).
    fn arm_timer(&mut self, ctx: &mut Ctx<'_, HttpState>, restart: bool) {
        if let Some(t) = self.timer.filter(|_| restart) {
            ctx.cancel_timer(t);
            self.timer = None;
        }
        if self.timer.is_none() {
            self.timer = Some(ctx.set_timer(self.config.header_timeout));
        }
    }

    fn disarm_timer(&mut self, ctx: &mut Ctx<'_, HttpState>) {
        if let Some(t) = self.timer.take() {
            ctx.cancel_timer(t);
        }
    }
}

impl Handler<HttpState> for HttpConn {
    fn on_open(&mut self, ctx: &mut Ctx<'_, HttpState>) {
        self.arm_timer(ctx, false);
    }

    fn on_read(&mut self, ctx: &mut Ctx<'_, HttpState>, input: &mut BytesMut) {
        let shared = ctx.reactor().shared();
        let mut out = std::mem::take(&mut shared.out);
        let prebuilt = shared.take_prebuilt();
        let (used, served, end) = self.answer(ctx, input, &mut out, &prebuilt);
        let shared = ctx.reactor().shared();
        shared.prebuilt = Some(prebuilt);
        if served > 0 {
            shared.stats.responses += served;
            shared.stats.batches += 1;
        }
        send(ctx, &mut out);
        ctx.reactor().shared().out = out;
        self.partial = end == BatchEnd::Partial;
        let end = match end {
            BatchEnd::Drained if self.draining => BatchEnd::Close,
            end => end,
        };
        match end {
            BatchEnd::Close => {
                input.clear();
                self.disarm_timer(ctx);
                ctx.linger_close(self.config.linger);
                return;
            }
            BatchEnd::Partial => self.arm_timer(ctx, served > 0),
            BatchEnd::Drained | BatchEnd::Backlog => self.disarm_timer(ctx),
        }
        if used == input.len() {
            // As advance would, but keeps the buffer's room: when it is the
            // loop's scratch buffer, the next read need not reclaim it.
            input.clear();
        } else {
            input.advance(used);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, HttpState>, timer: TimerId, _tag: u32) {
        if self.timer != Some(timer) {
            return;
        }
        self.timer = None;
        log::debug!(
            "{}: no complete request after {:?}: 408",
            ctx.id(),
            self.config.header_timeout
        );
        let mut out = std::mem::take(&mut ctx.reactor().shared().out);
        let date = ctx.reactor().shared().date();
        respond::error(&mut out, 408, &date, Persist::Close);
        ctx.reactor().shared().stats.rejected += 1;
        send(ctx, &mut out);
        ctx.reactor().shared().out = out;
        ctx.linger_close(self.config.linger);
    }

    /// Graceful shutdown: a connection between requests closes now (after
    /// flushing its answers); one in the middle of a request closes after
    /// answering it.
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, HttpState>) {
        self.draining = true;
        if !self.partial {
            ctx.close();
        }
    }

    fn on_high_water(&mut self, ctx: &mut Ctx<'_, HttpState>, _queued: usize) {
        ctx.pause_read();
    }

    fn on_drain(&mut self, ctx: &mut Ctx<'_, HttpState>) {
        ctx.resume_read();
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, HttpState>, reason: CloseReason) {
        let peak = ctx.stats().peak_queued;
        let stats = &mut ctx.reactor().shared().stats;
        stats.peak_queued = stats.peak_queued.max(peak);
        match reason {
            CloseReason::WriteStall | CloseReason::Overflow => {
                log::info!(
                    "{}: closed, client not reading responses ({reason})",
                    ctx.id()
                )
            }
            _ => log::trace!("{}: closed ({reason})", ctx.id()),
        }
    }
}

/// Writes the error response for bad input.
fn reject(ctx: &mut Ctx<'_, HttpState>, err: FrameError, out: &mut Vec<u8>, date: &HttpDate) {
    log::debug!("{}: bad request: {err}: {}", ctx.id(), err.status());
    respond::error(out, err.status(), date, Persist::Close);
    ctx.reactor().shared().stats.rejected += 1;
}

/// Sends and clears `out` (one `send`, counted).
fn send(ctx: &mut Ctx<'_, HttpState>, out: &mut Vec<u8>) {
    if out.is_empty() {
        return;
    }
    ctx.reactor().shared().stats.writes += 1;
    match ctx.send(out) {
        Ok(()) | Err(Error::WriteClosed) => {}
        // Past the hard cap: the connection is being aborted (OnOverflow::Abort).
        Err(e) => log::debug!("{}: response dropped: {e}", ctx.id()),
    }
    out.clear();
}
