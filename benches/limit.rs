//! The "limit" of the benchmark suite: a minimal client that sends a list of
//! worker requests with a given concurrency and discards the bytes — the best
//! any client could do against the same worker. Driven by `benches/run.py`.
//!
//! Usage: `cargo run --release --example limit -- PLAN.json CONCURRENCY [latency]`
//! where PLAN.json is `[["host:port", "/v1/range/...?..."], ...]`. Prints one
//! JSON line: `{"bytes": N, "seconds": S, "requests": R}`, or with `latency`
//! (requests sent one at a time) `{"p50_ms": .., "p99_ms": .., "requests": R}`.

use std::time::Instant;

use futures::StreamExt;

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

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 3,
        "usage: limit PLAN.json CONCURRENCY [latency]"
    );
    let plan: Vec<(String, String)> =
        serde_json::from_str(&std::fs::read_to_string(&args[1]).expect("plan file"))
            .expect("plan JSON");
    let concurrency: usize = args[2].parse().expect("concurrency");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()
        .expect("client");
    if args.get(3).map(String::as_str) == Some("latency") {
        let mut lat = Vec::with_capacity(plan.len());
        for (w, pq) in &plan {
            let t = Instant::now();
            get(&client, w, pq).await;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(f64::total_cmp);
        let pick = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{{\"p50_ms\": {:.4}, \"p99_ms\": {:.4}, \"requests\": {}}}",
            pick(0.5),
            pick(0.99),
            lat.len()
        );
        return;
    }
    let t = Instant::now();
    let bytes: usize = futures::stream::iter(plan.iter())
        .map(|(w, pq)| get(&client, w, pq))
        .buffer_unordered(concurrency)
        .fold(0, |a, n| async move { a + n })
        .await;
    println!(
        "{{\"bytes\": {bytes}, \"seconds\": {:.6}, \"requests\": {}}}",
        t.elapsed().as_secs_f64(),
        plan.len()
    );
}
