//! The HTTP example's server (`netloop_http::server`) started in a test
//! (its handler wrapped in the harness's `Recorder`), and a small blocking
//! HTTP/1.1 client. A test file declares it next to `common` and
//! `example_server` (see tests/http_keepalive.rs).
#![allow(dead_code)]

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use netloop::ListenOptions;

use crate::common::{self, ReadRetrying, Recorder};
use crate::example_server::{self, Running};
use netloop_http::server::{Config, HttpConn, HttpState, Stats, refresh_date_every_second};

/// Starts the HTTP server with `config` on 127.0.0.1 (port 0).
pub fn start(config: Config) -> Running<HttpState> {
    let config = Arc::new(config);
    example_server::start(HttpState::new, move |reactor, log| {
        let opts = ListenOptions::default().conn(config.conn_options());
        let listener = reactor
            .listen("127.0.0.1:0".parse().unwrap(), opts, move || {
                Recorder::new(HttpConn::new(config.clone()), log.clone())
            })
            .expect("listen");
        refresh_date_every_second(&mut reactor.ctx());
        reactor.listener_addr(listener).expect("listener address")
    })
}

/// The server's HTTP counters.
pub fn stats(server: &Running<HttpState>) -> Stats {
    server.query(|rc| rc.shared().stats)
}

/// One parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
}

/// A blocking client that reads responses one at a time.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: common::client(addr),
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("client write");
    }

    /// `GET path` with a Host header, as HTTP/1.1.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response()
    }

    /// Reads an interim (1xx) response: its head, as text.
    pub fn interim(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8(head).expect("ascii head");
            }
            self.read_more();
        }
    }

    /// Reads one response (with a body of its Content-Length).
    pub fn response(&mut self) -> Response {
        self.read_response(false)
    }

    /// Reads one response to a HEAD request (no body, whatever the length says).
    pub fn head_response(&mut self) -> Response {
        self.read_response(true)
    }

    fn read_response(&mut self, head_only: bool) -> Response {
        loop {
            if let Some(r) = self.take_response(head_only) {
                return r;
            }
            self.read_more();
        }
    }

    /// Appends what one read returns; the connection must not have ended.
    fn read_more(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read_retrying(&mut chunk).unwrap_or_else(|e| {
            let got = String::from_utf8_lossy(&self.buf);
            panic!("read a response: {e} ({:?}); got so far {got:?}", e.kind())
        });
        assert!(
            n > 0,
            "connection closed before a whole response; got {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn take_response(&mut self, head_only: bool) -> Option<Response> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        let head_len = match parsed.parse(&self.buf).expect("well-formed response") {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return None,
        };
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).expect("ascii header"),
                )
            })
            .collect();
        let status = parsed.code.expect("status code");
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("numeric Content-Length"))
            .expect("every response has a Content-Length");
        let body_len = if head_only { 0 } else { length };
        if self.buf.len() < head_len + body_len {
            return None;
        }
        let body = self.buf[head_len..head_len + body_len].to_vec();
        self.buf.drain(..head_len + body_len);
        Some(Response {
            status,
            headers,
            body,
        })
    }

    /// Asserts that the server closes cleanly (FIN, not RST) with nothing
    /// more to read.
    pub fn expect_clean_close(&mut self) {
        let (rest, end) = common::read_to_end(&mut self.stream);
        assert!(end.is_ok(), "expected a clean close (FIN), got {end:?}");
        self.buf.extend_from_slice(&rest);
        assert!(
            self.buf.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }

    /// Whether the server has said anything (bytes, EOF or reset), without
    /// waiting if it has not.
    pub fn server_spoke(&mut self) -> io::Result<bool> {
        if !self.buf.is_empty() {
            return Ok(true);
        }
        self.stream.set_nonblocking(true)?;
        let mut byte = [0u8; 1];
        let r = match self.stream.peek(&mut byte) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(true),
            Err(e) => Err(e),
        };
        self.stream.set_nonblocking(false)?;
        r
    }
}

/// `n` pipelined GET requests for `paths`, cycling through them.
pub fn pipelined(paths: &[&str], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!(
                "GET {} HTTP/1.1\r\nHost: test\r\n\r\n",
                paths[i % paths.len()]
            )
            .as_bytes(),
        );
    }
    out
}
