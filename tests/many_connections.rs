//! 9,000 concurrent connections are accepted and echoed. (Client and server
//! sockets share this process's 20,000-descriptor limit.)

mod common;

use std::io::{Read, Write};

use common::*;
use netloop::ListenOptions;
use netloop::handler::Echo;

const CONNS: usize = 9_000;

#[test]
fn nine_thousand_concurrent_connections_echo() {
    let server = serve(ListenOptions::default(), || Echo);
    let mut clients: Vec<_> = (0..CONNS).map(|_| server.client()).collect();
    let handle = server.handle.clone();
    wait_until("all connections accepted", || {
        handle.metrics().open == CONNS as u64
    });
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("{i:06}").as_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut buf = [0u8; 6];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, format!("{i:06}").as_bytes());
    }
    drop(clients);
    let metrics = server.finish();
    assert_eq!(metrics.accepted, CONNS as u64);
    assert_eq!(metrics.closed_total(), CONNS as u64);
}
