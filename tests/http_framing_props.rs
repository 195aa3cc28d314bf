//! Properties of the HTTP example's framing (`netloop_http::framing`):
//! a stream of valid pipelined requests yields the same requests however
//! it is split into reads; any bytes at all, however split, give the same
//! outcome as in one piece, never panic, and never leave more than the
//! request limit buffered.

use netloop_http::framing::{self, Body, FrameError, Limits, Parse};
use proptest::prelude::*;

/// A framed request, owned, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Framed {
    method: String,
    path: String,
    minor_version: u8,
    keep_alive: bool,
    body: FramedBody,
    len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum FramedBody {
    Empty,
    Fixed(Vec<u8>),
    Chunked(usize),
}

/// What a server loop saw: the requests, then how the stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    requests: Vec<Framed>,
    error: Option<FrameError>,
    /// Bytes left buffered at the end (a partial request).
    left: usize,
}

/// Feeds `stream` to the framing in `pieces`, the way a server does:
/// append what arrived, take every complete request, keep the rest.
/// Checks on the way that nothing beyond the limit is ever kept.
fn frame_in_pieces(stream: &[u8], cuts: &[usize], limits: &Limits) -> Outcome {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.push(stream.len());
    cuts.sort_unstable();
    let mut buf: Vec<u8> = Vec::new();
    let mut requests = Vec::new();
    let mut start = 0;
    for cut in cuts {
        buf.extend_from_slice(&stream[start..cut]);
        start = cut;
        loop {
            match framing::parse(&buf, limits) {
                Ok(Parse::Complete { request, len }) => {
                    assert!(
                        len > 0 && len <= buf.len(),
                        "bad length {len} of {}",
                        buf.len()
                    );
                    assert!(
                        len <= limits.max_request(),
                        "request of {len} bytes over the limit"
                    );
                    requests.push(Framed {
                        method: request.method.to_string(),
                        path: request.path.to_string(),
                        minor_version: request.minor_version,
                        keep_alive: request.keep_alive,
                        body: match request.body {
                            Body::Empty => FramedBody::Empty,
                            Body::Fixed(b) => FramedBody::Fixed(b.to_vec()),
                            Body::Chunked { len } => FramedBody::Chunked(len),
                        },
                        len,
                    });
                    buf.drain(..len);
                }
                Ok(Parse::Partial | Parse::HeadOnly { .. }) => {
                    assert!(
                        buf.len() < limits.max_request(),
                        "{} bytes buffered for a partial request (limit {})",
                        buf.len(),
                        limits.max_request()
                    );
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

/// A valid request and what framing it must give.
#[derive(Clone, Debug)]
struct Generated {
    bytes: Vec<u8>,
    expect: Framed,
}

#[derive(Clone, Debug)]
enum GenBody {
    None,
    Fixed(Vec<u8>),
    /// Chunks, whether to add a chunk extension, whether to add a trailer.
    Chunked(Vec<Vec<u8>>, bool, bool),
}

fn request_strategy() -> impl Strategy<Value = Generated> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "BREW"]);
    let path = "/[a-zA-Z0-9/_.~-]{0,24}";
    let minor = 0u8..=1;
    let extra = prop::collection::vec(
        ("[A-Za-z][A-Za-z0-9-]{0,12}", "[!-~]([ !-~]{0,30}[!-~])?"),
        0..6,
    );
    let connection = prop::sample::select(vec![
        None,
        Some("close"),
        Some("keep-alive"),
        Some("Keep-Alive, Upgrade"),
    ]);
    let body = prop_oneof![
        Just(GenBody::None),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(GenBody::Fixed),
        (
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..60), 0..6),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(c, e, t)| GenBody::Chunked(c, e, t)),
    ];
    (method, path, minor, extra, connection, body).prop_map(
        |(method, path, minor, extra, connection, body)| {
            build(method, &path, minor, &extra, connection, body)
        },
    )
}

fn build(
    method: &str,
    path: &str,
    minor: u8,
    extra: &[(String, String)],
    connection: Option<&str>,
    body: GenBody,
) -> Generated {
    // HTTP/1.0 has no chunked coding.
    let body = match body {
        GenBody::Chunked(..) if minor == 0 => GenBody::None,
        b => b,
    };
    let mut head = format!("{method} {path} HTTP/1.{minor}\r\nHost: example\r\n");
    for (name, value) in extra {
        head.push_str(&format!("X-{name}: {value}\r\n"));
    }
    if let Some(c) = connection {
        head.push_str(&format!("Connection: {c}\r\n"));
    }
    let mut body_bytes = Vec::new();
    let framed_body = match &body {
        GenBody::None => FramedBody::Empty,
        GenBody::Fixed(data) => {
            head.push_str(&format!("Content-Length: {}\r\n", data.len()));
            body_bytes.extend_from_slice(data);
            if data.is_empty() {
                FramedBody::Empty
            } else {
                FramedBody::Fixed(data.clone())
            }
        }
        GenBody::Chunked(chunks, ext, trailer) => {
            head.push_str("Transfer-Encoding: chunked\r\n");
            for c in chunks {
                body_bytes.extend_from_slice(format!("{:x}", c.len()).as_bytes());
                if *ext {
                    body_bytes.extend_from_slice(b";name=value");
                }
                body_bytes.extend_from_slice(b"\r\n");
                body_bytes.extend_from_slice(c);
                body_bytes.extend_from_slice(b"\r\n");
            }
            body_bytes.extend_from_slice(b"0\r\n");
            if *trailer {
                body_bytes.extend_from_slice(b"X-Checksum: 1\r\n");
            }
            body_bytes.extend_from_slice(b"\r\n");
            FramedBody::Chunked(chunks.iter().map(Vec::len).sum())
        }
    };
    head.push_str("\r\n");
    let lower = connection.map(str::to_ascii_lowercase);
    let close = lower.as_deref() == Some("close");
    let keep = lower.as_deref().is_some_and(|c| c.contains("keep-alive"));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body_bytes);
    Generated {
        expect: Framed {
            method: method.to_string(),
            path: path.to_string(),
            minor_version: minor,
            keep_alive: !close && (minor == 1 || keep),
            body: framed_body,
            len: bytes.len(),
        },
        bytes,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Valid pipelined requests: exactly the requests sent, whatever the split.
    #[test]
    fn any_split_yields_the_same_requests(
        requests in prop::collection::vec(request_strategy(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let stream: Vec<u8> = requests.iter().flat_map(|r| r.bytes.clone()).collect();
        let expected: Vec<Framed> = requests.iter().map(|r| r.expect.clone()).collect();
        let limits = Limits::default();
        let whole = frame_in_pieces(&stream, &[], &limits);
        prop_assert_eq!(&whole, &Outcome { requests: expected, error: None, left: 0 });
        let split = frame_in_pieces(&stream, &cuts, &limits);
        prop_assert_eq!(split, whole);
    }

    /// Damaged streams (valid requests with bytes changed, inserted or cut):
    /// the same outcome in one piece or many, within the limits.
    #[test]
    fn damaged_streams_frame_the_same_however_split(
        requests in prop::collection::vec(request_strategy(), 1..6),
        damage in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut stream: Vec<u8> = requests.iter().flat_map(|r| r.bytes.clone()).collect();
        for (at, byte, how) in damage {
            let at = at % (stream.len() + 1);
            match how {
                0 if at < stream.len() => stream[at] = byte,
                1 => stream.insert(at, byte),
                _ if at < stream.len() => { stream.remove(at); }
                _ => {}
            }
        }
        let limits = Limits { max_head: 512, max_body: 256 };
        let whole = frame_in_pieces(&stream, &[], &limits);
        prop_assert_eq!(frame_in_pieces(&stream, &cuts, &limits), whole);
    }

    /// Arbitrary bytes: no panic, same outcome however split, bounded buffer.
    #[test]
    fn arbitrary_bytes_never_panic_nor_overbuffer(
        stream in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let limits = Limits { max_head: 256, max_body: 512 };
        let whole = frame_in_pieces(&stream, &[], &limits);
        prop_assert_eq!(frame_in_pieces(&stream, &cuts, &limits), whole);
    }

    /// Streams stitched from HTTP fragments (reaching the body and limit
    /// paths more often than random bytes do): same guarantees.
    #[test]
    fn fragment_soup_frames_the_same_however_split(
        parts in prop::collection::vec(fragment(), 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let stream: Vec<u8> = parts.concat();
        let limits = Limits { max_head: 128, max_body: 128 };
        let whole = frame_in_pieces(&stream, &[], &limits);
        prop_assert_eq!(frame_in_pieces(&stream, &cuts, &limits), whole);
    }

    /// A head that never ends is refused at the head limit, not buffered on.
    #[test]
    fn endless_heads_are_refused_at_the_limit(filler in "[a-z]{1,20}", n in 1usize..2000) {
        let limits = Limits::default();
        let mut stream = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        while stream.len() < limits.max_head + n {
            stream.extend_from_slice(format!("X-{filler}: {filler}\r\n").as_bytes());
        }
        let out = frame_in_pieces(&stream, &[n, 2 * n, 5 * n], &limits);
        prop_assert!(out.requests.is_empty());
        prop_assert_eq!(out.error, Some(FrameError::HeadTooLarge));
    }
}

/// A piece of an HTTP/1.1 request, or a few random bytes.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let pieces: Vec<&'static [u8]> = vec![
        b"GET / HTTP/1.1\r\n",
        b"POST /x HTTP/1.1\r\n",
        b"GET / HTTP/1.0\r\n",
        b"Host: h\r\n",
        b"Connection: close\r\n",
        b"Content-Length: 7\r\n",
        b"Content-Length: 700\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\r\n",
        b"5\r\nhello\r\n",
        b"a;x=y\r\n",
        b"ff\r\n",
        b"0\r\n",
        b"X-T: 1\r\n",
        b"0123456789abcdef",
    ];
    prop_oneof![
        4 => prop::sample::select(pieces).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 1..8),
    ]
}

#[test]
fn framing_examples() {
    let limits = Limits::default();
    let buf = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\n";
    let Ok(Parse::Complete { request, len }) = framing::parse(buf, &limits) else {
        panic!("first request complete");
    };
    assert_eq!(
        (request.method, request.path, len),
        ("GET", "/plaintext", 36)
    );
    assert!(request.keep_alive);
    assert_eq!(framing::parse(&buf[len..], &limits), Ok(Parse::Partial));
    // Blank lines between requests are skipped.
    let buf = b"\r\nGET / HTTP/1.0\r\n\r\n";
    assert!(matches!(
        framing::parse(buf, &limits),
        Ok(Parse::Complete { len: 20, request }) if !request.keep_alive
    ));
    // An empty chunk-size line is not a last chunk.
    let buf = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n";
    assert_eq!(framing::parse(buf, &limits), Err(FrameError::BadChunk));
    // A trailer that never ends within the body limit is too large.
    let mut buf = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    buf.resize(buf.len() + limits.max_body, b'a');
    assert_eq!(framing::parse(&buf, &limits), Err(FrameError::BodyTooLarge));
    assert_eq!(FrameError::HeadTooLarge.status(), 431);
}
