//! cargo-fuzz target: the HTTP example's request framing
//! (`netloop_http::framing`) on HTTP-shaped input, whole and split into
//! reads (decoder and checks in fuzz/common/http_framing_ops.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

use netloop_http::framing;
#[path = "../common/http_framing_ops.rs"]
mod http_framing_ops;

fuzz_target!(|data: &[u8]| {
    let (stream, cuts) = http_framing_ops::decode(data);
    http_framing_ops::check(&stream, &cuts);
});
