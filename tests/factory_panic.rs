//! A handler factory that panics costs only the connection being accepted
//! (it is reset); the listener and the other connections carry on.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use netloop::ListenOptions;
use netloop::handler::Echo;

#[test]
fn a_panicking_factory_drops_only_that_connection() {
    let made = AtomicUsize::new(0);
    let server = serve(ListenOptions::default(), move || {
        if made.fetch_add(1, Ordering::SeqCst) == 1 {
            panic!("factory bug, provoked by the test");
        }
        Echo
    });
    let mut first = server.client();
    first.write_all(b"one").unwrap();
    let mut buf = [0u8; 3];
    first.read_exact(&mut buf).unwrap();

    let mut second = server.client();
    let refused = second.read_retrying(&mut buf);
    assert!(
        matches!(&refused, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "the connection whose handler could not be made is reset: {refused:?}"
    );

    let mut third = server.client();
    third.write_all(b"two").unwrap();
    third.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"two");
    first.write_all(b"thr").unwrap();
    first.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"thr");
    drop((first, third));
    let metrics = server.finish();
    assert_eq!(metrics.panics, 1);
    assert_eq!(metrics.accepted, 3);
    // Only the two connections that got a handler were opened and closed.
    assert_eq!(metrics.closed_total(), 2);
}
