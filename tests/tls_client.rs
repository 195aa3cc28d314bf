//! TLS on outbound connections: `on_open` after the handshake, sends made
//! while connecting delivered after it, half-close with close_notify both
//! ways, and a certificate that does not verify reported through
//! `on_connect_error` and [`CloseReason::Tls`].
#![cfg(feature = "tls")]

mod common;

use std::sync::{Arc, Mutex};

use common::tls::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::{
    CloseReason, ConnState, ConnectErrorKind, ConnectOptions, Ctx, Echo, Handler, ListenOptions,
    TlsFailure,
};

fn connect_opts(cert: &TestCert) -> ConnectOptions {
    let name = netloop::tls::server_name("localhost").unwrap();
    ConnectOptions::default().tls(cert.client(), name)
}

/// Sends a request in `on_open`, half-closes, and keeps the reply.
struct Ask {
    reply: Arc<Mutex<Vec<u8>>>,
}

impl Handler for Ask {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let info = ctx.tls_info().expect("TLS");
        assert_eq!(info.server_name.as_deref(), Some("localhost"));
        ctx.send(b"ping").unwrap();
        ctx.shutdown_write();
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        assert_eq!(ctx.conn_state(), ConnState::WriteClosed);
        self.reply.lock().unwrap().extend_from_slice(input);
        input.clear();
    }
}

#[test]
fn a_client_half_closes_and_reads_the_reply_to_the_servers_close_notify() {
    let cert = TestCert::new();
    let server = serve(
        ListenOptions::default().tls(Arc::new(cert.server())),
        || Echo,
    );
    let reply = Arc::new(Mutex::new(Vec::new()));
    let id = server.connect(
        server.addr,
        connect_opts(&cert),
        Ask {
            reply: reply.clone(),
        },
    );
    server.wait_log("both ends closed", |log| log.closes().len() == 2);
    assert_eq!(*reply.lock().unwrap(), b"ping");
    let client = server.log.of(id);
    // The client: open, the echo, our half-close, then the server's
    // close_notify (on_eof) and a clean close.
    assert_eq!(client.first(), Some(&Ev::Open), "{client:?}");
    assert!(client.contains(&Ev::HalfClose), "{client:?}");
    assert!(client.contains(&Ev::Eof), "{client:?}");
    assert_eq!(client.last(), Some(&Ev::Close(CloseReason::PeerClosed)));
    let metrics = server.finish();
    assert_eq!(metrics.tls_handshakes, 2);
}

/// Sends as soon as the connection exists (before the handshake).
struct Early;

impl Handler for Early {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.len() >= 5 {
            assert_eq!(&input[..], b"early");
            input.clear();
            ctx.close();
        }
    }
}

#[test]
fn sends_made_while_connecting_go_out_after_the_handshake() {
    let cert = TestCert::new();
    let server = serve(
        ListenOptions::default().tls(Arc::new(cert.server())),
        || Echo,
    );
    let opts = connect_opts(&cert);
    let addr = server.addr;
    let log = server.log.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    server
        .handle
        .post(move |rc| {
            let id = rc.connect(addr, opts, Recorder::new(Early, log)).unwrap();
            assert_eq!(rc.conn(id).conn_state(), Some(ConnState::Connecting));
            rc.conn(id).send(b"early").unwrap();
            tx.send(id).unwrap();
        })
        .unwrap();
    let id = rx.recv_timeout(PATIENCE).unwrap();
    server.wait_log("both ends closed", |log| log.closes().len() == 2);
    let client = server.log.of(id);
    assert_eq!(client.first(), Some(&Ev::Open), "{client:?}");
    assert!(
        matches!(client.last(), Some(Ev::Close(r)) if r.is_graceful()),
        "{client:?}"
    );
    server.finish();
}

#[test]
fn a_certificate_that_does_not_verify_fails_the_connect() {
    let cert = TestCert::new();
    let other = TestCert::new_in("other");
    let server = serve(
        ListenOptions::default().tls(Arc::new(cert.server())),
        || Echo,
    );
    let id = server.connect(server.addr, connect_opts(&other), Echo);
    server.wait_log("both ends closed", |log| log.closes().len() == 2);
    let client = server.log.of(id);
    // (Both test certificates name the same issuer, so rustls finds the
    // wrong one and reports a bad signature: decrypt_error.)
    assert!(
        matches!(
            client[..],
            [
                Ev::ConnectError(ConnectErrorKind::Tls),
                Ev::Close(CloseReason::Tls(TlsFailure::Rejected(_)))
            ]
        ),
        "{client:?}"
    );
    // The server hears our alert.
    let server_side: Vec<_> = server
        .log
        .closes()
        .into_iter()
        .filter(|(c, _)| *c != id)
        .collect();
    assert!(
        matches!(
            server_side[0].1[..],
            [CloseReason::Tls(TlsFailure::AlertReceived(_))]
        ),
        "{server_side:?}"
    );
    server.finish();
}

#[test]
fn an_adopted_stream_can_be_a_tls_client() {
    let cert = TestCert::new();
    let server = serve(
        ListenOptions::default().tls(Arc::new(cert.server())),
        || Echo,
    );
    let tcp = std::net::TcpStream::connect(server.addr).unwrap();
    let conn_opts = connect_opts(&cert).conn;
    let reply = Arc::new(Mutex::new(Vec::new()));
    let handler = Ask {
        reply: reply.clone(),
    };
    let log = server.log.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    server
        .handle
        .post(move |rc| {
            let id = rc.adopt_stream(tcp, conn_opts, Recorder::new(handler, log));
            tx.send(id.map_err(|e| e.to_string())).unwrap();
        })
        .unwrap();
    let id = rx.recv_timeout(PATIENCE).unwrap().unwrap();
    server.wait_log("both ends closed", |log| log.closes().len() == 2);
    assert_eq!(*reply.lock().unwrap(), b"ping");
    assert_eq!(server.log.of(id).first(), Some(&Ev::Open));
    server.finish();
}
