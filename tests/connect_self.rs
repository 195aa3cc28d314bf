//! A connect that ends up connected to itself (bound to the very address it
//! connects to: a TCP simultaneous open) is detected and reported as
//! `SelfConnect`, never opened.

mod common;

use std::net::{SocketAddr, TcpListener};

use common::*;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnectErrorKind, ConnectOptions, ListenOptions};

#[test]
fn a_connection_to_itself_is_refused_as_self_connect() {
    let server = serve(ListenOptions::default(), || Discard);
    // A free port: bind one, note it, let it go.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let id = server.connect(addr, ConnectOptions::default().bind(addr), Discard);
    server.wait_log("the connect ended", |log| log.closes().contains_key(&id));
    assert_eq!(
        server.log.of(id),
        vec![
            Ev::ConnectError(ConnectErrorKind::SelfConnect),
            Ev::Close(CloseReason::ConnectFailed(ConnectErrorKind::SelfConnect)),
        ]
    );
    server.finish();
}
