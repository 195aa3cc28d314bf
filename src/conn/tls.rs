//! TLS of one connection (cargo feature `tls`): the rustls session, fed
//! with the ciphertext the loop reads and drained into the connection's
//! send queue, so that the handler sees only plaintext.
//!
//! ```text
//!   socket ──recv──► scratch (ciphertext) ──ingest──► plaintext buffer ──► on_read
//!   send(plain) ──encrypt──► rustls ──pump──► socket (queue empty) or SendBuf (ciphertext)
//! ```
//!
//! - **What is queued is ciphertext.** Every send is encrypted at once and
//!   drained from rustls in the same call ([`TlsSession::pump`]): straight
//!   to the kernel while nothing is queued, else into the send queue. So
//!   rustls holds nothing between calls, and the water marks and the hard
//!   cap count the bytes waiting for the kernel, records and all. The
//!   exception is plaintext sent by an outbound connection before its
//!   handshake completes: rustls keeps it until it can encrypt it
//!   (counted by [`TlsSession::unsent_plaintext`], and under the cap too).
//! - **Ciphertext is read in 64 KiB reads** into the loop's scratch buffer
//!   and fed to rustls record by record ([`TlsSession::ingest`]); the
//!   plaintext goes to a buffer of the loop's, and only what the handler
//!   leaves unconsumed to the connection's own.
//! - **The ends map one to one** (the loop carries them out): `close()` and
//!   `shutdown_write()` queue close_notify before the FIN; the peer's
//!   close_notify is the end of its stream (`on_eof`); a FIN without it
//!   is truncation ([`CloseReason::Truncated`](crate::CloseReason::Truncated));
//!   `abort()` sends RST and no close_notify.
//!
//! This uses rustls's buffered `Connection`, not its unbuffered API: the
//! session is drained at every call, so its buffers are transit only (no
//! ciphertext waits in rustls between calls, and no plaintext once the
//! handshake is done). What that costs per byte: ciphertext is copied
//! once into rustls (in 4 KiB pieces) and plaintext once out of it; an
//! outgoing record is one allocation in rustls, and is copied into the
//! send queue only when the kernel is full.
//!
//! Why not the unbuffered API (rustls 0.23): it would save the copy of
//! ciphertext into rustls (records are decrypted where they were read),
//! but not the others. Its `ReadTraffic` still hands out each record's
//! plaintext from an owned buffer of rustls's (decryption into the
//! caller's buffer is future work there), and `WriteTraffic::encrypt`
//! seals each record in an allocation of its own before copying it into
//! the caller's buffer, a copy the buffered path does not make when the
//! kernel takes the record at once. It also does not tell a server the
//! client's SNI. So it would trade a copy on input for one on output.
//! Kernel TLS (rustls's secrets handed to `TCP_ULP` "tls") would remove
//! the user-space copies altogether, but needs the kernel's `tls` module.

use std::io::{self, BufRead, IoSlice, Write};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::conn::close::{TlsAlert, TlsFailure};
use crate::conn::send_buf::SendBuf;
use crate::conn::stream::Stream;
use crate::sys;

/// How long a TLS handshake may take by default, from accept (or from
/// the TCP connect completing) to the peer's Finished.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which side of TLS a connection takes, with its rustls configuration.
#[derive(Clone, Debug)]
pub(crate) enum Role {
    Server(Arc<ServerConfig>),
    Client(Arc<ClientConfig>, ServerName<'static>),
}

/// The TLS options of a listener's or an outbound connection's
/// connections ([`ConnOptions`](crate::ConnOptions)).
#[derive(Clone, Debug)]
pub(crate) struct TlsSetup {
    pub(crate) role: Role,
}

impl PartialEq for TlsSetup {
    /// The same configuration objects (rustls's cannot be compared).
    fn eq(&self, other: &TlsSetup) -> bool {
        match (&self.role, &other.role) {
            (Role::Server(a), Role::Server(b)) => Arc::ptr_eq(a, b),
            (Role::Client(a, n), Role::Client(b, m)) => Arc::ptr_eq(a, b) && n == m,
            _ => false,
        }
    }
}

impl Eq for TlsSetup {}

impl TlsSetup {
    pub(crate) fn server(config: Arc<ServerConfig>) -> TlsSetup {
        TlsSetup {
            role: Role::Server(config),
        }
    }

    pub(crate) fn client(config: Arc<ClientConfig>, name: ServerName<'static>) -> TlsSetup {
        TlsSetup {
            role: Role::Client(config, name),
        }
    }

    /// A fresh session for one connection (or one connect attempt);
    /// `connected`: its socket is connected already (accepted, adopted).
    pub(crate) fn session(&self, connected: bool) -> io::Result<TlsSession> {
        let conn: Connection = match &self.role {
            Role::Server(config) => ServerConnection::new(config.clone())
                .map_err(io::Error::other)?
                .into(),
            Role::Client(config, name) => ClientConnection::new(config.clone(), name.clone())
                .map_err(io::Error::other)?
                .into(),
        };
        Ok(TlsSession::new(conn, connected))
    }
}

/// What one [`TlsSession::ingest`] brought.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ingested {
    /// The handshake completed in this call.
    pub(crate) handshake_done: bool,
    /// The peer's close_notify arrived in this call.
    pub(crate) close_notify: bool,
}

/// Why a session failed: the failure to close with, and rustls's error
/// for the log.
#[derive(Debug)]
pub(crate) struct TlsError {
    pub(crate) failure: TlsFailure,
    pub(crate) detail: String,
}

/// What [`TlsSession::pump`] did: bytes handed to the kernel directly, and
/// whether the kernel took less than offered (it is full until the next
/// writable edge).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Pumped {
    pub(crate) direct: usize,
    pub(crate) kernel_full: bool,
}

/// The TLS state of one connection.
pub(crate) struct TlsSession {
    conn: Connection,
    /// The socket is connected (accepted and adopted ones from the start;
    /// outbound ones once the TCP connect completes): ciphertext may go out.
    wire_up: bool,
    /// The handshake completed and the loop was told.
    established: bool,
    /// Our close_notify is queued.
    close_notify_sent: bool,
    /// The peer's close_notify arrived.
    close_notify_seen: bool,
    /// Plaintext handed to rustls before the handshake completed.
    early_plaintext: usize,
}

impl TlsSession {
    fn new(mut conn: Connection, connected: bool) -> TlsSession {
        // The cap is ours (applied before a send reaches rustls), and rustls
        // is drained at every call.
        conn.set_buffer_limit(None);
        TlsSession {
            conn,
            wire_up: connected,
            established: false,
            close_notify_sent: false,
            close_notify_seen: false,
            early_plaintext: 0,
        }
    }

    /// Whether the peer's close_notify arrived.
    pub(crate) fn peer_closed(&self) -> bool {
        self.close_notify_seen
    }

    /// Whether ciphertext may go to the socket (it is connected).
    pub(crate) fn wire_up(&self) -> bool {
        self.wire_up
    }

    /// The outbound socket connected: the handshake starts.
    pub(crate) fn set_wire_up(&mut self) {
        self.wire_up = true;
    }

    /// The loop ran `on_open` after the handshake.
    pub(crate) fn set_established(&mut self) {
        self.established = true;
        self.early_plaintext = 0;
    }

    /// Plaintext waiting in rustls for the handshake to complete.
    pub(crate) fn unsent_plaintext(&self) -> usize {
        self.early_plaintext
    }

    /// The negotiated ALPN protocol.
    pub(crate) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The server name: the client's SNI on a server, the name connected
    /// to on a client.
    pub(crate) fn server_name<'a>(&'a self, setup: Option<&'a TlsSetup>) -> Option<&'a str> {
        match (&self.conn, setup.map(|s| &s.role)) {
            (Connection::Server(s), _) => s.server_name(),
            (Connection::Client(_), Some(Role::Client(_, ServerName::DnsName(name)))) => {
                Some(name.as_ref())
            }
            _ => None,
        }
    }

    /// The negotiated protocol version, as rustls names it ("TLSv1_3").
    pub(crate) fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.conn.protocol_version()
    }

    /// The negotiated cipher suite.
    pub(crate) fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.conn.negotiated_cipher_suite().map(|s| s.suite())
    }

    /// Feeds ciphertext read from the socket; plaintext is appended to
    /// `plain` (or dropped if `discard`: a closing connection). Stops at
    /// the peer's close_notify: nothing after it is read.
    pub(crate) fn ingest(
        &mut self,
        mut cipher: &[u8],
        plain: &mut BytesMut,
        discard: bool,
    ) -> Result<Ingested, TlsError> {
        let was_handshaking = self.conn.is_handshaking();
        let mut got = Ingested::default();
        while !cipher.is_empty() && !self.close_notify_seen {
            // Each call takes at most one buffer's worth (4 KiB, or up to
            // a record), so this loops over a 64 KiB read.
            if self.conn.read_tls(&mut cipher).map_err(io_failure)? == 0 {
                break;
            }
            let state = self.conn.process_new_packets().map_err(rustls_failure)?;
            self.take_plaintext(state.plaintext_bytes_to_read(), plain, discard);
            if state.peer_has_closed() {
                self.close_notify_seen = true;
                got.close_notify = true;
            }
        }
        got.handshake_done = was_handshaking && !self.conn.is_handshaking();
        Ok(got)
    }

    /// Moves `n` bytes of decrypted plaintext out of rustls.
    fn take_plaintext(&mut self, mut n: usize, plain: &mut BytesMut, discard: bool) {
        let mut reader = self.conn.reader();
        while n > 0 {
            let Ok(chunk) = reader.fill_buf() else {
                return;
            };
            let len = chunk.len().min(n);
            if len == 0 {
                return;
            }
            if !discard {
                plain.extend_from_slice(&chunk[..len]);
            }
            reader.consume(len);
            n -= len;
        }
    }

    /// Encrypts `parts` (or, before the handshake completes, keeps them in
    /// rustls until it can). The caller pumps afterwards.
    pub(crate) fn encrypt<B: AsRef<[u8]>>(&mut self, parts: &[B]) -> io::Result<()> {
        let mut writer = self.conn.writer();
        for part in parts {
            writer.write_all(part.as_ref())?;
        }
        if !self.established {
            self.early_plaintext += parts.iter().map(|p| p.as_ref().len()).sum::<usize>();
        }
        Ok(())
    }

    /// Queues our close_notify (once; not before the handshake completed).
    /// Returns whether it was queued now.
    pub(crate) fn queue_close_notify(&mut self) -> bool {
        if !self.established || self.close_notify_sent {
            return false;
        }
        self.close_notify_sent = true;
        self.conn.send_close_notify();
        true
    }

    /// Drains what rustls has to send: straight to the socket (`fd` of
    /// `stream`) while `direct` (nothing queued, not corked), else, and
    /// for what the kernel does not take, into `queue`. Before the socket
    /// is connected nothing moves.
    pub(crate) fn pump(
        &mut self,
        (fd, stream): (RawFd, &Stream),
        queue: &mut SendBuf,
        direct: bool,
    ) -> io::Result<Pumped> {
        let mut out = Outlet {
            fd,
            stream,
            queue,
            direct,
            pumped: Pumped::default(),
        };
        while self.wire_up && self.conn.wants_write() {
            self.conn.write_tls(&mut out)?;
        }
        Ok(out.pumped)
    }
}

/// Where [`TlsSession::pump`] writes ciphertext: the kernel while nothing
/// is queued, the send queue after that (so order is kept).
struct Outlet<'a> {
    fd: RawFd,
    stream: &'a Stream,
    queue: &'a mut SendBuf,
    direct: bool,
    pumped: Pumped,
}

impl Write for Outlet<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut sent = 0;
        if self.direct && self.queue.is_empty() && !self.pumped.kernel_full {
            let sending = match bufs {
                [one] => sys::send(self.fd, one),
                _ => sys::send_vectored(self.stream, bufs),
            };
            sent = match sending {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
            self.pumped.direct += sent;
            self.pumped.kernel_full = sent < total;
        }
        // What the kernel did not take keeps its order in the queue.
        let mut skip = sent;
        for buf in bufs {
            if skip >= buf.len() {
                skip -= buf.len();
                continue;
            }
            self.queue.push_slice(&buf[skip..]);
            skip = 0;
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn io_failure(e: io::Error) -> TlsError {
    TlsError {
        failure: TlsFailure::Rejected(TlsAlert::DECODE_ERROR),
        detail: e.to_string(),
    }
}

/// The failure a rustls error stands for: an alert the peer sent, or the
/// alert rustls sends when it rejects the peer's TLS.
fn rustls_failure(e: rustls::Error) -> TlsError {
    use rustls::AlertDescription as A;
    let failure = match &e {
        rustls::Error::AlertReceived(alert) => {
            TlsFailure::AlertReceived(TlsAlert(u8::from(*alert)))
        }
        other => TlsFailure::Rejected(TlsAlert(u8::from(match other {
            rustls::Error::InvalidMessage(m) => A::from(*m),
            rustls::Error::InvalidCertificate(c) => A::from(c.clone()),
            rustls::Error::NoCertificatesPresented => A::CertificateRequired,
            rustls::Error::DecryptError => A::BadRecordMac,
            rustls::Error::NoApplicationProtocol => A::NoApplicationProtocol,
            rustls::Error::PeerIncompatible(_) => A::HandshakeFailure,
            rustls::Error::PeerMisbehaved(_) | rustls::Error::InappropriateMessage { .. } => {
                A::UnexpectedMessage
            }
            rustls::Error::InappropriateHandshakeMessage { .. } => A::UnexpectedMessage,
            _ => A::InternalError,
        }))),
    };
    TlsError {
        failure,
        detail: e.to_string(),
    }
}
