//! A TLS echo server on tokio-rustls, one thread (tokio's `current_thread`
//! runtime), the tokio peer of netloop's echo example over TLS in
//! `scripts/bench_https.sh`.
//!
//!     echo_tokio_rustls --addr 127.0.0.1:18590 --cert CERT.pem --key KEY.pem
//!
//! A task per connection: the handshake, then `read` into a 64 KiB buffer
//! of its own and `write_all` of what came, until the client's
//! `close_notify` or EOF; then `close_notify` back. `TCP_NODELAY` on.

use tls_peers::{server_config, Args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "usage: echo_tokio_rustls --addr ADDR --cert CERT.pem --key KEY.pem";

async fn echo(acceptor: TlsAcceptor, stream: TcpStream) -> std::io::Result<()> {
    let mut tls = acceptor.accept(stream).await?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
    }
    tls.shutdown().await
}

fn main() {
    let args = Args::parse(USAGE);
    let addr = args.or("addr", "127.0.0.1:18590").to_string();
    let config = server_config(args.need("cert", USAGE), args.need("key", USAGE), &[])
        .unwrap_or_else(|e| {
            eprintln!("echo_tokio_rustls: {e}");
            std::process::exit(1);
        });
    let acceptor = TlsAcceptor::from(config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await.expect("listen");
        eprintln!("echo_tokio_rustls listening on {addr} (tokio current_thread)");
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(echo(acceptor.clone(), stream));
        }
    });
}
