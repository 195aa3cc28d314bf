//! Echo servers side by side: netloop, tokio (current_thread runtime, a
//! task per connection) and a bare hand-written mio loop (the floor), all
//! driven by the same netloop load generator on the bench thread while the
//! server runs on its own thread (all from the bench-support crate,
//! crates/bench-support).
//!
//! Groups (one iteration = one message echoed, or one connection served):
//! - `pingpong_1`, `pingpong_100`, `pingpong_1000`: 64-byte round trips;
//! - `pipelined_100x16`: 100 connections with 16 messages in flight each;
//! - `bulk_10x64KiB`: 64 KiB chunks over 10 connections (throughput in bytes);
//! - `churn_10`: connect, echo 64 bytes, close, 10 connections at a time.
//!
//! `cargo bench --bench echo` (filter with e.g. `-- pingpong_100`). Server
//! CPU and syscalls per message, instructions per message and idle memory
//! come from the scripts under `scripts/` (see BENCHMARKS.md).

use std::time::Duration;

use bench_support::Contender;
use bench_support::loadgen::{Client, Spec};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

fn stream_group(c: &mut Criterion, name: &str, spec: Spec, throughput: Throughput) {
    let mut group = c.benchmark_group(name);
    group.throughput(throughput);
    for contender in Contender::ALL {
        bench_stream(&mut group, contender, spec);
    }
    group.finish();
}

fn bench_stream(group: &mut BenchmarkGroup<'_, WallTime>, contender: Contender, spec: Spec) {
    let server = contender.spawn().expect("echo server");
    let mut client = Client::connect(server.addr, spec).expect("client connections");
    group.bench_function(contender.name(), |b| {
        b.iter_custom(|iters| client.run_messages(iters).expect("echo traffic"))
    });
    client.shut_down().expect("client shut down");
    drop(server);
}

fn pingpong(c: &mut Criterion) {
    for conns in [1, 100, 1000] {
        let spec = Spec {
            conns,
            size: 64,
            depth: 1,
            per_conn: None,
            period: None,
        };
        stream_group(
            c,
            &format!("pingpong_{conns}"),
            spec,
            Throughput::Elements(1),
        );
    }
}

fn pipelined(c: &mut Criterion) {
    let spec = Spec {
        conns: 100,
        size: 64,
        depth: 16,
        per_conn: None,
        period: None,
    };
    stream_group(c, "pipelined_100x16", spec, Throughput::Elements(1));
}

fn bulk(c: &mut Criterion) {
    let size = 64 * 1024;
    let spec = Spec {
        conns: 10,
        size,
        depth: 2,
        per_conn: None,
        period: None,
    };
    stream_group(c, "bulk_10x64KiB", spec, Throughput::Bytes(size as u64));
}

fn churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("churn_10");
    group.throughput(Throughput::Elements(1));
    for contender in Contender::ALL {
        let server = contender.spawn().expect("echo server");
        let mut client = Client::churn(server.addr, 10, 64).expect("churn client");
        group.bench_function(contender.name(), |b| {
            b.iter_custom(|iters| client.run_messages(iters).expect("churn traffic"))
        });
        client.shut_down().expect("client shut down");
        drop(server);
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = pingpong, pipelined, bulk, churn
}
criterion_main!(benches);
