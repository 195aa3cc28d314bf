//! The HTTP example's `Date` header: a correct IMF-fixdate (checked against
//! known instants, leap days included) that the reactor timer moves on
//! every second.

mod common;
mod example_server;
mod http_support;

use netloop_http::date::HttpDate;
use netloop_http::server::Config;

fn formatted(secs: u64) -> String {
    String::from_utf8(HttpDate::from_unix(secs).as_bytes().to_vec()).unwrap()
}

#[test]
fn formats_known_instants() {
    assert_eq!(formatted(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(formatted(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(formatted(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(formatted(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
    assert_eq!(formatted(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
    assert_eq!(formatted(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT");
}

#[test]
fn the_header_moves_on_each_second() {
    let server = http_support::start(Config::default());
    let mut c = http_support::Client::connect(server.addr);
    let first = c.get("/plaintext").header("Date").unwrap().to_string();
    let mut later = first.clone();
    common::wait_until("the Date header changes", || {
        later = c.get("/plaintext").header("Date").unwrap().to_string();
        later != first
    });
    let now = String::from_utf8(HttpDate::now().as_bytes().to_vec()).unwrap();
    // Cached for at most a second (allow one more for a slow machine).
    let secs = |d: &str| -> u64 {
        let t: Vec<u64> = d[17..25].split(':').map(|x| x.parse().unwrap()).collect();
        t[0] * 3600 + t[1] * 60 + t[2]
    };
    let lag = (secs(&now) + 86_400 - secs(&later)) % 86_400;
    assert!(lag <= 2, "Date {later} lags {now} by {lag} s");
    drop(c);
    server.finish();
}
