//! cargo-fuzz target: operation sequences on `SendBuf` against a plain byte
//! queue (decoder and checks in `fuzz_ops::send_buf`,
//! crates/fuzz-ops/src/send_buf.rs).
#![no_main]

use fuzz_ops::send_buf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    send_buf::run(&send_buf::decode(data));
});
