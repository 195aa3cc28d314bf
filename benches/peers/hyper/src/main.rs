//! hyper as a contender of `scripts/bench_http.sh`: hyper 1.x's HTTP/1.1
//! server on tokio's `current_thread` runtime (ONE thread, a task per
//! connection), keep-alive on and pipelined answers flushed together
//! (`http1::Builder::pipeline_flush(true)`). Answers `GET /plaintext` with
//! `Hello, World!` (`Content-Type: text/plain`) and `GET /json` with
//! `{"message":"Hello, World!"}` (`application/json`), the bodies and
//! content types of netloop's http example.
//!
//!     hyper_peer [ADDR]        (default 127.0.0.1:18480)
//!
//! Each answer is `HTTP/1.1 200 OK` with `server: hyper`, `content-type`,
//! `content-length` and `date`: the headers of netloop's http example, in
//! lower case (hyper writes `content-length` and `date` itself, the date
//! cached and rendered once a second), 2 bytes shorter (`server: hyper`
//! against `Server: netloop`). Connections get `TCP_NODELAY`, as netloop's.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

static PLAINTEXT: &[u8] = b"Hello, World!";
static JSON: &[u8] = br#"{"message":"Hello, World!"}"#;

async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (body, content_type, status) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => (PLAINTEXT, "text/plain", StatusCode::OK),
        (&Method::GET, "/json") => (JSON, "application/json", StatusCode::OK),
        _ => (&b""[..], "text/plain", StatusCode::NOT_FOUND),
    };
    let mut rsp = Response::new(Full::new(Bytes::from_static(body)));
    *rsp.status_mut() = status;
    let headers = rsp.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(rsp)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:18480".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("usage: hyper_peer [ADDR | --addr ADDR]");
                return;
            }
            "--addr" => addr = args.next().expect("--addr needs a value"),
            _ => addr = arg,
        }
    }
    // One thread, as every contender gets one reactor / worker.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = TcpListener::bind(&addr).await.expect("listen");
        eprintln!("hyper listening on {addr} (tokio current_thread, 1 thread)");
        let mut http = http1::Builder::new();
        http.keep_alive(true).pipeline_flush(true);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn = http.serve_connection(TokioIo::new(stream), service_fn(hello));
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}
