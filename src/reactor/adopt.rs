//! Sockets handed in from outside: a listening socket the program already
//! holds (inherited from systemd or from the previous copy of a restarting
//! server, see [`crate::activation`]), and a connected stream. They join the
//! loop as if it had made them: same handlers, options, limits and
//! lifecycle.

use std::io;
use std::rc::Rc;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use socket2::SockRef;

use crate::conn::Origin;
use crate::conn::options::ConnOptions;
use crate::conn::state::ConnState;
use crate::conn::stream::Stream;
use crate::reactor::Reactor;
use crate::reactor::core::Core;
use crate::reactor::ctx::ReactorCtx;
use crate::reactor::handler::Handler;
use crate::reactor::listener::{ListenOptions, ListenSocket, Ownership};
use crate::token::{ConnId, ListenerId};

impl<S: 'static> Core<S> {
    /// Takes a listening socket: made non-blocking and registered. Of
    /// `opts`, what applies after `listen(2)` applies (connection options,
    /// `max_connections`, `accept_budget`); what binding decides (address,
    /// backlog, `reuse_*`, `only_v6`) is the socket's own.
    pub(crate) fn adopt_listener<H, F>(
        &mut self,
        listener: std::net::TcpListener,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        opts.conn.validate()?;
        check_listening(SockRef::from(&listener))?;
        listener.set_nonblocking(true)?;
        SockRef::from(&listener).set_cloexec(true)?;
        let socket = ListenSocket::Tcp(TcpListener::from_std(listener));
        self.add_listener(socket, None, opts, factory, Ownership::Shared)
    }

    /// Takes a Unix domain listening socket, as [`adopt_listener`] takes a
    /// TCP one; TCP-only options are refused. The socket file stays the
    /// program's: it is not removed when the listener closes.
    ///
    /// [`adopt_listener`]: Self::adopt_listener
    pub(crate) fn adopt_unix_listener<H, F>(
        &mut self,
        listener: std::os::unix::net::UnixListener,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        opts.conn.validate()?;
        opts.conn.check_unix()?;
        check_listening(SockRef::from(&listener))?;
        listener.set_nonblocking(true)?;
        SockRef::from(&listener).set_cloexec(true)?;
        let socket = ListenSocket::Unix(UnixListener::from_std(listener));
        self.add_listener(socket, None, opts, factory, Ownership::Shared)
    }

    /// Takes a connected stream: made non-blocking, `opts` applied, then
    /// `on_open` as for an accepted connection.
    pub(crate) fn adopt_stream(
        &mut self,
        state: &mut S,
        stream: std::net::TcpStream,
        opts: ConnOptions,
        handler: Box<dyn Handler<S>>,
    ) -> io::Result<ConnId> {
        opts.validate()?;
        stream.peer_addr()?; // refuses a socket that is not connected
        opts.apply(SockRef::from(&stream))?;
        stream.set_nonblocking(true)?;
        let stream = Stream::Tcp(TcpStream::from_std(stream));
        self.open_adopted(state, stream, opts, handler)
    }

    /// Takes a connected Unix domain stream (from `UnixStream::pair`, or
    /// handed over by another process); TCP-only options are refused.
    pub(crate) fn adopt_unix_stream(
        &mut self,
        state: &mut S,
        stream: std::os::unix::net::UnixStream,
        opts: ConnOptions,
        handler: Box<dyn Handler<S>>,
    ) -> io::Result<ConnId> {
        opts.validate()?;
        opts.check_unix()?;
        stream.peer_addr()?; // refuses a socket that is not connected
        opts.apply_unix(SockRef::from(&stream))?;
        stream.set_nonblocking(true)?;
        let stream = Stream::Unix(UnixStream::from_std(stream));
        self.open_adopted(state, stream, opts, handler)
    }

    /// Puts an adopted stream in the slab and runs `on_open`.
    fn open_adopted(
        &mut self,
        state: &mut S,
        stream: Stream,
        opts: ConnOptions,
        handler: Box<dyn Handler<S>>,
    ) -> io::Result<ConnId> {
        SockRef::from(&stream).set_cloexec(true)?;
        let origin = Origin::Outbound(None);
        let slot = self.add_conn(stream, ConnState::Open, Rc::new(opts), handler, origin)?;
        let id = self.conn(slot).map(|c| c.id).expect("just added");
        // Bytes may already wait in the kernel.
        self.mark_readable(slot);
        self.opened_or_handshaking(state, slot);
        Ok(id)
    }
}

/// A socket handed in as a listener must be one: a stream socket in the
/// listening state (anything else would never report an acceptable
/// connection, or fail every accept).
fn check_listening(sock: SockRef<'_>) -> io::Result<()> {
    let is_stream = sock.r#type()? == socket2::Type::STREAM;
    if !is_stream || !sock.is_listener()? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the socket handed in is not a listening stream socket",
        ));
    }
    Ok(())
}

impl<S: 'static> Reactor<S> {
    /// Serves a listening socket the program already holds (inherited, or
    /// made by other code), as [`listen`](Self::listen) serves one it binds.
    /// Of `opts`, what applies after `listen(2)` applies: connection
    /// options, `max_connections`, `accept_budget`; the address, backlog and
    /// `reuse_*` are the socket's own. A socket that is not a listening TCP
    /// socket is refused (`InvalidInput`). Another process may hold the
    /// same socket, so a graceful shutdown closes it without taking the
    /// connections waiting in its queue (they stay for the other holder).
    ///
    /// ```
    /// use netloop::{ListenOptions, Reactor, handler::Echo};
    /// let mut reactor = Reactor::new()?;
    /// let held = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = held.local_addr()?;
    /// let id = reactor.adopt_listener(held, ListenOptions::default(), || Echo)?;
    /// assert_eq!(reactor.listener_addr(id)?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn adopt_listener<H, F>(
        &mut self,
        listener: std::net::TcpListener,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        self.core.adopt_listener(listener, opts, factory)
    }

    /// Takes over a connected stream the program already holds: `opts`
    /// applied, `on_open` runs now, and from then on it is a connection
    /// like any other (not reconnected when it ends).
    ///
    /// ```
    /// use netloop::{ConnOptions, Reactor, handler::Discard};
    /// let peer = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = std::net::TcpStream::connect(peer.local_addr()?)?;
    /// let mut reactor = Reactor::new()?;
    /// let id = reactor.adopt_stream(stream, ConnOptions::default(), Discard)?;
    /// assert_eq!(reactor.conn_count(), 1);
    /// # let _ = id;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn adopt_stream<H: Handler<S>>(
        &mut self,
        stream: std::net::TcpStream,
        opts: ConnOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        self.core
            .adopt_stream(&mut self.state, stream, opts, Box::new(handler))
    }
}

impl<S: 'static> Reactor<S> {
    /// Serves a Unix domain listening socket the program holds, as
    /// [`adopt_listener`](Self::adopt_listener) a TCP one. TCP-only options
    /// are refused (`Unsupported`); the socket file is left to the program.
    ///
    /// ```
    /// use netloop::{ListenOptions, Reactor, handler::Echo};
    /// let path = std::env::temp_dir().join(format!("netloop-adopt-{}.sock", std::process::id()));
    /// let held = std::os::unix::net::UnixListener::bind(&path)?;
    /// let mut reactor = Reactor::new()?;
    /// reactor.adopt_unix_listener(held, ListenOptions::default(), || Echo)?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn adopt_unix_listener<H, F>(
        &mut self,
        listener: std::os::unix::net::UnixListener,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        self.core.adopt_unix_listener(listener, opts, factory)
    }

    /// Takes over a connected Unix domain stream, as
    /// [`adopt_stream`](Self::adopt_stream) a TCP one.
    ///
    /// ```
    /// use netloop::{ConnOptions, Reactor, handler::Discard};
    /// let (ours, _theirs) = std::os::unix::net::UnixStream::pair()?;
    /// let mut reactor = Reactor::new()?;
    /// reactor.adopt_unix_stream(ours, ConnOptions::default(), Discard)?;
    /// assert_eq!(reactor.conn_count(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn adopt_unix_stream<H: Handler<S>>(
        &mut self,
        stream: std::os::unix::net::UnixStream,
        opts: ConnOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        self.core
            .adopt_unix_stream(&mut self.state, stream, opts, Box::new(handler))
    }
}

impl<S: 'static> ReactorCtx<'_, S> {
    /// Serves a listening socket the program holds; see
    /// [`Reactor::adopt_listener`].
    pub fn adopt_listener<H, F>(
        &mut self,
        listener: std::net::TcpListener,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        self.core.adopt_listener(listener, opts, factory)
    }

    /// Takes over a connected stream; see [`Reactor::adopt_stream`].
    pub fn adopt_stream<H: Handler<S>>(
        &mut self,
        stream: std::net::TcpStream,
        opts: ConnOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        self.core
            .adopt_stream(self.state, stream, opts, Box::new(handler))
    }

    /// Serves a Unix domain listening socket the program holds; see
    /// [`Reactor::adopt_unix_listener`].
    pub fn adopt_unix_listener<H, F>(
        &mut self,
        listener: std::os::unix::net::UnixListener,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        self.core.adopt_unix_listener(listener, opts, factory)
    }

    /// Takes over a connected Unix domain stream; see
    /// [`Reactor::adopt_unix_stream`].
    pub fn adopt_unix_stream<H: Handler<S>>(
        &mut self,
        stream: std::os::unix::net::UnixStream,
        opts: ConnOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        self.core
            .adopt_unix_stream(self.state, stream, opts, Box::new(handler))
    }
}
