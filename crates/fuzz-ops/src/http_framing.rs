//! Fuzz input for the HTTP example's request framing
//! (`netloop_http::framing`). Shared by the cargo-fuzz target
//! (`fuzz/fuzz_targets/http_framing.rs`) and the stable harness
//! (`tests/fuzz_http_framing.rs`).
//!
//! [`decode`] builds an HTTP-shaped stream from the input: each byte below
//! 0x80 picks a token (methods, versions, headers with good and bad values,
//! chunk framing, line ends), each byte from 0x80 up stands for itself, so
//! even random input reaches deep into the framing (conflicting lengths,
//! broken chunks, limits). The first two bytes choose the read sizes.
//!
//! [`check`] frames the stream the way a server does — in one piece, and
//! in the chosen pieces — and panics unless: `parse` never panics; the two
//! ways give the same requests and the same error; a complete request
//! uses between 1 byte and the request limit; and a partial request never
//! leaves the limit or more buffered.

use netloop_http::framing::{self, Body, FrameError, Limits, Parse};

const TOKENS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"/",
    b"/plaintext",
    b"/json?x=1",
    b" HTTP/1.1\r\n",
    b" HTTP/1.0\r\n",
    b" HTTP/2.0\r\n",
    b" HTTP/1.1\n",
    b"Host: example\r\n",
    b"Host:\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 70000\r\n",
    b"Content-Length: -1\r\n",
    b"Content-Length: 5, 5\r\n",
    b"Content-Length: 18446744073709551616\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Transfer-Encoding: chunked, gzip\r\n",
    b"X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
    b"Bad Header\r\n",
    b"\r\n",
    b"\n",
    b"hello",
    b"5\r\nhello\r\n",
    b"3;ext=1\r\nabc\r\n",
    b"ffffffffffffffffff\r\n",
    b"0\r\n\r\n",
    b"0\r\nTrailer: x\r\n\r\n",
    b"z\r\n",
    b" ",
    b":",
    b"\0",
];

/// Builds the stream and the cut points (where reads end) from the input.
pub fn decode(data: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let (sizes, rest) = data.split_at(data.len().min(2));
    let mut stream = Vec::new();
    for &b in rest {
        if b < 0x80 {
            stream.extend_from_slice(TOKENS[b as usize % TOKENS.len()]);
        } else {
            stream.push(b);
        }
    }
    // Reads of 1..=64 bytes, alternating between two sizes.
    let steps = [
        1 + sizes.first().map_or(0, |&s| s as usize % 64),
        1 + sizes.get(1).map_or(0, |&s| s as usize % 64),
    ];
    let mut cuts = Vec::new();
    let mut at = 0;
    for step in steps.iter().cycle() {
        at += step;
        if at >= stream.len() {
            break;
        }
        cuts.push(at);
    }
    (stream, cuts)
}

/// A framed request, owned, for comparing outcomes.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    method: String,
    path: String,
    minor_version: u8,
    keep_alive: bool,
    body: Option<Vec<u8>>,
    chunked_len: Option<usize>,
    len: usize,
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    requests: Vec<Framed>,
    error: Option<FrameError>,
    left: usize,
}

/// Frames `stream` arriving in reads ending at `cuts` (sorted), as a
/// server loop does: append, take every complete request, keep the rest.
fn frame(stream: &[u8], cuts: &[usize], limits: &Limits) -> Outcome {
    let mut buf: Vec<u8> = Vec::new();
    let mut requests = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        buf.extend_from_slice(&stream[start..cut]);
        start = cut;
        loop {
            match framing::parse(&buf, limits) {
                Ok(Parse::Complete { request, len }) => {
                    assert!(len > 0 && len <= buf.len(), "length {len} of {}", buf.len());
                    assert!(len <= limits.max_request(), "a request over the limit");
                    let (body, chunked_len) = match request.body {
                        Body::Empty => (None, None),
                        Body::Fixed(b) => (Some(b.to_vec()), None),
                        Body::Chunked { len } => (None, Some(len)),
                    };
                    requests.push(Framed {
                        method: request.method.to_string(),
                        path: request.path.to_string(),
                        minor_version: request.minor_version,
                        keep_alive: request.keep_alive,
                        body,
                        chunked_len,
                        len,
                    });
                    buf.drain(..len);
                }
                Ok(Parse::Partial | Parse::HeadOnly { .. }) => {
                    assert!(buf.len() < limits.max_request(), "the limit buffered");
                    break;
                }
                Err(error) => {
                    return Outcome {
                        requests,
                        error: Some(error),
                        left: 0,
                    };
                }
            }
        }
    }
    Outcome {
        requests,
        error: None,
        left: buf.len(),
    }
}

/// Frames the stream whole and in pieces, with tight and default limits.
pub fn check(stream: &[u8], cuts: &[usize]) {
    let tight = Limits {
        max_head: 200,
        max_body: 300,
    };
    for limits in [tight, Limits::default()] {
        let whole = frame(stream, &[], &limits);
        let pieces = frame(stream, cuts, &limits);
        assert_eq!(
            whole, pieces,
            "the outcome depends on how the stream is split"
        );
    }
}
