//! Closing verbs used before an outbound connect completes: bytes sent while
//! connecting are delivered, then `close()` sends FIN and `shutdown_write()`
//! half-closes (the reply still arrives); `close()` with nothing queued
//! abandons the attempt (`on_close(Local)` without `on_open`). Once closed
//! or shut, sending is refused while still connecting.

mod common;
mod netns;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use netloop::bytes::Bytes;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnectErrorKind, ConnectOptions, Error, ListenOptions};

/// Posts a connect to `addr` and, in the same loop turn (so still
/// connecting), sends `data` and calls `verb` on the new connection.
fn connect_send_and(
    server: &Server,
    addr: SocketAddr,
    data: &'static [u8],
    verb: fn(&mut netloop::ConnRef<'_>),
) -> netloop::ConnId {
    let log = server.log.clone();
    let (tx, rx) = mpsc::channel();
    server
        .handle
        .post(move |rc| {
            let id = rc
                .connect(addr, ConnectOptions::default(), Recorder::new(Discard, log))
                .unwrap();
            let mut conn = rc.conn(id);
            assert_eq!(conn.conn_state(), Some(netloop::ConnState::Connecting));
            if !data.is_empty() {
                conn.send_bytes(Bytes::from_static(data)).unwrap();
            }
            verb(&mut conn);
            tx.send(id).unwrap();
        })
        .unwrap();
    rx.recv().unwrap()
}

#[test]
fn close_while_connecting_delivers_what_was_sent_then_fin() {
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(ListenOptions::default(), || Discard);
    let id = connect_send_and(&server, peer.local_addr().unwrap(), b"request", |c| {
        c.close().unwrap();
    });
    let (mut accepted, _) = peer.accept().unwrap();
    accepted.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    accepted.read_to_end(&mut got).expect("a clean FIN");
    assert_eq!(got, b"request");
    drop(accepted); // our FIN ends its lingering close
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    assert_eq!(
        server.log.of(id),
        vec![Ev::Open, Ev::Close(CloseReason::Local)]
    );
    server.finish();
}

#[test]
fn shutdown_write_while_connecting_half_closes_after_the_bytes() {
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(ListenOptions::default(), || Discard);
    let id = connect_send_and(&server, peer.local_addr().unwrap(), b"question", |c| {
        c.shutdown_write().unwrap();
    });
    let (mut accepted, _) = peer.accept().unwrap();
    accepted.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    accepted.read_to_end(&mut got).expect("our FIN");
    assert_eq!(got, b"question");
    accepted.write_all(b"answer").unwrap();
    drop(accepted);
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    assert_eq!(
        server.log.of(id),
        vec![
            Ev::Open,
            Ev::HalfClose,
            Ev::Read(6),
            Ev::Eof,
            Ev::Close(CloseReason::PeerClosed)
        ]
    );
    server.finish();
}

#[test]
fn close_while_connecting_with_nothing_queued_abandons_the_attempt() {
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(ListenOptions::default(), || Discard);
    let id = connect_send_and(&server, peer.local_addr().unwrap(), b"", |c| {
        c.close().unwrap();
    });
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    assert_eq!(server.log.of(id), vec![Ev::Close(CloseReason::Local)]);
    server.finish();
}

#[test]
fn after_close_while_connecting_sends_are_refused_and_the_timeout_still_holds() {
    let Some(net) = netns::pair("close_while_connecting") else {
        return;
    };
    let target = SocketAddr::new(net.unanswered_host().into(), 80);
    net.run_local(|| {
        let server = serve(ListenOptions::default(), || Discard);
        let log = server.log.clone();
        let (tx, rx) = mpsc::channel();
        server
            .handle
            .post(move |rc| {
                let opts = ConnectOptions::default().timeout(Duration::from_secs(1));
                let id = rc
                    .connect(target, opts, Recorder::new(Discard, log))
                    .unwrap();
                rc.conn(id).send(b"request").unwrap();
                rc.conn(id).close().unwrap();
                tx.send(id).unwrap();
            })
            .unwrap();
        let id = rx.recv().unwrap();
        // A later turn: the close waits for a connect that never completes.
        let (tx, rx) = mpsc::channel();
        server
            .handle
            .post(move |rc| {
                let mut conn = rc.conn(id);
                let state = conn.conn_state();
                tx.send((state, conn.send(b"late"))).unwrap();
            })
            .unwrap();
        let (state, late) = rx.recv().unwrap();
        assert_eq!(state, Some(netloop::ConnState::Connecting));
        assert!(matches!(late, Err(Error::WriteClosed)), "{late:?}");
        server.wait_log("the connect timed out", |log| {
            log.closes().contains_key(&id)
        });
        assert_eq!(
            server.log.of(id),
            vec![
                Ev::ConnectError(ConnectErrorKind::TimedOut),
                Ev::Close(CloseReason::ConnectFailed(ConnectErrorKind::TimedOut)),
            ]
        );
        server.finish();
    });
}
