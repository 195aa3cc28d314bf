//! The floor: a minimal hand-written mio echo loop, doing only what an echo
//! server must.
//!
//! Each connection is registered once for readable and writable edges (no
//! `epoll_ctl` after accept). Reads go into one shared 64 KiB buffer; a
//! short read means the socket is drained; what was read is written back at
//! once, and only what the kernel would not take is kept (reading from that
//! connection pauses until it is flushed).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::{READ_BUF, Running};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);

struct Conn {
    stream: TcpStream,
    /// Echoed bytes the kernel did not take yet.
    unsent: Vec<u8>,
    /// An edge said readable and no read has shown it drained since.
    readable: bool,
}

/// The loop and its stop switch.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    conns: Slab<Conn>,
    buf: Vec<u8>,
    stop: Arc<AtomicBool>,
    /// Shared with the [`Stopper`]: the waker's eventfd must outlive a
    /// stop, or closing it would take the pending wake-up out of epoll's
    /// ready list before the loop sees it (the loop would sleep forever).
    _waker: Arc<Waker>,
    served: usize,
}

/// Stops a [`Server`] from another thread.
pub struct Stopper {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Stopper {
    /// Makes the loop return.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

impl Server {
    /// A loop serving `listener` (non-blocking, as [`crate::listener`]
    /// makes it), and its stop switch.
    pub fn new(listener: std::net::TcpListener) -> io::Result<(Server, Stopper)> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let server = Server {
            poll,
            listener,
            conns: Slab::new(),
            buf: vec![0; READ_BUF],
            stop: stop.clone(),
            _waker: waker.clone(),
            served: 0,
        };
        Ok((server, Stopper { stop, waker }))
    }

    /// Runs until stopped, or (with `exit_when_idle`) until the last
    /// connection closed after at least one was served.
    pub fn run(&mut self, exit_when_idle: bool) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            match self.poll.poll(&mut events, None) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all()?,
                    WAKER => {}
                    Token(key) => {
                        let Some(conn) = self.conns.get_mut(key) else {
                            continue;
                        };
                        let hangup = event.is_read_closed() || event.is_error();
                        if event.is_readable() || hangup {
                            conn.readable = true;
                        }
                        if !serve(conn, &mut self.buf, hangup) {
                            self.conns.remove(key);
                        }
                    }
                }
            }
            if self.stop.load(Ordering::Relaxed)
                || (exit_when_idle && self.served > 0 && self.conns.is_empty())
            {
                return Ok(());
            }
        }
    }

    fn accept_all(&mut self) -> io::Result<()> {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let entry = self.conns.vacant_entry();
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    self.poll
                        .registry()
                        .register(&mut stream, Token(entry.key()), interest)?;
                    entry.insert(Conn {
                        stream,
                        unsent: Vec::new(),
                        readable: true,
                    });
                    self.served += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("accept: {e}");
                    return Ok(());
                }
            }
        }
    }
}

/// Flushes, then echoes while readable; returns `false` once the connection
/// is finished (EOF or error).
fn serve(conn: &mut Conn, buf: &mut [u8], hangup: bool) -> bool {
    if !conn.unsent.is_empty() && !flush(conn) {
        return false;
    }
    while conn.readable && conn.unsent.is_empty() {
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                // Short read: drained (unless a FIN or error waits behind it).
                conn.readable = n == buf.len() || hangup;
                if !echo(conn, &buf[..n]) {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Writes `data`, keeping what the kernel does not take.
fn echo(conn: &mut Conn, data: &[u8]) -> bool {
    let mut written = 0;
    while written < data.len() {
        match conn.stream.write(&data[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    conn.unsent.extend_from_slice(&data[written..]);
    true
}

/// Writes kept bytes; `false` on error.
fn flush(conn: &mut Conn) -> bool {
    while !conn.unsent.is_empty() {
        match conn.stream.write(&conn.unsent) {
            Ok(n) => {
                conn.unsent.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    conn.unsent = Vec::new();
    true
}

/// Runs the server on a new thread, on 127.0.0.1 (any port).
pub fn spawn() -> io::Result<Running> {
    let listener = crate::listener(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr()?;
    let (mut server, stopper) = Server::new(listener)?;
    let thread = std::thread::spawn(move || {
        if let Err(e) = server.run(false) {
            eprintln!("mio echo: {e}");
        }
    });
    Ok(Running::new(addr, Box::new(move || stopper.stop()), thread))
}
