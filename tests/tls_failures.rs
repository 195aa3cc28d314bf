//! TLS failures close with their own reason, counted, never a panic:
//! plain text on the TLS port, a handshake that never finishes or is cut
//! off, a client that rejects the certificate; and a peer that never reads
//! holds at most the cap in ciphertext.
#![cfg(feature = "tls")]

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use common::tls::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, ConnOptions, Ctx, Echo, Error, Handler, ListenOptions, TlsFailure};

fn tls_opts(cert: &TestCert, conn: ConnOptions) -> ListenOptions {
    ListenOptions::default()
        .conn(conn)
        .tls(Arc::new(cert.server()))
}

fn only_close(server: &Server) -> CloseReason {
    server.wait_log("closed", |log| log.closes().len() == 1);
    let closes: Vec<_> = server.log.closes().into_values().flatten().collect();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert!(
        !server.log.events().iter().any(|(_, ev)| *ev == Ev::Open),
        "on_open must not run without a handshake"
    );
    closes[0]
}

#[test]
fn plain_text_to_the_tls_port_is_rejected_with_an_alert() {
    let cert = TestCert::new();
    let server = serve(tls_opts(&cert, ConnOptions::default()), || Echo);
    let mut c = server.client();
    c.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (reply, _) = read_to_end(&mut c);
    // A TLS alert record (content type 21), never plain text.
    assert_eq!(reply.first(), Some(&21), "reply: {reply:?}");
    assert!(
        matches!(
            only_close(&server),
            CloseReason::Tls(TlsFailure::Rejected(_))
        ),
        "{:?}",
        server.log.closes()
    );
    let metrics = server.finish();
    assert_eq!((metrics.tls_failures, metrics.tls_handshakes), (1, 0));
}

#[test]
fn a_handshake_that_never_finishes_is_closed_at_the_timeout() {
    let cert = TestCert::new();
    let conn = ConnOptions::default().tls_handshake_timeout(Duration::from_millis(300));
    let server = serve(tls_opts(&cert, conn), || Echo);
    let mut c = server.client();
    // Connected, and silent.
    let (reply, _) = read_to_end(&mut c);
    assert!(reply.is_empty());
    assert_eq!(
        only_close(&server),
        CloseReason::Tls(TlsFailure::HandshakeTimeout)
    );
    assert_eq!(server.finish().tls_failures, 1);
}

#[test]
fn a_handshake_cut_off_by_the_peer_is_reported_as_such() {
    let cert = TestCert::new();
    let server = serve(tls_opts(&cert, ConnOptions::default()), || Echo);
    let mut c = server.client();
    // The start of a handshake record, then the FIN.
    c.write_all(&[22, 3, 1, 0, 200, 1, 0]).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = read_to_end(&mut c);
    assert_eq!(
        only_close(&server),
        CloseReason::Tls(TlsFailure::HandshakeCut)
    );
    server.finish();
}

#[test]
fn a_client_that_rejects_the_certificate_is_seen_through_its_alert() {
    let cert = TestCert::new();
    let other = TestCert::new_in("other");
    let server = serve(tls_opts(&cert, ConnOptions::default()), || Echo);
    let tcp = std::net::TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let name = netloop::tls::server_name("localhost").unwrap();
    // Trusts another CA: the server's certificate does not verify.
    let conn = netloop::tls::rustls::ClientConnection::new(other.client(), name).unwrap();
    let mut tls = netloop::tls::rustls::StreamOwned::new(conn, tcp);
    let err = tls.write_all(b"hello").and_then(|_| tls.flush());
    let err = err.and_then(|_| tls.read_retrying(&mut [0u8; 8]).map(|_| ()));
    assert!(err.is_err(), "the handshake must fail");
    drop(tls);
    let reason = only_close(&server);
    assert!(
        matches!(reason, CloseReason::Tls(TlsFailure::AlertReceived(_))),
        "{reason}"
    );
    server.finish();
}

/// Sends 1 MiB at a time while the queue takes it; records the refusal.
struct Flood {
    refused: bool,
}

impl Handler for Flood {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..64 {
            match ctx.send(&chunk) {
                Ok(()) => {}
                Err(Error::QueueFull { queued, cap, .. }) => {
                    // The cap is checked against the plaintext offered; what
                    // is queued is ciphertext, 22 bytes more per 16 KiB.
                    assert!(queued <= cap + cap / 500, "{queued} queued, cap {cap}");
                    self.refused = true;
                    break;
                }
                Err(e) => panic!("unexpected send error: {e}"),
            }
        }
        assert!(self.refused, "64 MiB to a peer that does not read");
        ctx.close();
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

#[test]
fn a_peer_that_never_reads_holds_at_most_the_cap_in_ciphertext() {
    let cert = TestCert::new();
    let cap = 4 << 20;
    let conn = ConnOptions::default()
        .max_send_queue(cap)
        .linger(Duration::from_millis(300));
    let server = serve(tls_opts(&cert, conn), || Flood { refused: false });
    let tls = cert.connect(server.addr);
    server.wait_log("the server closed", |log| log.closes().len() == 1);
    let sent = server.handle.metrics().bytes_out;
    drop(tls);
    // The lingering close made no progress against a peer that does not
    // read: reset at its deadline.
    let reason = server.log.closes().into_values().flatten().next().unwrap();
    assert_eq!(reason, CloseReason::LingerTimeout);
    // The kernel took only part of it (the rest was refused, not queued).
    assert!(sent < 64 << 20, "{sent} bytes went out");
    server.finish();
}

#[test]
fn random_bytes_to_the_tls_port_close_with_a_tls_reason_and_nothing_else() {
    let cert = TestCert::new();
    let server = serve(tls_opts(&cert, ConnOptions::default()), || Echo);
    // A fixed xorshift sequence: junk, and junk behind a valid record header.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let rounds = 40;
    for i in 0..rounds {
        let len = 1 + (next() % 3000) as usize;
        let mut junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 {
            junk[..5.min(len)].copy_from_slice(&[22, 3, 1, 2, 0][..5.min(len)]);
        }
        let mut c = server.client();
        let _ = c.write_all(&junk);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let _ = read_to_end(&mut c);
    }
    server.wait_log("every connection closed", |log| {
        log.closes().len() == rounds
    });
    for reason in server.log.closes().into_values().flatten() {
        assert!(matches!(reason, CloseReason::Tls(_)), "{reason}");
    }
    let metrics = server.finish();
    assert_eq!(metrics.tls_failures, rounds as u64);
    assert_eq!(metrics.tls_handshakes, 0);
}

#[test]
fn a_client_that_resets_right_after_its_finished_never_gets_on_open() {
    let cert = TestCert::new();
    let mut server = common::inline::Inline::new(tls_opts(&cert, ConnOptions::default()), || Echo);
    let (mut tls, mut tcp) = stepped_client(&cert, &server);
    // The loop turns only between the client's steps, so the client's
    // Finished and its reset reach the server in the same read.
    handshake_stepwise(&mut server, &mut tls, &mut tcp);
    reset(tcp);
    server.turn_until("the close", |_, log| !log.closes().is_empty());
    let events: Vec<Ev> = server.log.events().into_iter().map(|(_, ev)| ev).collect();
    assert_eq!(
        events,
        [Ev::Close(CloseReason::Reset)],
        "one close, no on_open"
    );
    assert_eq!(server.reactor.metrics().tls_handshakes, 0);
}
