//! Talking to a reactor from other threads.
//!
//! A [`ReactorHandle`] posts closures to a queue that the loop drains at the
//! start of its next turn, in posting order. One `mio::Waker` per reactor
//! wakes the poll; a flag makes many posts between two turns cost a single
//! wake-up (one `eventfd` write). Once the reactor has stopped, posting
//! returns [`Error::Stopped`] instead of queueing work that would never run.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::ThreadId;
use std::time::Duration;

use bytes::Bytes;

use std::net::SocketAddr;

use crate::conn::ConnStats;
use crate::conn::connect::{ConnectOptions, Target, Waiter};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::reactor::ctx::ReactorCtx;
use crate::reactor::handler::Handler;
use crate::sys::{PeerCred, TcpInfo};
use crate::token::ConnId;
use crate::unix::UnixAddr;

/// Work posted to the loop.
pub(crate) type Task<S> = Box<dyn for<'a> FnOnce(&mut ReactorCtx<'a, S>) + Send>;

struct Queue<S> {
    tasks: Vec<Task<S>>,
    closed: bool,
}

/// What a reactor shares with its handles.
pub(crate) struct Shared<S> {
    queue: Mutex<Queue<S>>,
    waker: mio::Waker,
    /// A wake-up is on its way: further posts need not write the eventfd.
    wake_pending: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
    index: u8,
    /// The thread that runs the loop (a reactor never leaves the thread
    /// that built it), so a blocking [`ReactorHandle::call`] from inside
    /// the loop fails instead of waiting for itself.
    loop_thread: ThreadId,
}

impl<S> Shared<S> {
    pub(crate) fn new(waker: mio::Waker, metrics: Arc<Metrics>, index: u8) -> Self {
        Shared {
            queue: Mutex::new(Queue {
                tasks: Vec::new(),
                closed: false,
            }),
            waker,
            wake_pending: AtomicBool::new(false),
            metrics,
            index,
            loop_thread: std::thread::current().id(),
        }
    }

    /// Takes the posted tasks, in order. The flag is cleared first, so a
    /// post that lands after the swap wakes the loop again.
    pub(crate) fn take_tasks(&self, into: &mut Vec<Task<S>>) {
        self.wake_pending.store(false, Ordering::SeqCst);
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut q.tasks, into);
    }

    /// Refuses further posts and returns what was still queued.
    pub(crate) fn close(&self) -> Vec<Task<S>> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.closed = true;
        std::mem::take(&mut q.tasks)
    }

    fn post(&self, task: Task<S>) -> Result<()> {
        {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.closed {
                return Err(Error::Stopped);
            }
            q.tasks.push(task);
        }
        // The task is pushed before the flag is read: if the flag says a
        // wake-up is pending, the loop has not yet cleared it, so it will
        // take this task when it does.
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            self.metrics.wakeups.add_shared(1);
            self.waker.wake().map_err(Error::Io)?;
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.queue.lock().map(|q| q.closed).unwrap_or(true)
    }
}

/// A `Send + Sync + Clone` handle to a reactor running on another thread.
///
/// Everything it does goes through [`post`](Self::post): a closure queued
/// for the loop, run at its next turn in posting order (per posting
/// thread; posts from several threads interleave). Requests for one
/// connection ([`send`](Self::send), [`close`](Self::close), ...) are
/// therefore applied in the order they were made. The queue is unbounded:
/// a thread that posts faster than the loop runs the closures grows it.
///
/// ```
/// use std::time::Duration;
/// let mut reactor = netloop::Reactor::new().unwrap();
/// let handle = reactor.handle();
/// let t = std::thread::spawn(move || {
///     let open = handle.call(|rc| rc.conn_count()).unwrap();
///     assert_eq!(open, 0);
///     handle.stop().unwrap();
///     // The reactor is gone (or about to be): posting fails, never hangs.
///     while handle.post(|_| {}).is_ok() {
///         std::thread::yield_now();
///     }
/// });
/// reactor.run().unwrap();
/// t.join().unwrap();
/// ```
pub struct ReactorHandle<S = ()> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for ReactorHandle<S> {
    fn clone(&self) -> Self {
        ReactorHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S> std::fmt::Debug for ReactorHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReactorHandle")
            .field("index", &self.shared.index)
            .field("stopped", &self.shared.is_closed())
            .finish()
    }
}

impl<S: 'static> ReactorHandle<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> Self {
        ReactorHandle { shared }
    }

    /// The index of the reactor (as carried by its [`ConnId`]s).
    pub fn reactor_index(&self) -> usize {
        self.shared.index as usize
    }

    /// Runs `f` on the loop thread at its next turn. Closures run in the
    /// order they were posted. Many posts between two turns wake the loop
    /// once. Fails with [`Error::Stopped`] once the reactor has stopped
    /// (a closure accepted just before it stops is dropped unrun).
    pub fn post<F>(&self, f: F) -> Result<()>
    where
        F: for<'a> FnOnce(&mut ReactorCtx<'a, S>) + Send + 'static,
    {
        self.shared.post(Box::new(f))
    }

    /// Runs `f` on the loop and waits for its result (to read a
    /// connection's stats, `TCP_INFO`, or anything else the loop owns).
    ///
    /// Blocks the calling thread for up to one turn of the loop. Fails with
    /// [`Error::Stopped`] if the reactor stops before running `f`, and with
    /// an [`Error::Io`] (instead of deadlocking) when called on the loop's
    /// own thread or when `f` panics. From another reactor's thread it
    /// stalls that loop meanwhile, and two reactors calling each other
    /// deadlock: between reactors, [`post`](Self::post) a request and post
    /// the answer back.
    pub fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut ReactorCtx<'a, S>) -> T + Send + 'static,
    {
        if std::thread::current().id() == self.shared.loop_thread {
            return Err(Error::OnLoopThread);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.post(move |rc| {
            match panic::catch_unwind(AssertUnwindSafe(|| f(rc))) {
                Ok(out) => {
                    let _ = tx.send(Ok(out));
                }
                Err(payload) => {
                    let _ = tx.send(Err(()));
                    // Let the loop log and count it like any posted panic.
                    panic::resume_unwind(payload);
                }
            }
        })?;
        match rx.recv() {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(())) => Err(Error::Io(io::Error::other(
                "the closure passed to ReactorHandle::call panicked",
            ))),
            // The reactor dropped the closure unrun: it stopped.
            Err(mpsc::RecvError) => Err(Error::Stopped),
        }
    }

    /// Refuses ids of other reactors up front.
    /// Starts an outbound connection on the reactor from another thread
    /// and returns its id once the attempt is under way (its outcome
    /// reaches `handler` as on the loop: `on_open`, or `on_connect_error`
    /// then `on_close`). See [`Reactor::connect`](crate::Reactor::connect).
    /// On the reactor's own thread use [`ReactorCtx::connect`].
    ///
    /// ```
    /// use netloop::handler::Discard;
    /// use netloop::{ConnectOptions, Reactor};
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut reactor = Reactor::new()?;
    /// let handle = reactor.handle();
    /// let addr = listener.local_addr()?;
    /// let client = std::thread::spawn(move || {
    ///     let id = handle.connect_and_wait(addr, ConnectOptions::default(), Discard);
    ///     handle.stop().unwrap();
    ///     id
    /// });
    /// reactor.run()?;
    /// assert!(client.join().unwrap().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<H>(&self, addr: SocketAddr, opts: ConnectOptions, handler: H) -> Result<ConnId>
    where
        H: Handler<S> + Send,
    {
        self.start_connect(Target::Tcp(addr), opts, handler, None)
    }

    /// [`connect`](Self::connect), then waits for the first attempt's
    /// outcome: the id once connected (after `on_open` ran), or
    /// [`Error::Connect`] with the failure's kind (a connection with a
    /// reconnect policy then keeps trying, under the same id). The wait is
    /// bounded by the connect timeout ([`ConnectOptions::timeout`]).
    /// [`Error::NoSuchConn`] if the connection was closed (or the reactor
    /// stopped) before the attempt ended.
    pub fn connect_and_wait<H>(
        &self,
        addr: SocketAddr,
        opts: ConnectOptions,
        handler: H,
    ) -> Result<ConnId>
    where
        H: Handler<S> + Send,
    {
        self.start_connect_and_wait(Target::Tcp(addr), opts, handler)
    }

    /// [`connect`](Self::connect) to a Unix domain socket; see
    /// [`Reactor::connect_unix`](crate::Reactor::connect_unix).
    pub fn connect_unix<H>(
        &self,
        addr: impl Into<UnixAddr>,
        opts: ConnectOptions,
        handler: H,
    ) -> Result<ConnId>
    where
        H: Handler<S> + Send,
    {
        self.start_connect(Target::Unix(addr.into()), opts, handler, None)
    }

    /// [`connect_and_wait`](Self::connect_and_wait) to a Unix domain
    /// socket; see [`Reactor::connect_unix`](crate::Reactor::connect_unix).
    pub fn connect_unix_and_wait<H>(
        &self,
        addr: impl Into<UnixAddr>,
        opts: ConnectOptions,
        handler: H,
    ) -> Result<ConnId>
    where
        H: Handler<S> + Send,
    {
        self.start_connect_and_wait(Target::Unix(addr.into()), opts, handler)
    }

    fn start_connect_and_wait<H>(
        &self,
        target: Target,
        opts: ConnectOptions,
        handler: H,
    ) -> Result<ConnId>
    where
        H: Handler<S> + Send,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let id = self.start_connect(target, opts, handler, Some(tx))?;
        match rx.recv() {
            Ok(Ok(())) => Ok(id),
            Ok(Err(kind)) => Err(Error::Connect(kind)),
            Err(mpsc::RecvError) => Err(Error::NoSuchConn),
        }
    }

    /// [`Reactor::connect_host`](crate::Reactor::connect_host) from another
    /// thread: returns the id once the connection exists (the name is still
    /// resolving then).
    pub fn connect_host<H>(
        &self,
        host: &str,
        port: u16,
        opts: ConnectOptions,
        handler: H,
    ) -> Result<ConnId>
    where
        H: Handler<S> + Send,
    {
        let host = host.to_owned();
        self.call(move |rc| {
            rc.core
                .connect_host(&host, port, opts, Box::new(handler), None)
        })?
        .map_err(Error::Io)
    }

    fn start_connect<H>(
        &self,
        target: Target,
        opts: ConnectOptions,
        handler: H,
        waiter: Option<Waiter>,
    ) -> Result<ConnId>
    where
        H: Handler<S> + Send,
    {
        self.call(move |rc| rc.core.connect_to(target, opts, Box::new(handler), waiter))?
            .map_err(Error::Io)
    }

    fn check_owner(&self, id: ConnId) -> Result<()> {
        if id.reactor() == self.reactor_index() {
            Ok(())
        } else {
            Err(Error::ForeignConn)
        }
    }

    /// Sends bytes to a connection, queued behind earlier sends (no copy).
    /// Returns once the request is queued for the loop: a connection that
    /// has closed meanwhile, or a send refused there (write side closed,
    /// queue full, not connected), is dropped, counted in
    /// [`MetricsSnapshot::handle_requests_dropped`] and logged (a warning,
    /// at most one a second, with the number left out). Use
    /// [`call`](Self::call) with [`ConnRef::send_bytes`](crate::ConnRef::send_bytes)
    /// to learn the outcome. An id of another reactor fails at once with
    /// [`Error::ForeignConn`].
    pub fn send(&self, id: ConnId, data: Bytes) -> Result<()> {
        self.check_owner(id)?;
        self.post(move |rc| {
            if let Err(e) = rc.conn(id).send_bytes(data) {
                rc.core.handle_request_dropped("send", id, &e);
            }
        })
    }

    /// Closes a connection gracefully (flush, then FIN).
    pub fn close(&self, id: ConnId) -> Result<()> {
        self.check_owner(id)?;
        self.post(move |rc| {
            if let Err(e) = rc.conn(id).close() {
                rc.core.handle_request_dropped("close", id, &e);
            }
        })
    }

    /// Aborts a connection (RST).
    pub fn abort(&self, id: ConnId) -> Result<()> {
        self.check_owner(id)?;
        self.post(move |rc| {
            if let Err(e) = rc.conn(id).abort() {
                rc.core.handle_request_dropped("abort", id, &e);
            }
        })
    }

    /// A connection's counters (bytes in/out, peak queued); waits for the loop.
    pub fn conn_stats(&self, id: ConnId) -> Result<ConnStats> {
        self.check_owner(id)?;
        self.call(move |rc| rc.conn(id).stats())?
    }

    /// A connection's `TCP_INFO` (RTT, retransmits, congestion window),
    /// read by the loop when asked; waits for the loop.
    pub fn tcp_info(&self, id: ConnId) -> Result<TcpInfo> {
        self.check_owner(id)?;
        self.call(move |rc| rc.conn(id).tcp_info())?
    }

    /// The credentials of the process at the other end of a Unix domain
    /// connection ([`Ctx::peer_cred`](crate::Ctx::peer_cred)); waits for
    /// the loop.
    pub fn peer_cred(&self, id: ConnId) -> Result<PeerCred> {
        self.check_owner(id)?;
        self.call(move |rc| rc.conn(id).peer_cred())?
    }

    /// Stops the reactor: `run()` returns after aborting what is open.
    pub fn stop(&self) -> Result<()> {
        self.post(|rc| rc.stop())
    }

    /// Starts a graceful shutdown with the given grace period; see
    /// [`ReactorCtx::shutdown`].
    pub fn shutdown(&self, grace: Duration) -> Result<()> {
        self.post(move |rc| rc.shutdown(grace))
    }

    /// The reactor's counters, read without stopping the loop.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Whether the reactor has stopped (posts would fail).
    pub fn is_stopped(&self) -> bool {
        self.shared.is_closed()
    }
}
