//! may_minihttp as a contender of `scripts/bench_http.sh`: answers
//! `GET /plaintext` with `Hello, World!` (`Content-Type: text/plain`) and
//! `GET /json` with `{"message":"Hello, World!"}` (`application/json`), the
//! bodies and content types of netloop's http example, on ONE may worker.
//!
//!     may_minihttp_peer [ADDR]        (default 127.0.0.1:18480)
//!
//! may_minihttp writes its own status line and headers: `HTTP/1.1 200 Ok`,
//! `Server: M`, `Date`, `Content-Length`, then ours. Each answer is 6 bytes
//! shorter than netloop's (`Server: M` against `Server: netloop`).

use std::io;

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};

struct Hello;

impl HttpService for Hello {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        match req.path() {
            "/plaintext" => rsp.header("Content-Type: text/plain").body("Hello, World!"),
            "/json" => rsp
                .header("Content-Type: application/json")
                .body(r#"{"message":"Hello, World!"}"#),
            _ => {
                rsp.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

struct Factory;

impl HttpServiceFactory for Factory {
    type Service = Hello;

    fn new_service(&self, _: usize) -> Hello {
        Hello
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:18480".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("usage: may_minihttp_peer [ADDR | --addr ADDR]");
                return;
            }
            "--addr" => addr = args.next().expect("--addr needs a value"),
            _ => addr = arg,
        }
    }
    // One worker, as every contender gets one reactor / worker; the pool and
    // stack settings are those of may_minihttp's TechEmpower example.
    may::config().set_workers(1).set_pool_capacity(500).set_stack_size(0x1000);
    let server = Factory.start(&addr).expect("listen");
    eprintln!("may_minihttp listening on {addr} (1 worker)");
    server.join().expect("server thread");
}
