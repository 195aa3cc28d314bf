//! The HTTP example's request framing, fuzzed on stable Rust with
//! HTTP-shaped input (tokens of methods, headers, good and bad lengths,
//! chunk framing; the decoder and checks of the cargo-fuzz target
//! `fuzz/fuzz_targets/http_framing.rs`, from `fuzz_ops::http_framing`):
//! parsing never panics, gives the same requests and error however the
//! stream is split into reads, and never buffers the request limit. (tests/http_framing_props.rs checks
//! valid streams and raw bytes.) PROPTEST_CASES sets how many inputs run.

use fuzz_ops::http_framing;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 1_000;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn framing_is_split_independent_on_http_shaped_input(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (stream, cuts) = http_framing::decode(&input);
        http_framing::check(&stream, &cuts);
    }
}

/// Inputs that once split differently (a request line with a version
/// other than HTTP/1.x was 505 whole but 400 when cut before the version
/// was complete), cut at every point; and the fuzz corpus, if it was kept
/// (fuzz/corpus/http_framing).
#[test]
fn framing_replays_known_inputs_and_the_fuzz_corpus() {
    let lines: [&[u8]; 6] = [
        b"GET GET GET  HTTP/2.0\r\n",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET / HTTP/2.0x\r\n",
        b"GET / HTTP/3.0\nGET / HTTP/1.1\r\n\r\n",
        b"GET  / HTTP/1.1\r\n",
        b" GET / HTTP/2.0\r\n",
    ];
    for line in lines {
        for cut in 0..=line.len() {
            http_framing::check(line, &[cut]);
        }
    }
    let mut inputs = vec![vec![0u8, 0, 0, 0, 0, 8]];
    if let Ok(dir) = std::fs::read_dir("fuzz/corpus/http_framing") {
        inputs.extend(dir.filter_map(|e| std::fs::read(e.ok()?.path()).ok()));
    }
    for input in inputs {
        let (stream, cuts) = http_framing::decode(&input);
        http_framing::check(&stream, &cuts);
    }
}
