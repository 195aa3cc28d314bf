//! cargo-fuzz target: operation sequences on `SendBuf` against a plain byte
//! queue (decoder and checks in fuzz/common/send_buf_ops.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/send_buf_ops.rs"]
mod send_buf_ops;

fuzz_target!(|data: &[u8]| {
    send_buf_ops::run(&send_buf_ops::decode(data));
});
