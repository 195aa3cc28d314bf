//! cargo-fuzz target: the HTTP example's request framing
//! (`netloop_http::framing`) on HTTP-shaped input, whole and split into
//! reads (decoder and checks in `fuzz_ops::http_framing`,
//! crates/fuzz-ops/src/http_framing.rs).
#![no_main]

use fuzz_ops::http_framing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (stream, cuts) = http_framing::decode(data);
    http_framing::check(&stream, &cuts);
});
