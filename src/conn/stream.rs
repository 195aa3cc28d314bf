//! A connection's socket: TCP or Unix domain (stream). Everything per
//! message goes through the descriptor the record keeps at hand
//! (`Conn::fd`), so the kind matters only on the cold paths: registration,
//! connect completion, addresses, credentials and the TCP-only queries.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use std::os::unix::net::SocketAddr as UnixSocketAddr;

use crate::error::{Error, Result};
use crate::sys::{self, PeerCred, TcpInfo};
use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

/// A connected (or connecting) stream socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Whether this is a Unix domain socket.
    #[inline]
    pub(crate) fn is_unix(&self) -> bool {
        matches!(self, Stream::Unix(_))
    }

    /// The pending socket error (`SO_ERROR`), consumed.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }

    /// Whether a connect that reported progress has completed, and to
    /// itself (a TCP simultaneous open to a free ephemeral port). Fails
    /// with `ENOTCONN` while the handshake is still under way.
    pub(crate) fn connected_to_self(&self) -> io::Result<bool> {
        match self {
            Stream::Tcp(s) => {
                let peer = s.peer_addr()?;
                Ok(s.local_addr().is_ok_and(|local| local == peer))
            }
            // A Unix connect never connects a socket to itself.
            Stream::Unix(s) => s.peer_addr().map(|_| false),
        }
    }

    /// The TCP stream, or `None` for a Unix socket.
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Unix(_) => None,
        }
    }

    /// The Unix stream, or `None` for a TCP socket.
    pub(crate) fn unix(&self) -> Option<&UnixStream> {
        match self {
            Stream::Unix(s) => Some(s),
            Stream::Tcp(_) => None,
        }
    }

    /// The peer's address, if it is a TCP connection.
    pub(crate) fn tcp_peer_addr(&self) -> Option<SocketAddr> {
        self.tcp().and_then(|s| s.peer_addr().ok())
    }

    /// The peer's IP address; `Unsupported` on a Unix socket.
    pub(crate) fn peer_addr(&self) -> Result<SocketAddr> {
        Ok(self
            .tcp()
            .ok_or(Error::Unsupported(
                "peer_addr: a Unix domain connection (see unix_peer_addr, peer_cred)",
            ))?
            .peer_addr()?)
    }

    /// Our IP address; `Unsupported` on a Unix socket.
    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self
            .tcp()
            .ok_or(Error::Unsupported(
                "local_addr: a Unix domain connection (see unix_local_addr)",
            ))?
            .local_addr()?)
    }

    /// The peer's Unix address; `Unsupported` on a TCP socket.
    pub(crate) fn unix_peer_addr(&self) -> Result<UnixSocketAddr> {
        Ok(self
            .unix_only("unix_peer_addr: a TCP connection (see peer_addr)")?
            .peer_addr()?)
    }

    /// Our Unix address; `Unsupported` on a TCP socket.
    pub(crate) fn unix_local_addr(&self) -> Result<UnixSocketAddr> {
        Ok(self
            .unix_only("unix_local_addr: a TCP connection (see local_addr)")?
            .local_addr()?)
    }

    /// The peer process's credentials; `Unsupported` on a TCP socket.
    pub(crate) fn peer_cred(&self) -> Result<PeerCred> {
        Ok(sys::peer_cred(self.unix_only(
            "peer_cred: SO_PEERCRED is for Unix domain connections, not TCP ones",
        )?)?)
    }

    /// `TCP_INFO`; `Unsupported` on a Unix socket.
    pub(crate) fn tcp_info(&self) -> Result<TcpInfo> {
        let tcp = self.tcp().ok_or(Error::Unsupported(
            "tcp_info: TCP_INFO is for TCP connections, not Unix domain ones",
        ))?;
        Ok(sys::tcp_info(tcp)?)
    }

    /// The Unix stream, or `refusal` as an `Unsupported` error.
    fn unix_only(&self, refusal: &'static str) -> Result<&UnixStream> {
        self.unix().ok_or(Error::Unsupported(refusal))
    }
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Stream {
        Stream::Tcp(s)
    }
}

impl From<UnixStream> for Stream {
    fn from(s: UnixStream) -> Stream {
        Stream::Unix(s)
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}
