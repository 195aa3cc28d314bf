//! What netloop's fuzz targets run, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`, nightly) and their stable harnesses
//! (`tests/fuzz_*.rs`, run by `cargo test`), so both fuzz exactly the same
//! thing. Each module turns arbitrary bytes into an input with `decode`
//! and checks it, panicking on the first violation. Not published.
//!
//! - [`send_buf`]: operation sequences on the send queue
//!   (`netloop::internals::SendBuf`) against a plain byte queue;
//! - [`http_framing`]: HTTP-shaped byte streams through the HTTP example's
//!   request framing (`netloop_http::framing`), whole and split into reads.
//!
//! ```
//! // Any bytes decode; these push 16 bytes, then write them all out.
//! fuzz_ops::send_buf::run(&fuzz_ops::send_buf::decode(&[0, 16, 0, 6, 63, 0, 0xff, 0xff]));
//! let (stream, cuts) = fuzz_ops::http_framing::decode(&[3, 5, 0, 5, 7, 11, 26]);
//! assert!(stream.starts_with(b"GET /plaintext HTTP/1.1\r\n"));
//! fuzz_ops::http_framing::check(&stream, &cuts);
//! ```
#![warn(missing_docs)]

pub mod http_framing;
pub mod send_buf;
