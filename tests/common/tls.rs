//! TLS test support (cargo feature `tls`): a certificate made at run time
//! for `localhost`, written as PEM files, and blocking rustls clients.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use netloop::tls::rustls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, StreamOwned};

use super::ReadRetrying;
use super::inline::Inline;

/// A self-signed certificate for `localhost` and 127.0.0.1, in a
/// directory of its own: `cert.pem` (also the CA a client trusts) and
/// `key.pem`.
pub struct TestCert {
    pub dir: PathBuf,
}

impl TestCert {
    pub fn new() -> TestCert {
        TestCert::new_in("main")
    }

    /// Another certificate (another CA), in a directory named by `tag`.
    pub fn new_in(tag: &str) -> TestCert {
        TestCert::with_names(tag, Vec::new())
    }

    /// A certificate also valid for `extra` names (many make it large).
    #[allow(dead_code)] // not every test binary makes one
    pub fn with_names(tag: &str, extra: Vec<String>) -> TestCert {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        names.extend(extra);
        let made = rcgen::generate_simple_self_signed(names).expect("certificate");
        let dir = std::env::temp_dir().join(format!(
            "netloop-tls-{}-{tag}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        TestCert { dir }
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    pub fn server(&self) -> ServerConfig {
        netloop::tls::server_config(&self.cert(), &self.key()).unwrap()
    }

    pub fn client(&self) -> Arc<ClientConfig> {
        Arc::new(netloop::tls::client_config(&self.cert()).unwrap())
    }

    /// A blocking TLS client connected to `addr` (handshake done), with a
    /// read timeout so that a broken server fails the test.
    pub fn connect(&self, addr: SocketAddr) -> StreamOwned<ClientConnection, TcpStream> {
        self.connect_with(addr, self.client())
    }

    /// [`connect`](Self::connect) with a client configuration of the
    /// caller's (kept across connections, it resumes sessions).
    pub fn connect_with(
        &self,
        addr: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> StreamOwned<ClientConnection, TcpStream> {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("handshake");
        }
        tls
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads plaintext until close_notify (`Ok`) or an error (a FIN without
/// close_notify is `UnexpectedEof`).
pub fn read_to_close_notify(
    tls: &mut StreamOwned<ClientConnection, TcpStream>,
) -> (Vec<u8>, io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tls.read_retrying(&mut buf) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}

/// Sends our close_notify.
pub fn send_close_notify(tls: &mut StreamOwned<ClientConnection, TcpStream>) {
    tls.conn.send_close_notify();
    tls.flush().unwrap();
}

/// Moves what a non-blocking client has to send and what has arrived for
/// it; returns once neither moves.
pub fn client_io(tls: &mut ClientConnection, tcp: &mut TcpStream) {
    while tls.wants_write() {
        tls.write_tls(tcp).expect("client write");
    }
    loop {
        match tls.read_tls(tcp) {
            Ok(0) => panic!("the server closed during the handshake"),
            Ok(_) => {
                tls.process_new_packets().expect("server flight");
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("client read: {e}"),
        }
    }
}

/// A rustls client for `localhost` on a non-blocking socket to `server`
/// (connected by the kernel, nothing sent yet).
pub fn stepped_client(cert: &TestCert, server: &Inline) -> (ClientConnection, TcpStream) {
    let tcp = server.client();
    tcp.set_nonblocking(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    (ClientConnection::new(cert.client(), name).unwrap(), tcp)
}

/// Completes the client's handshake, turning the server's loop only
/// between the client's steps; returns once the client's Finished is sent
/// (and before the loop has read it).
pub fn handshake_stepwise(server: &mut Inline, tls: &mut ClientConnection, tcp: &mut TcpStream) {
    let deadline = std::time::Instant::now() + super::PATIENCE;
    while tls.is_handshaking() {
        assert!(std::time::Instant::now() < deadline, "no handshake");
        client_io(tls, tcp);
        server.turn();
    }
    client_io(tls, tcp);
}
