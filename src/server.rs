//! Many cores: one reactor per thread, each with its own `SO_REUSEPORT`
//! listener on the same address.
//!
//! Nothing is shared between the reactors: each thread builds its own
//! [`Reactor`] (with its index, carried by every [`ConnId`] it hands out),
//! its own listening socket and its own state, and calls the user's handler
//! factory for the connections it accepts. The kernel spreads incoming
//! connections over the listening sockets by a hash of the 4-tuple, so a
//! connection stays on the thread that accepted it for its whole life.
//! Other threads talk to the reactors through a [`ServerHandle`], which
//! routes a request for a connection to the reactor that owns it.
//!
//! ```text
//!            clients
//!               │  SYN: the kernel picks a socket of the group by hash
//!      ┌────────┼──────────┐
//!      ▼        ▼          ▼
//!  listener0 listener1 … listenerN-1   (SO_REUSEPORT, same address)
//!  reactor0  reactor1  … reactorN-1    (one thread each, nothing shared)
//!      ▲        ▲          ▲
//!      └── ServerHandle: ConnId::reactor() picks the ReactorHandle
//! ```
//!
//! Non-guarantees: the spread is by hash, not by load (a few long-lived
//! busy connections can land on one thread); a reactor that stops closes
//! its listening socket, and connections still in its accept queue are
//! reset by the kernel. Any process of the same user can join an
//! `SO_REUSEPORT` group by binding the same address, and will then receive
//! a share of the connections.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use bytes::Bytes;

use crate::conn::ConnStats;
use crate::error::{Error, Result};
use crate::metrics::MetricsSnapshot;
use crate::reactor::Reactor;
use crate::reactor::ctx::ReactorCtx;
use crate::reactor::handle::ReactorHandle;
use crate::reactor::handler::Handler;
use crate::reactor::listener::ListenOptions;
use crate::sys::{PeerCred, TcpInfo};
use crate::token::ConnId;

/// Most reactors a server can have: a [`ConnId`] keeps the index in a byte.
pub const MAX_REACTORS: usize = 256;

/// Makes the state of reactor `index`.
type StateFactory<S> = Arc<dyn Fn(usize) -> S + Send + Sync>;

/// Runs on reactor `index`'s loop once the server has started
/// ([`ServerBuilder::on_start`]).
pub(crate) type StartHook<S> =
    Arc<dyn Fn(usize, &mut ReactorCtx<'_, S>, &ServerHandle<S>) + Send + Sync>;

/// Configures and starts a server of N reactors; see [`start`](Self::start).
///
/// ```no_run
/// use std::time::Duration;
/// use netloop::{ListenOptions, ServerBuilder, handler::Echo};
///
/// let server = ServerBuilder::new("127.0.0.1:7000".parse().unwrap())
///     .threads(4)
///     .listen_options(ListenOptions::default().max_connections(10_000))
///     .start(|| Echo)?;
/// // ... later, from any thread:
/// server.shutdown(Duration::from_secs(5))?;
/// let summary = server.join()?;
/// println!("served {} connections", summary.total.accepted);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ServerBuilder<S = ()> {
    addr: SocketAddr,
    threads: Option<usize>,
    opts: ListenOptions,
    state: StateFactory<S>,
    callback_timing: bool,
    thread_name: String,
    pin_threads: bool,
    /// Listening sockets handed in, served instead of binding `addr`.
    inherited: Vec<std::net::TcpListener>,
    on_start: Option<StartHook<S>>,
}

impl ServerBuilder<()> {
    /// A server on `addr` (port 0 picks a free port, the same for all
    /// reactors), with one reactor per core and no shared state.
    pub fn new(addr: SocketAddr) -> Self {
        ServerBuilder {
            addr,
            threads: None,
            opts: ListenOptions::default(),
            state: Arc::new(|_| ()),
            callback_timing: false,
            thread_name: "netloop".to_owned(),
            pin_threads: false,
            inherited: Vec::new(),
            on_start: None,
        }
    }
}

impl<S: 'static> ServerBuilder<S> {
    /// Number of reactor threads (default: the number of cores the process
    /// may use, [`std::thread::available_parallelism`]). At most
    /// [`MAX_REACTORS`]; zero is refused by [`start`](Self::start).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// Options of every reactor's listener and of the connections they
    /// accept. `reuse_port` is switched on when there is more than one
    /// reactor.
    pub fn listen_options(mut self, opts: ListenOptions) -> Self {
        self.opts = opts;
        self
    }

    /// Gives each reactor its own state, made on its thread by
    /// `factory(index)` (so `T` need not be `Send`). Drops an
    /// [`on_start`](Self::on_start) hook set before (it was for the old
    /// state type): set the state first.
    pub fn state<T, F>(self, factory: F) -> ServerBuilder<T>
    where
        T: 'static,
        F: Fn(usize) -> T + Send + Sync + 'static,
    {
        ServerBuilder {
            addr: self.addr,
            threads: self.threads,
            opts: self.opts,
            state: Arc::new(factory),
            callback_timing: self.callback_timing,
            thread_name: self.thread_name,
            pin_threads: self.pin_threads,
            inherited: self.inherited,
            on_start: None,
        }
    }

    /// Serves these listening sockets instead of binding the address given
    /// to [`new`](ServerBuilder::new): sockets inherited at start
    /// ([`activation::inherited_listeners`](crate::activation::inherited_listeners))
    /// or made by other code. Reactor `i` serves sockets `i`, `i + n`, ...
    /// of the `n` reactors; one left without gets a descriptor of socket `i
    /// % len` (several reactors then accept from the same socket). Their
    /// address, backlog and `reuse_*` are their own; the rest of the
    /// [`listen_options`](Self::listen_options) applies. No sockets: bind
    /// as usual.
    ///
    /// ```
    /// use netloop::{ServerBuilder, handler::Echo};
    /// let held = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = held.local_addr()?;
    /// let server = ServerBuilder::new("0.0.0.0:0".parse().unwrap())
    ///     .threads(2)
    ///     .listeners(vec![held])
    ///     .start(|| Echo)?;
    /// assert_eq!(server.local_addr(), addr);
    /// server.stop().unwrap();
    /// server.join()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listeners(mut self, listeners: Vec<std::net::TcpListener>) -> Self {
        self.inherited = listeners;
        self
    }

    /// Times callbacks into the metrics from the start; see
    /// [`Reactor::set_callback_timing`].
    pub fn callback_timing(mut self, on: bool) -> Self {
        self.callback_timing = on;
        self
    }

    /// Pins reactor `i` to the `i`-th CPU that the thread calling
    /// [`start`](Self::start) may use, normally the process's CPUs
    /// (wrapping around when there are more reactors than CPUs), so each reactor keeps
    /// its caches and its sockets' kernel data on one core. Off by default:
    /// leave it off when other busy threads share the machine, since a pinned
    /// reactor cannot move away from them. [`start`](Self::start) fails if
    /// the kernel refuses the affinity.
    ///
    /// ```
    /// use netloop::{ServerBuilder, handler::Echo};
    ///
    /// let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
    ///     .threads(2)
    ///     .pin_threads(true)
    ///     .start(|| Echo)?;
    /// server.stop()?;
    /// server.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pin_threads(mut self, on: bool) -> Self {
        self.pin_threads = on;
        self
    }

    /// Runs `hook(index, ctx, server)` on every reactor's loop once the
    /// server has started (in its first turn, with the [`ServerHandle`]
    /// that [`start`](Self::start) returns): the place to register an
    /// event source ([`ReactorCtx::register_source`]) or a reactor timer
    /// on some or all reactors. A hook that panics is logged and counted
    /// in the reactor's [`panics`](MetricsSnapshot::panics).
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use netloop::{ServerBuilder, handler::Echo};
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let server = ServerBuilder::new("127.0.0.1:0".parse()?)
    ///     .threads(2)
    ///     .on_start(move |index, rc, _server| {
    ///         let _ = tx.lock().unwrap().send((index, rc.conn_count()));
    ///     })
    ///     .start(|| Echo)?;
    /// let mut seen = vec![rx.recv()?, rx.recv()?];
    /// seen.sort();
    /// assert_eq!(seen, [(0, 0), (1, 0)]);
    /// server.stop()?;
    /// server.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_start<F>(mut self, hook: F) -> Self
    where
        F: Fn(usize, &mut ReactorCtx<'_, S>, &ServerHandle<S>) + Send + Sync + 'static,
    {
        self.on_start = Some(Arc::new(hook));
        self
    }

    /// Prefix of the threads' names (`PREFIX-INDEX`; default `netloop`).
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// The number of reactors [`start`](Self::start) will run.
    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_REACTORS))
        })
    }

    /// Starts the reactors, one thread each; every accepted connection
    /// gets a handler from `factory`, called on the accepting reactor's
    /// thread.
    ///
    /// The first reactor binds `addr`; the others bind the address it got
    /// (so port 0 works). Returns once every listener is bound; if one
    /// fails, the reactors already running are stopped and joined and the
    /// error is returned.
    pub fn start<H, F>(self, factory: F) -> io::Result<ServerHandle<S>>
    where
        H: Handler<S>,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let threads = self.thread_count();
        if threads == 0 || threads > MAX_REACTORS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a server runs 1 to {MAX_REACTORS} reactors, not {threads}"),
            ));
        }
        let cpus = if self.pin_threads {
            crate::sys::allowed_cpus()?
        } else {
            Vec::new()
        };
        let factory = Arc::new(factory);
        let mut opts = self.opts.clone();
        opts.reuse_port |= threads > 1;
        let mut addr = self.addr;
        let mut inherited = share_out(self.inherited, threads)?;
        let mut started: Vec<Started<S>> = Vec::with_capacity(threads);
        for index in 0..threads {
            let spec = Spec {
                index,
                addr,
                inherited: std::mem::take(&mut inherited[index]),
                opts: opts.clone(),
                state: self.state.clone(),
                callback_timing: self.callback_timing,
                cpu: (!cpus.is_empty()).then(|| cpus[index % cpus.len()]),
            };
            let name = format!("{}-{index}", self.thread_name);
            match spawn_reactor(name, spec, factory.clone()) {
                Ok(s) => {
                    addr = s.addr;
                    started.push(s);
                }
                Err(e) => {
                    abandon(started);
                    return Err(e);
                }
            }
        }
        let server = ServerHandle::new(addr, started);
        if let Some(hook) = self.on_start {
            server.run_start_hook(hook);
        }
        Ok(server)
    }
}

impl<S> fmt::Debug for ServerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("addr", &self.addr)
            .field("threads", &self.threads)
            .field("opts", &self.opts)
            .field("callback_timing", &self.callback_timing)
            .field("pin_threads", &self.pin_threads)
            .finish_non_exhaustive()
    }
}

/// What one reactor thread needs to start.
struct Spec<S> {
    index: usize,
    addr: SocketAddr,
    /// Sockets to serve instead of binding `addr`.
    inherited: Vec<std::net::TcpListener>,
    opts: ListenOptions,
    state: StateFactory<S>,
    callback_timing: bool,
    /// The CPU to pin the thread to, if any.
    cpu: Option<usize>,
}

/// What a reactor thread's run returns.
type RunResult = io::Result<MetricsSnapshot>;

/// A reactor thread that bound its listener and is running.
struct Started<S> {
    addr: SocketAddr,
    handle: ReactorHandle<S>,
    thread: JoinHandle<RunResult>,
}

/// Spawns a reactor thread and waits until it is listening (or failed to).
fn spawn_reactor<S, H, F>(name: String, spec: Spec<S>, factory: Arc<F>) -> io::Result<Started<S>>
where
    S: 'static,
    H: Handler<S>,
    F: Fn() -> H + Send + Sync + 'static,
{
    let index = spec.index;
    let (tx, rx) = mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || -> RunResult {
            let mut reactor = match bind_reactor(spec, factory) {
                Ok((reactor, addr)) => {
                    let _ = tx.send(Ok((addr, reactor.handle())));
                    reactor
                }
                Err(e) => {
                    let msg = e.to_string();
                    let _ = tx.send(Err(e));
                    return Err(io::Error::other(msg));
                }
            };
            drop(tx);
            reactor.run()
        })?;
    match rx.recv() {
        Ok(Ok((addr, handle))) => Ok(Started {
            addr,
            handle,
            thread,
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(io::Error::new(e.kind(), format!("reactor {index}: {e}")))
        }
        Err(mpsc::RecvError) => {
            let _ = thread.join();
            Err(io::Error::other(format!(
                "reactor {index} panicked while starting (state factory?)"
            )))
        }
    }
}

/// On the reactor's thread: builds it and binds its listener.
fn bind_reactor<S, H, F>(spec: Spec<S>, factory: Arc<F>) -> io::Result<(Reactor<S>, SocketAddr)>
where
    S: 'static,
    H: Handler<S>,
    F: Fn() -> H + Send + Sync + 'static,
{
    if let Some(cpu) = spec.cpu {
        crate::sys::pin_current_thread(cpu)
            .map_err(|e| io::Error::new(e.kind(), format!("pinning to CPU {cpu}: {e}")))?;
    }
    let index = u8::try_from(spec.index).expect("index checked against MAX_REACTORS");
    let mut reactor = Reactor::build((spec.state)(spec.index), index)?;
    reactor.set_callback_timing(spec.callback_timing);
    if spec.inherited.is_empty() {
        let listener = reactor.listen(spec.addr, spec.opts, move || factory())?;
        let addr = reactor.listener_addr(listener)?;
        return Ok((reactor, addr));
    }
    let mut addr = None;
    for socket in spec.inherited {
        let factory = factory.clone();
        let id = reactor.adopt_listener(socket, spec.opts.clone(), move || factory())?;
        addr.get_or_insert(reactor.listener_addr(id)?);
    }
    Ok((reactor, addr.expect("at least one socket")))
}

/// Deals `sockets` out to `threads` reactors: reactor `i` gets sockets `i`,
/// `i + threads`, ...; one left without gets a descriptor of socket
/// `i % len`. No sockets: nobody gets any (they bind).
fn share_out(
    sockets: Vec<std::net::TcpListener>,
    threads: usize,
) -> io::Result<Vec<Vec<std::net::TcpListener>>> {
    let len = sockets.len();
    let mut shares: Vec<Vec<std::net::TcpListener>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, socket) in sockets.into_iter().enumerate() {
        shares[i % threads].push(socket);
    }
    for i in len.min(threads)..threads {
        if len > 0 {
            let copy = shares[i % len][0].try_clone()?;
            shares[i].push(copy);
        }
    }
    Ok(shares)
}

/// Stops and joins reactors started before a later one failed.
fn abandon<S: 'static>(started: Vec<Started<S>>) {
    for s in &started {
        let _ = s.handle.stop();
    }
    for s in started {
        let _ = s.thread.join();
    }
}

/// Counters of a server: each reactor's, in index order, and their sum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSummary {
    /// One snapshot per reactor; `reactors[i]` is reactor `i`.
    pub reactors: Vec<MetricsSnapshot>,
    /// The sum over all reactors.
    pub total: MetricsSnapshot,
}

impl ServerSummary {
    fn new(reactors: Vec<MetricsSnapshot>) -> Self {
        let total = MetricsSnapshot::sum(&reactors);
        ServerSummary { reactors, total }
    }
}

/// The reactor threads, joined at most once; later joins get the outcome.
struct Joiner {
    threads: Vec<JoinHandle<RunResult>>,
    /// Set by the first join; an error is kept as text (`io::Error` is not `Clone`).
    outcome: Option<std::result::Result<ServerSummary, (io::ErrorKind, String)>>,
}

struct Inner<S> {
    addr: SocketAddr,
    reactors: Vec<ReactorHandle<S>>,
    thread_ids: Vec<ThreadId>,
    joiner: Mutex<Joiner>,
}

/// A running server of N reactors: `Send + Sync + Clone`, usable from any
/// thread. It routes requests for a connection to the reactor that owns it
/// ([`ConnId::reactor`]), stops or gracefully shuts down all reactors, and
/// joins their threads.
///
/// Dropping every handle without [`stop`](Self::stop) or
/// [`shutdown`](Self::shutdown) leaves the reactors running (detached),
/// like dropping a [`std::thread::JoinHandle`].
///
/// ```
/// use std::io::{Read, Write};
/// use netloop::{ServerBuilder, handler::Echo};
///
/// let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
///     .threads(2)
///     .start(|| Echo)?;
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"ping")?;
/// let mut buf = [0; 4];
/// client.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"ping");
/// drop(client);
///
/// server.stop()?;
/// let summary = server.join()?;
/// assert_eq!(summary.reactors.len(), 2);
/// assert_eq!(summary.total.accepted, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ServerHandle<S = ()> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for ServerHandle<S> {
    fn clone(&self) -> Self {
        ServerHandle {
            inner: self.inner.clone(),
        }
    }
}

impl<S> fmt::Debug for ServerHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.inner.addr)
            .field("reactors", &self.inner.reactors.len())
            .finish()
    }
}

impl<S: 'static> ServerHandle<S> {
    /// Posts the start hook ([`ServerBuilder::on_start`]) to every reactor,
    /// each with its index, once this handle exists, so the hook can keep
    /// a clone of it (a signal source on reactor 0 that shuts the whole
    /// server down, for one). A clone kept by what the hook registered is
    /// dropped when that reactor stops, so it does not keep the server
    /// alive. A reactor that has stopped already is skipped; a panic in
    /// the hook is caught like any posted closure's.
    fn run_start_hook(&self, hook: StartHook<S>) {
        for (index, reactor) in self.reactors().iter().enumerate() {
            let hook = hook.clone();
            let server = self.clone();
            if reactor.post(move |rc| hook(index, rc, &server)).is_err() {
                log::warn!("reactor {index} stopped before its start hook ran");
            }
        }
    }

    fn new(addr: SocketAddr, started: Vec<Started<S>>) -> Self {
        let mut reactors = Vec::with_capacity(started.len());
        let mut thread_ids = Vec::with_capacity(started.len());
        let mut threads = Vec::with_capacity(started.len());
        for s in started {
            reactors.push(s.handle);
            thread_ids.push(s.thread.thread().id());
            threads.push(s.thread);
        }
        ServerHandle {
            inner: Arc::new(Inner {
                addr,
                reactors,
                thread_ids,
                joiner: Mutex::new(Joiner {
                    threads,
                    outcome: None,
                }),
            }),
        }
    }

    /// The address every reactor listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Number of reactors.
    pub fn len(&self) -> usize {
        self.inner.reactors.len()
    }

    /// Always `false`: a server has at least one reactor.
    pub fn is_empty(&self) -> bool {
        self.inner.reactors.is_empty()
    }

    /// A new descriptor of every reactor's listening sockets (the same
    /// sockets), to hand to another process
    /// ([`activation::hand_over`](crate::activation::hand_over)). From then
    /// on a graceful shutdown leaves the connections waiting in their
    /// queues to that process instead of accepting them.
    pub fn listeners(&self) -> io::Result<Vec<std::net::TcpListener>> {
        let mut all = Vec::new();
        for reactor in self.reactors() {
            let mine = reactor
                .call(|rc| rc.core.listener_sockets())
                .map_err(io::Error::from)??;
            all.extend(mine);
        }
        Ok(all)
    }

    /// The handles of all reactors, in index order.
    pub fn reactors(&self) -> &[ReactorHandle<S>] {
        &self.inner.reactors
    }

    /// The handle of reactor `index`.
    pub fn reactor(&self, index: usize) -> Option<&ReactorHandle<S>> {
        self.inner.reactors.get(index)
    }

    /// The handle of the reactor that owns `id` ([`Error::NoSuchConn`] for
    /// an index this server does not have).
    pub fn owner(&self, id: ConnId) -> Result<&ReactorHandle<S>> {
        self.reactor(id.reactor()).ok_or(Error::NoSuchConn)
    }

    /// Sends bytes to a connection on whichever reactor owns it; see
    /// [`ReactorHandle::send`].
    pub fn send(&self, id: ConnId, data: Bytes) -> Result<()> {
        self.owner(id)?.send(id, data)
    }

    /// Closes a connection gracefully; see [`ReactorHandle::close`].
    pub fn close(&self, id: ConnId) -> Result<()> {
        self.owner(id)?.close(id)
    }

    /// Aborts a connection (RST); see [`ReactorHandle::abort`].
    pub fn abort(&self, id: ConnId) -> Result<()> {
        self.owner(id)?.abort(id)
    }

    /// A connection's counters; waits for its reactor.
    pub fn conn_stats(&self, id: ConnId) -> Result<ConnStats> {
        self.owner(id)?.conn_stats(id)
    }

    /// A connection's `TCP_INFO`; waits for its reactor.
    pub fn tcp_info(&self, id: ConnId) -> Result<TcpInfo> {
        self.owner(id)?.tcp_info(id)
    }

    /// A Unix domain connection's peer credentials
    /// ([`ReactorHandle::peer_cred`]), from the reactor that owns it.
    pub fn peer_cred(&self, id: ConnId) -> Result<PeerCred> {
        self.owner(id)?.peer_cred(id)
    }

    /// Runs `f` on the reactor that owns `id`; see [`ReactorHandle::post`].
    pub fn post_to<F>(&self, id: ConnId, f: F) -> Result<()>
    where
        F: for<'a> FnOnce(&mut ReactorCtx<'a, S>) + Send + 'static,
    {
        self.owner(id)?.post(f)
    }

    /// Runs `f` on every reactor (e.g. to broadcast to all connections).
    /// Posts to every reactor still running; fails with
    /// [`Error::Stopped`] if any had stopped.
    pub fn post_all<F>(&self, f: F) -> Result<()>
    where
        F: for<'a> Fn(&mut ReactorCtx<'a, S>) + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut outcome = Ok(());
        for r in self.reactors() {
            let f = f.clone();
            if let Err(e) = r.post(move |rc| f(rc)) {
                outcome = Err(e);
            }
        }
        outcome
    }

    /// Stops every reactor: each aborts what it has open and its `run`
    /// returns. Reactors that had already stopped are skipped.
    pub fn stop(&self) -> Result<()> {
        self.each_running(|r| r.stop())
    }

    /// Starts a graceful shutdown on every reactor: listeners close at
    /// once (what waits in the accept queue of a listener the server bound
    /// is accepted first, not reset), handlers get [`on_shutdown`](Handler::on_shutdown), and after
    /// `grace` what is still open is closed (idle) or aborted (busy). Each
    /// reactor's thread ends when its last connection is gone. Calling it
    /// again can only bring the deadline closer.
    pub fn shutdown(&self, grace: Duration) -> Result<()> {
        self.each_running(|r| r.shutdown(grace))
    }

    /// Applies `f` to every reactor, ignoring those already stopped.
    fn each_running(&self, f: impl Fn(&ReactorHandle<S>) -> Result<()>) -> Result<()> {
        for r in self.reactors() {
            match f(r) {
                Ok(()) | Err(Error::Stopped) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether every reactor has stopped.
    pub fn is_finished(&self) -> bool {
        self.reactors().iter().all(|r| r.is_stopped())
    }

    /// The counters of every reactor, read without stopping them.
    pub fn metrics(&self) -> ServerSummary {
        ServerSummary::new(self.reactors().iter().map(|r| r.metrics()).collect())
    }

    /// Waits for every reactor thread to end (after [`stop`](Self::stop) or
    /// [`shutdown`](Self::shutdown)) and returns what each `run()`
    /// returned. Fails if a reactor's loop failed or panicked (the others
    /// are still joined). Can be called from several threads and more than
    /// once: later calls return the first one's outcome. Called on a
    /// reactor thread, it fails instead of waiting for itself.
    pub fn join(&self) -> io::Result<ServerSummary> {
        let me = std::thread::current().id();
        if self.inner.thread_ids.contains(&me) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "ServerHandle::join on a reactor thread would wait for itself",
            ));
        }
        let mut joiner = self.inner.joiner.lock().unwrap_or_else(|p| p.into_inner());
        if joiner.outcome.is_none() {
            let threads = std::mem::take(&mut joiner.threads);
            joiner.outcome = Some(join_all(threads));
        }
        match joiner.outcome.as_ref().expect("set above") {
            Ok(summary) => Ok(summary.clone()),
            Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
        }
    }
}

/// Joins every thread; the summary, or every failure in one message.
fn join_all(
    threads: Vec<JoinHandle<RunResult>>,
) -> std::result::Result<ServerSummary, (io::ErrorKind, String)> {
    let mut snapshots = Vec::with_capacity(threads.len());
    let mut failures = Vec::new();
    let mut kind = io::ErrorKind::Other;
    for (index, thread) in threads.into_iter().enumerate() {
        match thread.join() {
            Ok(Ok(m)) => snapshots.push(m),
            Ok(Err(e)) => {
                kind = e.kind();
                failures.push(format!("reactor {index}: {e}"));
            }
            Err(_) => failures.push(format!("reactor {index} panicked")),
        }
    }
    if failures.is_empty() {
        Ok(ServerSummary::new(snapshots))
    } else {
        Err((kind, failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn handles_cross_threads_whatever_the_state() {
        // The state itself is made on the reactor thread: it need not be Send.
        assert_send_sync_clone::<ServerHandle<std::rc::Rc<()>>>();
        assert_send_sync_clone::<ReactorHandle<std::rc::Rc<()>>>();
    }

    #[test]
    fn zero_threads_is_refused() {
        let err = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
            .threads(0)
            .start(|| crate::reactor::handler::Discard)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn join_on_a_reactor_thread_fails_instead_of_waiting_for_itself() {
        let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
            .threads(2)
            .start(|| crate::reactor::handler::Discard)
            .unwrap();
        let inner = server.clone();
        let outcome = server.reactors()[1]
            .call(move |_| inner.join().map(|_| ()).map_err(|e| e.kind()))
            .unwrap();
        assert_eq!(outcome, Err(io::ErrorKind::WouldBlock));
        server.stop().unwrap();
        let first = server.join().unwrap();
        assert_eq!(
            server.join().unwrap(),
            first,
            "a second join returns the same"
        );
    }

    #[test]
    fn a_reactor_failing_to_start_stops_those_already_running() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        /// Counts the reactors whose state was dropped (their thread ended).
        struct Guard(Arc<AtomicUsize>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let ended = Arc::new(AtomicUsize::new(0));
        let counter = ended.clone();
        let err = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
            .threads(3)
            .state(move |index| {
                assert!(index < 2, "no state for reactor {index}");
                Guard(counter.clone())
            })
            .start(|| crate::reactor::handler::Discard)
            .unwrap_err();
        assert!(err.to_string().contains("reactor 2"), "{err}");
        assert_eq!(
            ended.load(Ordering::SeqCst),
            2,
            "reactors 0 and 1 were stopped and joined"
        );
    }

    #[test]
    fn a_bind_failure_is_reported() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = ServerBuilder::new(taken.local_addr().unwrap())
            .threads(2)
            .start(|| crate::reactor::handler::Discard)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    }
}
