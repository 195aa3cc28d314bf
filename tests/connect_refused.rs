//! A connect to a port where nothing listens (RST) fails as `Refused`, with
//! `on_connect_error` then exactly one `on_close`, and never `on_open`.

mod common;

use std::net::SocketAddr;

use common::*;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnectErrorKind, ConnectOptions, ListenOptions};
use socket2::{Domain, Socket, Type};

#[test]
fn a_closed_port_on_loopback_is_refused() {
    // A socket bound but not listening holds the port, so no one else can
    // start listening there during the test; SYNs to it get RST.
    let holder = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    holder
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let target = holder.local_addr().unwrap().as_socket().unwrap();
    let server = serve(ListenOptions::default(), || Discard);
    let id = server.connect(target, ConnectOptions::default(), Discard);
    server.wait_log("the connect failed", |log| log.closes().contains_key(&id));
    assert_eq!(
        server.log.of(id),
        vec![
            Ev::ConnectError(ConnectErrorKind::Refused),
            Ev::Close(CloseReason::ConnectFailed(ConnectErrorKind::Refused)),
        ]
    );
    let metrics = server.finish();
    assert_eq!(
        metrics.closed_with(CloseReason::ConnectFailed(ConnectErrorKind::Refused)),
        1
    );
    assert_eq!(metrics.connected, 0);
}
