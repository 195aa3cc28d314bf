//! hyper 1 over tokio-rustls, one thread (tokio's `current_thread`
//! runtime, a task per connection): the HTTPS contender of
//! `scripts/bench_https.sh`.
//!
//!     https_hyper --addr 127.0.0.1:18580 --cert CERT.pem --key KEY.pem
//!
//! Answers `GET /plaintext` with `Hello, World!` (`text/plain`) and
//! `GET /json` with `{"message":"Hello, World!"}` (`application/json`),
//! with the headers of the plain-HTTP hyper peer (`benches/peers/hyper`):
//! `server: hyper`, `content-type`, and hyper's own `content-length` and
//! `date`. Keep-alive on, pipelined answers flushed together,
//! `TCP_NODELAY` on every connection. ALPN offers `http/1.1` only.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tls_peers::{server_config, Args};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "usage: https_hyper --addr ADDR --cert CERT.pem --key KEY.pem";

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body): (_, _, &'static [u8]) = match (req.method(), req.uri().path())
    {
        (&Method::GET, "/plaintext") => (StatusCode::OK, "text/plain", b"Hello, World!"),
        (&Method::GET, "/json") => (
            StatusCode::OK,
            "application/json",
            br#"{"message":"Hello, World!"}"#,
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", b""),
    };
    let mut rsp = Response::new(Full::new(Bytes::from_static(body)));
    *rsp.status_mut() = status;
    rsp.headers_mut()
        .insert(SERVER, HeaderValue::from_static("hyper"));
    rsp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(rsp)
}

fn main() {
    let args = Args::parse(USAGE);
    let addr = args.or("addr", "127.0.0.1:18580").to_string();
    let config = server_config(
        args.need("cert", USAGE),
        args.need("key", USAGE),
        &[b"http/1.1"],
    )
    .unwrap_or_else(|e| {
        eprintln!("https_hyper: {e}");
        std::process::exit(1);
    });
    let acceptor = TlsAcceptor::from(config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await.expect("listen");
        eprintln!("https_hyper listening on https://{addr} (tokio current_thread, tokio-rustls)");
        let mut http = http1::Builder::new();
        http.keep_alive(true).pipeline_flush(true);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let http = http.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let _ = http
                    .serve_connection(TokioIo::new(tls), service_fn(answer))
                    .await;
            });
        }
    });
}
