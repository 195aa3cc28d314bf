//! TLS on accepted connections: the handler sees plaintext; `on_open`
//! comes after the handshake with ALPN and SNI known; close() sends
//! close_notify before the FIN; the peer's close_notify is `on_eof`; a FIN
//! without it is `Truncated`; and every connection gets one `on_close`.
#![cfg(feature = "tls")]

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use common::tls::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, Ctx, Echo, Handler, ListenOptions};

fn tls_opts(cert: &TestCert) -> ListenOptions {
    ListenOptions::default().tls(Arc::new(cert.server()))
}

#[test]
fn echoes_plaintext_and_ends_with_close_notify_both_ways() {
    let cert = TestCert::new();
    let server = serve(tls_opts(&cert), || Echo);
    let mut tls = cert.connect(server.addr);
    let data = pattern(1 << 20);
    // In 16 KiB chunks, each read back before the next is sent: 1 MiB in
    // one go would fill both directions' buffers.
    let mut got = vec![0u8; data.len()];
    for (i, chunk) in data.chunks(16 * 1024).enumerate() {
        tls.write_all(chunk).unwrap();
        tls.flush().unwrap();
        let at = i * 16 * 1024;
        tls.read_exact(&mut got[at..at + chunk.len()]).unwrap();
    }
    assert_eq!(got, data, "echoed bytes differ");
    // Our close_notify is the server's on_eof; its default closes, with
    // close_notify of its own before the FIN.
    send_close_notify(&mut tls);
    let (rest, end) = read_to_close_notify(&mut tls);
    assert!(rest.is_empty());
    end.expect("the server's close_notify came before its FIN");
    server.wait_log("the connection closed", |log| log.closes().len() == 1);
    let events = server.log.events();
    assert!(events.iter().any(|(_, ev)| *ev == Ev::Eof), "{events:?}");
    let closes: Vec<_> = server.log.closes().into_values().flatten().collect();
    assert_eq!(closes, [CloseReason::PeerClosed]);
    let metrics = server.finish();
    assert_eq!(metrics.tls_handshakes, 1);
    assert_eq!(metrics.tls_failures, 0);
}

/// Says hello with what TLS negotiated, then closes.
struct Greeter;

impl Handler for Greeter {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let info = ctx.tls_info().expect("a TLS connection");
        let alpn = info.alpn.map(|p| String::from_utf8(p).unwrap());
        let line = format!(
            "{:?} {:?} {:?}\n",
            info.version.expect("version known at on_open"),
            alpn,
            info.server_name
        );
        ctx.send(line.as_bytes()).unwrap();
        ctx.close();
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

#[test]
fn on_open_comes_after_the_handshake_with_alpn_and_sni() {
    let cert = TestCert::new();
    let mut config = cert.server();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let server = serve(ListenOptions::default().tls(Arc::new(config)), || Greeter);
    let mut client_config = (*cert.client()).clone();
    client_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = std::net::TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let name = netloop::tls::server_name("localhost").unwrap();
    let conn = netloop::tls::rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut tls = netloop::tls::rustls::StreamOwned::new(conn, tcp);
    let (got, end) = read_to_close_notify(&mut tls);
    end.expect("close_notify before the FIN");
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "TLSv1_3 Some(\"http/1.1\") Some(\"localhost\")\n"
    );
    drop(tls);
    server.wait_log("closed", |log| log.closes().len() == 1);
    server.finish();
}

#[test]
fn a_fin_without_close_notify_is_truncation() {
    let cert = TestCert::new();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let server = serve(tls_opts(&cert), move || Collect(sink.clone()));
    let mut tls = cert.connect(server.addr);
    tls.write_all(b"partial body").unwrap();
    tls.flush().unwrap();
    // Hang up without close_notify.
    tls.sock.shutdown(std::net::Shutdown::Write).unwrap();
    server.wait_log("closed", |log| log.closes().len() == 1);
    let closes: Vec<_> = server.log.closes().into_values().flatten().collect();
    assert_eq!(closes, [CloseReason::Truncated]);
    assert!(!server.log.events().iter().any(|(_, ev)| *ev == Ev::Eof));
    assert_eq!(
        *received.lock().unwrap(),
        b"partial body",
        "delivered first"
    );
    server.finish();
}

/// Keeps what it reads.
struct Collect(Arc<Mutex<Vec<u8>>>);

impl Handler for Collect {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.0.lock().unwrap().extend_from_slice(input);
        input.clear();
    }
}

#[test]
fn close_sends_queued_data_then_close_notify_then_fin() {
    let cert = TestCert::new();
    let server = serve(tls_opts(&cert), || Sender(4 << 20));
    let mut tls = cert.connect(server.addr);
    let (got, end) = read_to_close_notify(&mut tls);
    end.expect("close_notify came after the data");
    assert_eq!(got, pattern(4 << 20));
    // After close_notify, the TCP stream ends (the FIN).
    let mut rest = Vec::new();
    tls.sock.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // Our FIN (without close_notify: the server closed first and only
    // waits for the FIN) completes its lingering close.
    drop(tls);
    server.wait_log("closed", |log| log.closes().len() == 1);
    let closes: Vec<_> = server.log.closes().into_values().flatten().collect();
    assert!(closes[0].is_graceful(), "{closes:?}");
    server.finish();
}

/// Sends this many bytes of the pattern, then closes.
struct Sender(usize);

impl Handler for Sender {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.send(&pattern(self.0)).unwrap();
        ctx.close();
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

#[test]
fn a_second_connection_resumes_the_session() {
    let cert = TestCert::new();
    let server = serve(tls_opts(&cert), || Echo);
    let config = cert.client();
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let mut tls = cert.connect_with(server.addr, config.clone());
        // A round trip: the client reads the server's session tickets.
        tls.write_all(b"x").unwrap();
        tls.flush().unwrap();
        tls.read_exact(&mut [0u8; 1]).unwrap();
        kinds.push(tls.conn.handshake_kind());
        send_close_notify(&mut tls);
        let _ = read_to_close_notify(&mut tls);
    }
    use netloop::tls::rustls::HandshakeKind;
    assert_eq!(
        kinds,
        [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)]
    );
    server.wait_log("both closed", |log| log.closes().len() == 2);
    server.finish();
}

/// Corks, sends a slice and a vectored send, and closes from the same
/// callback: the peer reads them in order, then close_notify.
struct Parts;

impl Handler for Parts {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.cork();
        ctx.send(b"one ").unwrap();
        ctx.send_vectored(&[b"two ", b"three"]).unwrap();
        assert!(ctx.queued() > 0, "corked: held back");
        ctx.close();
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

#[test]
fn corked_and_vectored_sends_are_encrypted_in_order() {
    let cert = TestCert::new();
    let server = serve(tls_opts(&cert), || Parts);
    let mut tls = cert.connect(server.addr);
    let (got, end) = read_to_close_notify(&mut tls);
    end.expect("close_notify after the data");
    assert_eq!(got, b"one two three");
    drop(tls);
    server.wait_log("closed", |log| log.closes().len() == 1);
    server.finish();
}

#[test]
fn a_server_flight_larger_than_the_socket_buffer_is_sent_on_writable() {
    // About 50 KB of certificate against a 4 KiB send buffer: the kernel
    // takes the server's first flight in pieces, the rest waits in the
    // queue for writable edges while the connection is still handshaking.
    let names = (0..2000).map(|i| format!("host{i}.example")).collect();
    let cert = TestCert::with_names("large", names);
    let opts = tls_opts(&cert).conn(netloop::ConnOptions::default().send_buffer(4096));
    let server = serve(opts, || Echo);
    let mut tls = cert.connect(server.addr);
    assert!(
        std::fs::metadata(cert.cert()).unwrap().len() > 40_000,
        "the certificate is not large enough to need several sends"
    );
    tls.write_all(b"after a large flight").unwrap();
    tls.flush().unwrap();
    let mut got = [0u8; 20];
    tls.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"after a large flight");
    drop(tls);
    server.wait_log("the connection closed", |log| log.closes().len() == 1);
    let metrics = server.finish();
    assert_eq!(metrics.tls_handshakes, 1);
}

#[test]
fn a_handshake_under_way_at_shutdown_gets_on_open_before_on_shutdown() {
    let cert = TestCert::new();
    let opts = ListenOptions::default().tls(Arc::new(cert.server()));
    let mut server = common::inline::Inline::new(opts, || Echo);
    let (mut tls, mut tcp) = stepped_client(&cert, &server);
    client_io(&mut tls, &mut tcp); // the ClientHello
    server.turn_until("the handshake began", |r, _| r.conn_count() == 1);
    server.reactor.shutdown(std::time::Duration::from_secs(60));
    handshake_stepwise(&mut server, &mut tls, &mut tcp);
    server.turn_until("on_shutdown", |_, log| {
        log.count(|e| *e == Ev::Shutdown) == 1
    });
    drop(tcp); // our FIN ends the close that on_shutdown began
    server.turn_until("the close", |_, log| !log.closes().is_empty());
    let events: Vec<Ev> = server.log.events().into_iter().map(|(_, ev)| ev).collect();
    assert_eq!(events[..2], [Ev::Open, Ev::Shutdown], "{events:?}");
    server.finish();
}
