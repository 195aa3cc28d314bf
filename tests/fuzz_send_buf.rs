//! The send buffer, fuzzed on stable Rust: random byte strings decoded into
//! operation sequences (the same decoder and checks as the cargo-fuzz
//! target `fuzz/fuzz_targets/send_buf.rs`, from `fuzz_ops::send_buf`) never make `SendBuf` diverge
//! from a plain byte queue. PROPTEST_CASES sets how many inputs run
//! (default 1,000, a few seconds).

use fuzz_ops::send_buf;
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
    fn send_buf_matches_a_plain_byte_queue(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        send_buf::run(&send_buf::decode(&input));
    }
}

/// Inputs that once mattered, and the fuzz corpus if it was kept
/// (fuzz/corpus/send_buf), replayed on every run.
#[test]
fn send_buf_replays_known_inputs() {
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0, 0xff, 0xff, 4, 0xff, 0xff],
        vec![3, 0x10, 0x27, 0xff, 0x0f, 6, 0, 0, 0x80, 0],
        vec![2, 0xff, 0x4e, 7, 1, 1, 0, 5, 0x34, 0x12],
    ];
    if let Ok(dir) = std::fs::read_dir("fuzz/corpus/send_buf") {
        inputs.extend(dir.filter_map(|e| std::fs::read(e.ok()?.path()).ok()));
    }
    for input in inputs {
        send_buf::run(&send_buf::decode(&input));
    }
}
