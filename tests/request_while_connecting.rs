//! A request made while a connect is under way (`shutdown_write`, or
//! `close` with bytes queued: both wait for the handshake) must not hide
//! the handshake's outcome, whose event comes only once (edge triggered):
//! refused, the attempt fails at once; accepted, the request is applied
//! after `on_open`. Before the fix both hung until the connect timeout.

mod common;

use std::net::SocketAddr;

use common::*;
use netloop::{CloseReason, ConnectErrorKind, ConnectOptions};
use socket2::{Domain, Socket, Type};

/// Records the callbacks of an outbound connection in a shared list.
struct Watch(std::rc::Rc<std::cell::RefCell<Vec<Ev>>>);

impl netloop::Handler for Watch {
    fn on_read(&mut self, _ctx: &mut netloop::Ctx<'_>, input: &mut netloop::bytes::BytesMut) {
        input.clear();
    }
    fn on_open(&mut self, _ctx: &mut netloop::Ctx<'_>) {
        self.0.borrow_mut().push(Ev::Open);
    }
    fn on_connect_error(&mut self, _ctx: &mut netloop::Ctx<'_>, error: &netloop::ConnectError) {
        self.0.borrow_mut().push(Ev::ConnectError(error.kind));
    }
    fn on_close(&mut self, _ctx: &mut netloop::Ctx<'_>, reason: CloseReason) {
        self.0.borrow_mut().push(Ev::Close(reason));
    }
}

/// Refused: the request (made before the first turn, so in the turn that
/// sees the refusal) does not hide it.
#[test]
fn a_request_made_while_connecting_does_not_hide_the_refusal() {
    type Request = fn(&mut netloop::ConnRef<'_, ()>);
    let requests: [(&str, Request); 2] = [
        ("shutdown_write", |conn| conn.shutdown_write().unwrap()),
        ("send then close", |conn| {
            conn.send(b"queued while connecting").unwrap();
            conn.close().unwrap();
        }),
    ];
    for (what, request) in requests {
        let holder = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        holder
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let target = holder.local_addr().unwrap().as_socket().unwrap();
        let mut reactor = netloop::Reactor::new().unwrap();
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let opts = ConnectOptions::default().timeout(std::time::Duration::from_secs(60));
        let id = reactor.connect(target, opts, Watch(seen.clone())).unwrap();
        request(&mut reactor.ctx().conn(id));
        let deadline = std::time::Instant::now() + PATIENCE;
        while seen.borrow().is_empty() && std::time::Instant::now() < deadline {
            reactor
                .turn(Some(std::time::Duration::from_millis(100)))
                .unwrap();
        }
        assert_eq!(
            *seen.borrow(),
            vec![
                Ev::ConnectError(ConnectErrorKind::Refused),
                Ev::Close(CloseReason::ConnectFailed(ConnectErrorKind::Refused)),
            ],
            "{what} while connecting"
        );
        assert_eq!(reactor.conn_count(), 0, "{what}: the connection is gone");
    }
}

/// Accepted: the request waits for the handshake and is then applied (the
/// queued bytes, then our FIN, reach the peer).
#[test]
fn a_request_made_while_connecting_waits_for_the_handshake() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let mut reactor = netloop::Reactor::new().unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let opts = ConnectOptions::default().timeout(std::time::Duration::from_secs(60));
    let id = reactor.connect(target, opts, Watch(seen.clone())).unwrap();
    {
        let mut ctx = reactor.ctx();
        let mut conn = ctx.conn(id);
        conn.send(b"sent while connecting").unwrap();
        conn.shutdown_write().unwrap();
    }
    let deadline = std::time::Instant::now() + PATIENCE;
    while seen.borrow().is_empty() && std::time::Instant::now() < deadline {
        reactor
            .turn(Some(std::time::Duration::from_millis(100)))
            .unwrap();
    }
    assert_eq!(*seen.borrow(), vec![Ev::Open], "connected");
    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(std::time::Duration::from_millis(50)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no FIN from the client"
        );
        reactor.turn(Some(std::time::Duration::ZERO)).unwrap();
        match peer.read_retrying(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("peer read: {e}"),
        }
    }
    assert_eq!(got, b"sent while connecting", "the bytes, then our FIN");
    drop(peer);
    reactor.ctx().conn(id).close().ok();
    let deadline = std::time::Instant::now() + PATIENCE;
    while reactor.conn_count() > 0 && std::time::Instant::now() < deadline {
        reactor
            .turn(Some(std::time::Duration::from_millis(100)))
            .unwrap();
    }
    assert_eq!(reactor.conn_count(), 0, "the connection closed");
    assert_eq!(
        seen.borrow()
            .iter()
            .filter(|e| matches!(e, Ev::Close(_)))
            .count(),
        1,
        "exactly one on_close: {:?}",
        seen.borrow()
    );
}
