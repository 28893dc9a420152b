//! The "limit" of the benchmark suite: a minimal client that sends a list of
//! worker requests with a given concurrency and discards the bytes — the best
//! any client could do against the same worker. Driven by `benches/run.py`.
//!
//! Usage: `cargo run --release --example limit -- PLAN.json CONCURRENCY [MODE] [RUNS]`
//! where PLAN.json is `[["host:port", "/v1/range/...?..."], ...]`, or a list
//! of batches `[[["host:port", "/v1/..."], ...], ...]`: the batches run one
//! after another, the requests of a batch concurrently (what a client does
//! for a sequence of reads, each split into page pieces).
//!
//! MODE `throughput` (default) prints `{"bytes": N, "seconds": S, "requests": R}`;
//! MODE `latency` times each entry (a request, or a batch) on its own, one at a
//! time, and prints `{"p50_ms": .., "p99_ms": .., "requests": R, "samples": K}`.
//! The plan is executed RUNS times (default 1) on one connection pool, one
//! JSON line per run.

use std::time::Instant;

use futures::StreamExt;
use serde::Deserialize;

type Request = (String, String);

/// One plan entry: a single request, or a batch sent concurrently.
#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    One(Request),
    Batch(Vec<Request>),
}

impl Entry {
    fn requests(&self) -> &[Request] {
        match self {
            Entry::One(r) => std::slice::from_ref(r),
            Entry::Batch(b) => b,
        }
    }
}

async fn get(client: &reqwest::Client, worker: &str, pq: &str) -> usize {
    let resp = client
        .get(format!("http://{worker}{pq}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{worker}{pq}: {e}"));
    assert!(
        resp.status().is_success(),
        "{worker}{pq}: {}",
        resp.status()
    );
    resp.bytes().await.expect("body").len()
}

/// Sends `reqs` with at most `concurrency` in flight; returns the bytes received.
async fn run_all(client: &reqwest::Client, reqs: &[Request], concurrency: usize) -> usize {
    futures::stream::iter(reqs)
        .map(|(w, pq)| get(client, w, pq))
        .buffer_unordered(concurrency)
        .fold(0, |a, n| async move { a + n })
        .await
}

async fn latency(client: &reqwest::Client, plan: &[Entry], concurrency: usize) -> String {
    let mut lat = Vec::with_capacity(plan.len());
    for e in plan {
        let t = Instant::now();
        run_all(client, e.requests(), concurrency).await;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    let pick = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    let requests: usize = plan.iter().map(|e| e.requests().len()).sum();
    format!(
        "{{\"p50_ms\": {:.4}, \"p99_ms\": {:.4}, \"requests\": {requests}, \"samples\": {}}}",
        pick(0.5),
        pick(0.99),
        lat.len()
    )
}

async fn throughput(client: &reqwest::Client, plan: &[Entry], concurrency: usize) -> String {
    let t = Instant::now();
    let mut bytes = 0;
    let mut requests = 0;
    if plan.iter().all(|e| matches!(e, Entry::One(_))) {
        let reqs: Vec<Request> = plan.iter().flat_map(|e| e.requests().to_vec()).collect();
        requests = reqs.len();
        bytes = run_all(client, &reqs, concurrency).await;
    } else {
        for e in plan {
            requests += e.requests().len();
            bytes += run_all(client, e.requests(), concurrency).await;
        }
    }
    format!(
        "{{\"bytes\": {bytes}, \"seconds\": {:.6}, \"requests\": {requests}}}",
        t.elapsed().as_secs_f64()
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 3,
        "usage: limit PLAN.json CONCURRENCY [throughput|latency] [RUNS]"
    );
    let plan: Vec<Entry> =
        serde_json::from_str(&std::fs::read_to_string(&args[1]).expect("plan file"))
            .expect("plan JSON");
    assert!(!plan.is_empty(), "empty plan");
    let concurrency: usize = args[2].parse().expect("concurrency");
    let mode = args.get(3).map_or("throughput", String::as_str);
    assert!(
        matches!(mode, "throughput" | "latency"),
        "mode must be throughput or latency, not {mode}"
    );
    let runs: usize = args.get(4).map_or(1, |r| r.parse().expect("runs"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()
        .expect("client");
    for _ in 0..runs {
        let line = if mode == "latency" {
            latency(&client, &plan, concurrency).await
        } else {
            throughput(&client, &plan, concurrency).await
        };
        println!("{line}");
    }
}
