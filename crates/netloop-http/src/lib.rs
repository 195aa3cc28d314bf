//! The HTTP/1.1 server of netloop's `http` example, as a library: the
//! example (`examples/http/main.rs`), its tokio peer for benchmarks
//! (`benches/servers/http_tokio.rs`), the tests (`tests/http_*.rs`) and
//! the fuzz targets (`fuzz/`) all use this one copy. Not published.
//!
//! - [`framing`] finds where a request ends in a byte stream, with limits
//!   (pure: bytes in, a request or an error out; fuzzed and property
//!   tested);
//! - [`respond`] writes the responses (`GET /plaintext`, `GET /json` as the
//!   TechEmpower benchmark defines them, and the error statuses);
//! - [`date`] formats the `Date` header;
//! - [`server`] is the netloop handler ([`server::HttpConn`]) and its
//!   per-reactor state ([`server::HttpState`]);
//! - [`args`] reads the servers' command line.
//!
//! ```
//! use netloop_http::date::HttpDate;
//! use netloop_http::framing::{self, Limits, Parse};
//! use netloop_http::respond;
//!
//! let input = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\n";
//! let Ok(Parse::Complete { request, len }) = framing::parse(input, &Limits::default()) else {
//!     panic!("the first request is complete");
//! };
//! assert_eq!((request.path, len), ("/plaintext", 36));
//! // The second request has not ended yet: wait for more bytes.
//! assert_eq!(framing::parse(&input[len..], &Limits::default()), Ok(Parse::Partial));
//!
//! let mut out = Vec::new();
//! let status = respond::respond(&mut out, &request, &HttpDate::from_unix(0));
//! assert_eq!(status, 200);
//! assert!(out.ends_with(b"\r\n\r\nHello, World!"));
//! ```
#![warn(missing_docs)]

pub mod args;
pub mod date;
pub mod framing;
pub mod metrics;
pub mod respond;
pub mod server;
