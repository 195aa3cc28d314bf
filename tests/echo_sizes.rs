//! Echo is byte-exact for payloads from 1 byte to 8 MiB, and the reactor's
//! byte counters match what crossed the wire.

mod common;

use common::*;
use netloop::handler::Echo;
use netloop::{CloseReason, ListenOptions};

#[test]
fn echo_is_byte_exact_from_one_byte_to_8_mib() {
    let server = serve(ListenOptions::default(), || Echo);
    let sizes = [1, 100, 64 * 1024 - 1, 64 * 1024 + 1, 1 << 20, 8 << 20];
    for &size in &sizes {
        let mut c = server.client();
        let data = pattern(size);
        let writer = write_in_background(&c, data.clone(), true);
        let (got, end) = read_to_end(&mut c);
        writer.join().unwrap();
        end.expect("clean EOF after the echo");
        assert_eq!(got.len(), size, "echoed length for {size}");
        assert!(got == data, "echoed bytes differ for {size}");
    }
    let total: usize = sizes.iter().sum();
    let metrics = server.finish();
    assert_eq!(metrics.accepted, sizes.len() as u64);
    assert_eq!(metrics.bytes_in, total as u64);
    assert_eq!(metrics.bytes_out, total as u64);
    assert_eq!(
        metrics.closed_with(CloseReason::PeerClosed),
        sizes.len() as u64
    );
}
