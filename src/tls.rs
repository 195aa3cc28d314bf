//! TLS on the same callbacks (cargo feature `tls`), built on
//! [rustls](https://docs.rs/rustls): a listener or an outbound connection
//! given a rustls configuration speaks TLS, and its handler sees only
//! plaintext, with every guarantee it has over TCP.
//!
//! - **Server:** [`ListenOptions::tls`] with a rustls `ServerConfig`
//!   (certificates, ALPN); [`server_config`] builds one from PEM files.
//! - **Client:** [`ConnectOptions::tls`] with a `ClientConfig` and the
//!   server's name; [`client_config`] builds one trusting a CA file.
//! - **The handshake comes first.** The connection is
//!   [`Connecting`](crate::ConnState::Connecting) until it completes, then
//!   `on_open` runs, with [`Ctx::tls_alpn`](crate::Ctx::tls_alpn) and
//!   [`Ctx::tls_server_name`](crate::Ctx::tls_server_name) available. It
//!   has [`tls_handshake_timeout`](crate::ConnOptions::tls_handshake_timeout)
//!   to do so (default [`DEFAULT_HANDSHAKE_TIMEOUT`], 10 s).
//! - **Failures have their reason:** a handshake that times out or is cut
//!   off, a fatal alert from the peer, or TLS we reject (the peer gets our
//!   alert) closes with [`CloseReason::Tls`](crate::CloseReason::Tls); an
//!   outbound connection hears of it through `on_connect_error` first
//!   ([`ConnectErrorKind::Tls`](crate::ConnectErrorKind::Tls)). They are
//!   counted in [`MetricsSnapshot::tls_failures`](crate::MetricsSnapshot::tls_failures).
//! - **The ends map one to one:** `close()` sends close_notify, then the
//!   FIN, and lingers as a plain close does; `shutdown_write()` sends
//!   close_notify and the FIN and reading goes on; the peer's close_notify
//!   is `on_eof`; its FIN without close_notify closes with
//!   [`CloseReason::Truncated`](crate::CloseReason::Truncated) (so a body
//!   cut short is never taken for a complete one); `abort()` is an RST
//!   without close_notify.
//! - **What is queued is ciphertext.** Sends are encrypted at once and go
//!   to the kernel, or to the send queue if it would block: the water
//!   marks and the cap count TLS records (about 22 bytes more per 16 KiB
//!   record than was sent). Plaintext an outbound connection sends before
//!   its handshake completes waits in rustls, and counts against the cap.
//! - **Debugging:** the configurations made here log session keys to the
//!   file named by `SSLKEYLOGFILE`, if set (for Wireshark). Session
//!   resumption is on (rustls's defaults: a server cache and tickets, a
//!   client cache of 256 sessions).
//!
//! ```no_run
//! use std::sync::Arc;
//! use netloop::bytes::BytesMut;
//! use netloop::{Ctx, Handler, ListenOptions, Reactor};
//!
//! struct Hello;
//! impl Handler<()> for Hello {
//!     fn on_open(&mut self, ctx: &mut Ctx<'_, ()>) {
//!         let _ = ctx.send(b"hello over TLS\n");
//!         ctx.close();
//!     }
//!     fn on_read(&mut self, _ctx: &mut Ctx<'_, ()>, input: &mut BytesMut) {
//!         input.clear();
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let config = netloop::tls::server_config("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let mut reactor = Reactor::new()?;
//! let opts = ListenOptions::default().tls(Arc::new(config));
//! reactor.listen("127.0.0.1:8443".parse().unwrap(), opts, || Hello)?;
//! reactor.run()?;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub use crate::conn::tls::DEFAULT_HANDSHAKE_TIMEOUT;
use crate::conn::tls::TlsSetup;
use crate::{ConnOptions, ConnectOptions, Ctx, ListenOptions};

impl ListenOptions {
    /// Accepted connections speak TLS as servers with `config`.
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.conn.tls = Some(TlsSetup::server(config));
        self
    }
}

impl ConnectOptions {
    /// The connection speaks TLS as a client with `config`, to the server
    /// `name` (sent as SNI, and what its certificate must be for).
    pub fn tls(mut self, config: Arc<ClientConfig>, name: ServerName<'static>) -> Self {
        self.conn.tls = Some(TlsSetup::client(config, name));
        self
    }
}

impl ConnOptions {
    /// How long a TLS handshake may take, from the accept (or from the TCP
    /// connect completing) to its end (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]); past it the connection closes with
    /// [`TlsFailure::HandshakeTimeout`](crate::TlsFailure::HandshakeTimeout).
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.tls_handshake_timeout = timeout;
        self
    }
}

/// What a TLS connection negotiated ([`Ctx::tls_info`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version (`TLSv1_3`, `TLSv1_2`).
    pub version: Option<rustls::ProtocolVersion>,
    /// The cipher suite.
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// The ALPN protocol agreed on, if any.
    pub alpn: Option<Vec<u8>>,
    /// On a server, the name the client asked for (SNI); on a client, the
    /// name it connected to.
    pub server_name: Option<String>,
}

impl<S: 'static> Ctx<'_, S> {
    /// What this connection's TLS negotiated; `None` on a connection
    /// without TLS. Complete from `on_open` on.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let slot = self.rc.core.slot_of(self.id).ok()?;
        let conn = self.rc.core.conn(slot)?;
        let tls = conn.tls.as_ref()?;
        Some(TlsInfo {
            version: tls.protocol_version(),
            cipher_suite: tls.cipher_suite(),
            alpn: tls.alpn_protocol().map(<[u8]>::to_vec),
            server_name: tls.server_name(conn.opts.tls.as_ref()).map(str::to_string),
        })
    }

    /// The ALPN protocol agreed on (see [`TlsInfo::alpn`]).
    pub fn tls_alpn(&self) -> Option<Vec<u8>> {
        self.tls_info()?.alpn
    }

    /// The server name (see [`TlsInfo::server_name`]).
    pub fn tls_server_name(&self) -> Option<String> {
        self.tls_info()?.server_name
    }
}

/// The ring provider: the one this crate builds rustls with (no cmake or
/// C++ toolchain needed). rustls marks it deprecated because it has no
/// post-quantum key exchange; X25519 and the NIST curves remain.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// A server configuration from a PEM certificate chain (leaf first) and a
/// PEM private key (PKCS#8, PKCS#1 or SEC1), with rustls's safe defaults
/// (TLS 1.3 and 1.2), no client authentication, session resumption on,
/// and key logging to `SSLKEYLOGFILE` if it is set. Set
/// `alpn_protocols` on the result before wrapping it in an `Arc`.
///
/// ```no_run
/// let mut config = netloop::tls::server_config("cert.pem".as_ref(), "key.pem".as_ref())?;
/// config.alpn_protocols = vec![b"http/1.1".to_vec()];
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn server_config(cert_chain: &Path, key: &Path) -> io::Result<ServerConfig> {
    let certs = CertificateDer::pem_file_iter(cert_chain)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("{}: {e}", cert_chain.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "{}: no certificate found",
            cert_chain.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid(format!("{}: {e}", key.display())))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(invalid)?;
    config.key_log = Arc::new(rustls::KeyLogFile::new());
    Ok(config)
}

/// A client configuration that trusts the certificates in the PEM file
/// `ca` (rustls's safe defaults, session resumption on, key logging to
/// `SSLKEYLOGFILE` if it is set).
///
/// ```no_run
/// let config = netloop::tls::client_config("ca.pem".as_ref())?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn client_config(ca: &Path) -> io::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca).map_err(|e| invalid(format!("{}: {e}", ca.display())))?
    {
        let cert = cert.map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
        roots.add(cert).map_err(invalid)?;
    }
    if roots.is_empty() {
        return Err(invalid(format!("{}: no certificate found", ca.display())));
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.key_log = Arc::new(rustls::KeyLogFile::new());
    Ok(config)
}

/// A server name for [`ConnectOptions::tls`]: a DNS name or an IP address.
///
/// ```
/// let name = netloop::tls::server_name("localhost").unwrap();
/// assert!(netloop::tls::server_name("not a name!").is_err());
/// # let _ = name;
/// ```
pub fn server_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name.to_string()).map_err(invalid)
}
