//! Micro-benchmarks of the pure core: ring lookup (R1) and range planning.
//! `cargo bench --bench ring` prints ns per operation and the share of keys
//! that move when one of 100 workers leaves. A plain harness (no criterion):
//! each measurement is repeated and the median reported.

use std::time::Instant;

use _core::client::pages::plan;
use _core::{Ring, WorkerIdentity, WorkerInfo, WorkerNetAddress};

fn workers(n: usize) -> Vec<WorkerInfo> {
    (0..n)
        .map(|i| WorkerInfo {
            identity: WorkerIdentity::from_hostname(&format!("worker-{i}")),
            address: WorkerNetAddress::with_http(format!("w{i}"), 28080),
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_per_op(reps: usize, ops: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut runs = Vec::new();
    let mut sink = 0;
    for _ in 0..reps {
        let t = Instant::now();
        sink += f();
        runs.push(t.elapsed().as_secs_f64() * 1e9 / ops as f64);
    }
    (median(runs), sink)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let keys: Vec<String> = (0..if quick { 100_000 } else { 1_000_000 })
        .map(|i| format!("s3://bucket/dataset/part-{i:07}.parquet"))
        .collect();

    let big = Ring::new(workers(10_000), 5);
    let (ns, sink) = time_per_op(5, keys.len(), || {
        keys.iter().map(|k| big.get_multiple(k, 1).len()).sum()
    });
    println!(
        "R1 ring lookup, 10000 workers x 5 vnodes: {ns:.0} ns/lookup (target <= 1000) [{sink}]"
    );

    let before = Ring::new(workers(100), 5);
    let mut fewer = workers(100);
    fewer.remove(37);
    let after = Ring::new(fewer, 5);
    let moved = keys
        .iter()
        .filter(|k| before.get_multiple(k, 1)[0].identity != after.get_multiple(k, 1)[0].identity)
        .count();
    let pct = moved as f64 * 100.0 / keys.len() as f64;
    println!(
        "R1 one of 100 workers leaves: {pct:.2} % of {} keys move (target <= 2 %)",
        keys.len()
    );

    let (ns, sink) = time_per_op(5, 100_000, || {
        (0..100_000u64)
            .map(|i| plan(i * 977, i * 977 + (8 << 20), 1 << 20).len())
            .sum()
    });
    println!("range planning, 8 MiB over 1 MiB pages: {ns:.0} ns/plan [{sink}]");
}
