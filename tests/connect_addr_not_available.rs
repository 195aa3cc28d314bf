//! Binding an outbound connection to an address this host does not have
//! fails as `AddrNotAvailable` (reported through the callbacks, not as an
//! error of `connect` itself); no packet is sent.

mod common;

use std::net::SocketAddr;

use common::*;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnectErrorKind, ConnectOptions, ListenOptions};

#[test]
fn binding_to_a_foreign_local_address_is_addr_not_available() {
    let server = serve(ListenOptions::default(), || Discard);
    // 192.0.2.0/24 is reserved for documentation: never a local address.
    let foreign: SocketAddr = "192.0.2.1:0".parse().unwrap();
    let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let id = server.connect(target, ConnectOptions::default().bind(foreign), Discard);
    server.wait_log("the connect failed", |log| log.closes().contains_key(&id));
    assert_eq!(
        server.log.of(id),
        vec![
            Ev::ConnectError(ConnectErrorKind::AddrNotAvailable),
            Ev::Close(CloseReason::ConnectFailed(
                ConnectErrorKind::AddrNotAvailable
            )),
        ]
    );
    server.finish();
}
