//! The HTTP example's responses, byte for byte: the benchmark responses
//! carry exactly the headers TechEmpower asks for (Server, Date,
//! Content-Type, Content-Length), HEAD gets no body, errors carry their
//! reason, and the JSON message is escaped.

use netloop_http::date::HttpDate;
use netloop_http::framing::{self, Limits, Parse};
use netloop_http::respond::{self, Persist};

const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn answer(request: &[u8]) -> String {
    let Ok(Parse::Complete { request, .. }) = framing::parse(request, &Limits::default()) else {
        panic!("a complete request");
    };
    let mut out = Vec::new();
    respond::respond(&mut out, &request, &HttpDate::from_unix(784_111_777));
    String::from_utf8(out).unwrap()
}

#[test]
fn benchmark_responses_are_exact() {
    assert_eq!(
        answer(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"),
        format!(
            "HTTP/1.1 200 OK\r\nServer: netloop\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: {DATE}\r\n\r\nHello, World!"
        )
    );
    assert_eq!(
        answer(b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        format!(
            "HTTP/1.1 200 OK\r\nServer: netloop\r\nContent-Type: application/json\r\nContent-Length: 27\r\nDate: {DATE}\r\nConnection: close\r\n\r\n{{\"message\":\"Hello, World!\"}}"
        )
    );
    assert_eq!(
        answer(b"HEAD /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        format!(
            "HTTP/1.1 200 OK\r\nServer: netloop\r\nContent-Type: application/json\r\nContent-Length: 27\r\nDate: {DATE}\r\nConnection: keep-alive\r\n\r\n"
        )
    );
}

#[test]
fn errors_carry_their_reason() {
    let r = answer(b"PUT /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
    assert!(
        r.contains("\r\nAllow: GET, HEAD\r\n") && r.ends_with("\r\n\r\nMethod Not Allowed\n"),
        "{r}"
    );
    let mut out = Vec::new();
    respond::error(&mut out, 431, &HttpDate::from_unix(0), Persist::Close);
    let r = String::from_utf8(out).unwrap();
    assert!(
        r.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{r}"
    );
    assert!(
        r.contains("\r\nContent-Length: 32\r\n") && r.contains("\r\nConnection: close\r\n"),
        "{r}"
    );
}

#[test]
fn json_is_escaped() {
    let mut buf = [0u8; 64];
    let n = respond::json_message(&mut buf, "a\"b\\c\nd\u{1}é");
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        r#"{"message":"a\"b\\c\u000ad\u0001é"}"#
    );
}
