//! The "limit" of the benchmark suite: a minimal client that sends a list of
//! worker requests with a given concurrency and discards the bytes — the best
//! any client could do against the same worker. Driven by `benches/run.py`.
//!
//! Usage: `cargo run --release --example limit -- PLAN.json CONCURRENCY [MODE] [RUNS] [TRANSPORT]`
//! where PLAN.json is `[["host:port", "/v1/range/...?..."], ...]`, or a list
//! of batches `[[["host:port", "/v1/..."], ...], ...]`: the batches run one
//! after another, the requests of a batch concurrently (what a client does
//! for a sequence of reads, each split into page pieces).
//!
//! MODE `throughput` (default) prints `{"bytes": N, "seconds": S, "requests": R}`;
//! MODE `fresh` does the same, and also faults in fresh memory (4 KiB pages,
//! one `MADV_POPULATE_WRITE`) the size of each body as it arrives, kept
//! until the run ends: the least a client returning every body at once adds
//! to the limit's work (CPython's heap gives each such result fresh pages);
//! the bodies are still dropped, not copied there;
//! MODE `latency` times each entry (a request, or a batch) on its own, one at a
//! time, and prints `{"p50_ms": .., "p99_ms": .., "requests": R, "samples": K}`.
//! The plan is executed RUNS times (default 1) on one connection pool, one
//! JSON line per run.
//!
//! TRANSPORT `hyper` (default) reads through reqwest/hyper, a body copied
//! from hyper's buffer into its own; `raw` writes each request to a plain
//! keep-alive socket and `recv`s the body into one reused buffer per
//! connection (see `limit_raw.rs`), as our client's data GETs read straight
//! into the result. Neither wins everywhere, so the suite runs both.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::Deserialize;

#[path = "limit_raw.rs"]
mod raw;

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

/// How requests are sent.
enum Client {
    Hyper(reqwest::Client),
    Raw(Arc<raw::Pool>),
}

async fn get(client: &Client, worker: &str, pq: &str) -> usize {
    let client = match client {
        Client::Hyper(c) => c,
        Client::Raw(pool) => {
            // Each request its own task, so that every runtime thread
            // `recv`s (hyper's connections are tasks of their own too): on 2
            // cores this beat polling them all on the calling task by about
            // 1.1-1.2x (interleaved runs, S1 and S3 plans).
            let (pool, worker, pq) = (pool.clone(), worker.to_owned(), pq.to_owned());
            return tokio::spawn(async move { pool.get(&worker, &pq).await })
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        }
    };
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

/// Fresh private anonymous memory in 4 KiB pages, handed out in order and
/// unmapped when dropped.
struct Fresh {
    base: *mut u8,
    cap: usize,
    used: usize,
}

impl Fresh {
    /// Reserves `cap` bytes of address space (nothing is faulted in yet).
    fn new(cap: usize) -> Self {
        // SAFETY: a new private anonymous mapping, owned by this value.
        let base = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                cap,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            assert!(p != libc::MAP_FAILED, "mmap of the fresh region failed");
            // As a heap without huge pages (glibc's default).
            libc::madvise(p, cap, libc::MADV_NOHUGEPAGE);
            p.cast::<u8>()
        };
        Self { base, cap, used: 0 }
    }

    /// Faults in the next `len` bytes with one `MADV_POPULATE_WRITE`, as
    /// ours does each result it lends; false (nothing done) if they do not
    /// fit.
    fn populate(&mut self, len: usize) -> bool {
        let at = self.used.next_multiple_of(16);
        if at + len > self.cap {
            return false;
        }
        self.used = at + len;
        let start = self.base as usize + at;
        let (lo, hi) = (start.next_multiple_of(4096), (start + len) / 4096 * 4096);
        if hi > lo {
            // SAFETY: `[lo, hi)` lies inside the mapping; populating maps
            // pages only.
            unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_POPULATE_WRITE) };
        }
        true
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, used by nothing else.
        unsafe { libc::munmap(self.base.cast(), self.cap) };
    }
}

/// Sends `reqs` with at most `concurrency` in flight; returns the bytes
/// received. With `fresh`, each body's size of fresh memory is faulted in
/// as it arrives, on the one task that takes the bodies (as ours does on
/// its Python thread: faults in one process contend when spread out).
async fn run_all(client: &Client, reqs: &[Request], concurrency: usize, fresh: bool) -> usize {
    // Mapped a region at a time, each unmapped at the end of the run.
    const REGION: usize = 256 << 20;
    let mut regions: Vec<Fresh> = Vec::new();
    let mut bodies = futures::stream::iter(reqs)
        .map(|(w, pq)| get(client, w, pq))
        .buffer_unordered(concurrency);
    let mut n = 0;
    while let Some(len) = bodies.next().await {
        n += len;
        if fresh && !regions.last_mut().is_some_and(|r| r.populate(len)) {
            let mut r = Fresh::new(REGION.max(len));
            r.populate(len);
            regions.push(r);
        }
    }
    n
}

async fn latency(client: &Client, plan: &[Entry], concurrency: usize) -> String {
    let mut lat = Vec::with_capacity(plan.len());
    for e in plan {
        let t = Instant::now();
        run_all(client, e.requests(), concurrency, false).await;
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

async fn throughput(client: &Client, plan: &[Entry], concurrency: usize, fresh: bool) -> String {
    let t = Instant::now();
    let mut bytes = 0;
    let mut requests = 0;
    if plan.iter().all(|e| matches!(e, Entry::One(_))) {
        let reqs: Vec<Request> = plan.iter().flat_map(|e| e.requests().to_vec()).collect();
        requests = reqs.len();
        bytes = run_all(client, &reqs, concurrency, fresh).await;
    } else {
        for e in plan {
            requests += e.requests().len();
            bytes += run_all(client, e.requests(), concurrency, fresh).await;
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
        "usage: limit PLAN.json CONCURRENCY [throughput|fresh|latency] [RUNS] [hyper|raw]"
    );
    let plan: Vec<Entry> =
        serde_json::from_str(&std::fs::read_to_string(&args[1]).expect("plan file"))
            .expect("plan JSON");
    assert!(!plan.is_empty(), "empty plan");
    let concurrency: usize = args[2].parse().expect("concurrency");
    let mode = args.get(3).map_or("throughput", String::as_str);
    assert!(
        matches!(mode, "throughput" | "fresh" | "latency"),
        "mode must be throughput, fresh or latency, not {mode}"
    );
    let runs: usize = args.get(4).map_or(1, |r| r.parse().expect("runs"));
    let client = match args.get(5).map_or("hyper", String::as_str) {
        "hyper" => Client::Hyper(
            reqwest::Client::builder()
                .pool_max_idle_per_host(concurrency)
                .tcp_nodelay(true)
                .build()
                .expect("client"),
        ),
        "raw" => Client::Raw(Arc::new(raw::Pool::new(concurrency))),
        other => panic!("transport must be hyper or raw, not {other}"),
    };
    for _ in 0..runs {
        let line = if mode == "latency" {
            latency(&client, &plan, concurrency).await
        } else {
            throughput(&client, &plan, concurrency, mode == "fresh").await
        };
        println!("{line}");
    }
}
