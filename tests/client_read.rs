//! The Rust client core against in-process workers: ranges at page
//! boundaries, /v1/range detection (OSS-strict workers have none), metadata,
//! writes and failover to the next ring candidate.

mod common;

use common::lends::Lends;

use std::sync::Arc;

use _core::client::ClientCore;
use _core::config::{ClientConfig, ConfigInput};
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;

const PAGE: u64 = 4096;

async fn worker(
    ufs: &std::path::Path,
    cache: &std::path::Path,
    port: u16,
    peers: &str,
    strict: bool,
) -> RunningWorker {
    let input = WorkerInput {
        port: Some(port.to_string()),
        cache_dir: Some(cache.to_string_lossy().into()),
        ufs: Some(ufs.to_string_lossy().into()),
        oss_strict: strict,
        cluster: ConfigInput {
            worker_hosts: Some(peers.into()),
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        s3_port: Some("0".into()),
        ..WorkerInput::default()
    };
    RunningWorker::start(WorkerConfig::from_input(&input).unwrap())
        .await
        .unwrap()
}

fn client(peers: &str, retries: &str) -> Arc<ClientCore> {
    let cfg = ClientConfig::from_input(&ConfigInput {
        worker_hosts: Some(peers.into()),
        page_size: Some(PAGE.to_string()),
        retries: Some(retries.into()),
        timeout: Some("5".into()),
        ..ConfigInput::default()
    })
    .unwrap();
    _core::client::process::runtime::current()
        .unwrap()
        .client(&cfg)
        .unwrap()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 253) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_metadata_and_writes() {
    for strict in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let ufs = dir.path().join("ufs");
        std::fs::create_dir_all(&ufs).unwrap();
        let body = data(5 * PAGE as usize + 77);
        std::fs::write(ufs.join("f.bin"), &body).unwrap();
        let port = common::free_port();
        let peers = format!("127.0.0.1:{port}");
        let w = worker(&ufs, &dir.path().join("c"), port, &peers, strict).await;
        let c = client(&peers, "3");
        let url = format!("file://{}/f.bin", ufs.display());
        assert_eq!(c.file_size(&url).await.unwrap(), body.len() as u64);
        for (s, e) in [
            (0, 0),
            (0, 1),
            (PAGE - 1, PAGE + 1),
            (3, 5 * PAGE + 77),
            (5 * PAGE, 5 * PAGE + 77),
        ] {
            let got = c.reader().read_vec(&url, s, e).await.unwrap();
            assert_eq!(
                got,
                &body[s as usize..e as usize],
                "strict={strict} {s}..{e}"
            );
        }
        // Python slice rules without a known size: one request for what fits
        // the first page, the size learned from the answer (or /v1/info).
        let n = body.len() as i64;
        for (s, e) in [
            (0, None),
            (5, Some(9)),
            (-10, None),
            (3, Some(-2)),
            (n - 3, Some(n + 100)),
            (n + 5, None),
            (n + 5, Some(n + 9)),
            (7, Some(7)),
            (9, Some(2)),
            (PAGE as i64 - 1, Some(5 * PAGE as i64)),
        ] {
            let (a, b) = _core::client::pages::resolve(s, e, body.len() as u64);
            let got = c.reader().read_slice(&url, s, e, None).await.unwrap();
            assert_eq!(
                got,
                &body[a as usize..b as usize],
                "strict={strict} read_slice({s}, {e:?})"
            );
        }
        let names: Vec<String> = c
            .list(&format!("file://{}", ufs.display()))
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["f.bin"]);
        if !strict {
            let out = format!("file://{}/out/new.bin", ufs.display());
            c.write(&out, bytes::Bytes::from_static(b"new bytes"))
                .await
                .unwrap();
            assert_eq!(
                std::fs::read(ufs.join("out/new.bin")).unwrap(),
                b"new bytes"
            );
            assert_eq!(c.reader().read_vec(&out, 4, 9).await.unwrap(), b"bytes");
        } else {
            // No /v1/chunk on an OSS worker: the connection is closed, an error comes back.
            assert!(c
                .write(&format!("file://{}/x", ufs.display()), bytes::Bytes::new())
                .await
                .is_err());
        }
        let missing = format!("file://{}/nope", ufs.display());
        if !strict {
            assert!(matches!(
                c.info(&missing).await,
                Err(_core::Error::NotFound(_))
            ));
        }
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fill_lent_buffers_exactly() {
    for strict in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let ufs = dir.path().join("ufs");
        std::fs::create_dir_all(&ufs).unwrap();
        let big = data(5 * PAGE as usize + 77);
        let small = data(3000);
        std::fs::write(ufs.join("big.bin"), &big).unwrap();
        std::fs::write(ufs.join("small.bin"), &small).unwrap();
        let port = common::free_port();
        let peers = format!("127.0.0.1:{port}");
        let w = worker(&ufs, &dir.path().join("c"), port, &peers, strict).await;
        let c = client(&peers, "3");
        for (name, body) in [("big.bin", &big), ("small.bin", &small)] {
            let url = format!("file://{}/{name}", ufs.display());
            let n = body.len() as i64;
            for (s, e, size) in [
                (0, None, None),
                (0, None, Some(body.len() as u64)),
                (5, Some(9), None),
                (-10, None, None),
                (3, Some(-2), None),
                (n - 3, Some(n + 100), None),
                (n + 5, None, None),
                (7, Some(7), None),
                (PAGE as i64 - 1, Some(5 * PAGE as i64), None),
                (PAGE as i64, None, None),
            ] {
                let (a, b) = _core::client::pages::resolve(s, e, body.len() as u64);
                let want = &body[a as usize..b as usize];
                for refuse in [false, true] {
                    let lends = if refuse {
                        Lends::refusing()
                    } else {
                        Lends::default()
                    };
                    let got = c
                        .reader()
                        .read_slice_lent(&url, s, e, size, Some(&lends))
                        .await
                        .unwrap();
                    let (got, lent) = lends.bytes(got);
                    let what = format!("strict={strict} {name}[{s}:{e:?}] size={size:?}");
                    assert_eq!(got, want, "{what} refuse={refuse}");
                    if refuse {
                        assert!(!lent, "{what}: nothing was lent");
                    }
                    // A small file read whole, its size announced: the one
                    // answer goes into the result directly.
                    if name == "small.bin" && s == 0 && e.is_none() && !strict && !refuse {
                        assert!(lent, "{what}: the whole file in a lent buffer");
                    }
                    // Its length known up front: lent before the read.
                    if size.is_some() && !refuse {
                        assert!(lent, "{what}: a known length is lent");
                    }
                }
            }
        }
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_next_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = dir.path().join("ufs");
    std::fs::create_dir_all(&ufs).unwrap();
    let body = data(3 * PAGE as usize);
    std::fs::write(ufs.join("f.bin"), &body).unwrap();
    let (p1, p2) = (common::free_port(), common::free_port());
    let peers = format!("127.0.0.1:{p1},127.0.0.1:{p2}");
    let w1 = worker(&ufs, &dir.path().join("c1"), p1, &peers, false).await;
    let w2 = worker(&ufs, &dir.path().join("c2"), p2, &peers, false).await;
    let c = client(&peers, "1");
    let url = format!("file://{}/f.bin", ufs.display());
    // Stop the owner: reads move on to the other worker.
    let owner = c.membership().ring().await.unwrap().get_multiple(&url, 1)[0]
        .address
        .http_server_port;
    let (dead, alive) = if owner == i32::from(p1) {
        (w1, w2)
    } else {
        (w2, w1)
    };
    dead.stop().await;
    assert_eq!(
        c.reader()
            .read_vec(&url, 0, body.len() as u64)
            .await
            .unwrap(),
        body
    );
    let stat = |name: &str| {
        c.stats
            .snapshot()
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(0, |(_, v)| *v)
    };
    let (failovers, retries) = (stat("failovers"), stat("retries"));
    assert!(failovers > 0);
    // The dead owner is now a suspect: the next read goes straight to the
    // other worker, without paying retries and a failover again.
    assert_eq!(
        c.reader()
            .read_vec(&url, 0, body.len() as u64)
            .await
            .unwrap(),
        body
    );
    assert_eq!((stat("failovers"), stat("retries")), (failovers, retries));
    alive.stop().await;
}
