//! Ids carry a generation: after a connection closes and its slot is
//! reused, the old id reaches nothing and the new connection is untouched.

mod common;

use std::io::{Read, Write};

use common::*;
use netloop::handler::Echo;
use netloop::{Error, ListenOptions};

#[test]
fn a_stale_id_never_reaches_the_connection_reusing_its_slot() {
    let server = serve(ListenOptions::default(), || Echo);
    let first = server.client();
    server.wait_log("first opened", |log| log.conns().len() == 1);
    let old = server.log.conns()[0];
    drop(first);
    server.wait_log("first closed", |log| log.closes().contains_key(&old));
    // The slab hands the freed slot to the next connection.
    let mut second = server.client();
    second.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    second.read_exact(&mut buf).unwrap();
    let new = server.log.conns()[1];
    assert_ne!(old, new);

    let (tx, rx) = std::sync::mpsc::channel();
    server
        .handle
        .post(move |rc| {
            let send = rc.conn(old).send(b"for the old connection");
            let close = rc.conn(old).close();
            let open = rc.conn(new).is_open();
            tx.send((send, close, open)).unwrap();
        })
        .unwrap();
    let (send, close, open) = rx.recv().unwrap();
    assert!(matches!(send, Err(Error::NoSuchConn)), "{send:?}");
    assert!(matches!(close, Err(Error::NoSuchConn)), "{close:?}");
    assert!(open, "the new connection was not disturbed");
    // Nothing meant for the old id arrived on the new connection.
    second.write_all(b"pong").unwrap();
    second.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
    drop(second);
    server.finish();
}
