//! Workers with etcd: registration bytes, lease revocation, and a load job
//! across three workers that leaves every page on its owner.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use _core::config::ConfigInput;
use _core::protocol::path_id::path_id;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;
use _core::{Ring, WorkerInfo};
use common::Etcd;
use serde_json::Value;

const PAGE: u64 = 4096;

fn input(ufs: &Path, cache: &Path, etcd: &Etcd) -> WorkerInput {
    WorkerInput {
        port: Some("0".into()),
        cache_dir: Some(cache.to_string_lossy().into()),
        ufs: Some(ufs.to_string_lossy().into()),
        lease_ttl: Some("5".into()),
        cluster: ConfigInput {
            etcd_hosts: Some(etcd.endpoint()),
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        s3_port: Some("0".into()),
        ..WorkerInput::default()
    }
}

async fn etcd_get(etcd: &Etcd, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut c = etcd_client::Client::connect([format!("http://{}", etcd.endpoint())], None)
        .await
        .unwrap();
    let r = c
        .get(prefix, Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .unwrap();
    r.kvs()
        .iter()
        .map(|kv| (kv.key_str().unwrap().to_owned(), kv.value().to_vec()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_java_bytes_and_revokes_on_stop() {
    let Some(etcd) = Etcd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ufs")).unwrap();
    let w = RunningWorker::start(
        WorkerConfig::from_input(&input(
            &dir.path().join("ufs"),
            &dir.path().join("c"),
            &etcd,
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let id = w.worker().me().identity.clone();
    let kvs = etcd_get(&etcd, "/ServiceDiscovery/DefaultAlluxioCluster/").await;
    assert_eq!(kvs.len(), 1);
    let expected = format!(
        concat!(
            r#"{{"Identity":{{"version":1,"identifier":"{}"}},"WorkerNetAddress":{{"Host":"127.0.0.1","ContainerHost":"","#,
            r#""RpcPort":29999,"DataPort":29997,"SecureRpcPort":0,"NettyDataPort":29997,"WebPort":30000,"DomainSocketPath":"","#,
            r#""HttpServerPort":{}}},"State":"AUTHORIZED","GenerationNumber":-1,"ServiceEntityName":"worker-{}"}}"#
        ),
        id.hex(),
        w.addr().port(),
        id
    );
    assert_eq!(
        kvs[0].0,
        format!("/ServiceDiscovery/DefaultAlluxioCluster/worker-{id}")
    );
    assert_eq!(String::from_utf8(kvs[0].1.clone()).unwrap(), expected);
    // The identity persists in the cache directory.
    let text = std::fs::read_to_string(dir.path().join("c/worker_identity")).unwrap();
    assert!(text.contains(&id.to_string()));

    let start = Instant::now();
    w.stop().await;
    assert!(
        etcd_get(&etcd, "/ServiceDiscovery/").await.is_empty(),
        "lease revoked on stop"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    serde_json::from_slice(&http.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_job_caches_each_page_on_its_owner() {
    let Some(etcd) = Etcd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ufs = dir.path().join("ufs");
    let mut expected_bytes = 0;
    for i in 0..60u64 {
        let sub = ufs.join(format!("d{}/e{}", i % 3, i % 2));
        std::fs::create_dir_all(&sub).unwrap();
        let len = (i * 1537) % (4 * PAGE) + if i % 7 == 0 { 0 } else { 1 };
        expected_bytes += len;
        std::fs::write(sub.join(format!("f{i}")), vec![i as u8; len as usize]).unwrap();
    }
    let mut workers = Vec::new();
    for n in 0..3 {
        let cfg = WorkerConfig::from_input(&input(&ufs, &dir.path().join(format!("c{n}")), &etcd))
            .unwrap();
        workers.push(RunningWorker::start(cfg).await.unwrap());
    }
    let http = reqwest::Client::new();
    let base = format!("http://{}", workers[0].addr());
    let root = format!("file://{}", ufs.display());
    let enc = |s: &str| s.replace('/', "%2F").replace(':', "%3A");

    // Every worker sees all three through etcd before the job starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while etcd_get(&etcd, "/ServiceDiscovery/").await.len() < 3 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let submit = format!(
        "{base}/v1/load?path={}&opType=submit&verbose=true",
        enc(&root)
    );
    let a = get_json(&http, &submit).await;
    let b = get_json(&http, &submit).await;
    assert_eq!(a["success"], true);
    assert_eq!(b["success"], true);
    let progress = format!(
        "{base}/v1/load?path={}&opType=progress&verbose=true",
        enc(&root)
    );
    let mut last = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        last = get_json(&http, &progress).await;
        if last["jobState"] != "RUNNING" {
            break;
        }
        if b["message"].as_str().unwrap().contains("already running") {
            assert_eq!(a["jobId"], b["jobId"]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["jobState"], "SUCCEEDED", "{last}");
    let props = &last["respProperties"];
    assert_eq!(props["Inodes Scanned"], "60");
    assert_eq!(props["Files Failed"], "0");
    assert!(last["message"]
        .as_str()
        .unwrap()
        .contains("Job State: SUCCEEDED"));

    // Each page is on the file's ring owner, and only there.
    let infos: Vec<WorkerInfo> = workers.iter().map(|w| w.worker().me().clone()).collect();
    let ring = Ring::new(infos.clone(), 5);
    let mut pages_checked = 0;
    let mut owners = std::collections::HashSet::new();
    for i in 0..60u64 {
        let path = ufs.join(format!("d{}/e{}/f{i}", i % 3, i % 2));
        let url = format!("file://{}", path.display());
        let len = std::fs::metadata(&path).unwrap().len();
        let id = path_id(&url);
        let owner = ring.get_multiple(&url, 1)[0].identity.clone();
        owners.insert(owner.clone());
        for w in &workers {
            let mine = w.worker().me().identity == owner;
            for p in 0..len.div_ceil(PAGE) {
                assert_eq!(
                    w.worker().store().contains(&id, p),
                    mine,
                    "{url} page {p} on {}",
                    w.addr()
                );
                pages_checked += u64::from(mine);
            }
        }
    }
    assert!(pages_checked > 60);
    assert_eq!(owners.len(), 3, "the tree spreads over all three workers");
    let total: u64 = workers
        .iter()
        .map(|w| w.worker().store().stats().used_bytes)
        .sum();
    assert_eq!(total, expected_bytes);

    // Stop of a finished job fails; a missing path fails to submit.
    let stop = get_json(
        &http,
        &format!("{base}/v1/load?path={}&opType=stop", enc(&root)),
    )
    .await;
    assert_eq!(stop["success"], false);
    let bad = get_json(
        &http,
        &format!(
            "{base}/v1/load?path={}&opType=submit",
            enc(&format!("{root}/missing"))
        ),
    )
    .await;
    assert_eq!(
        (bad["success"].as_bool(), bad["jobId"].as_str()),
        (Some(false), Some("NONE"))
    );
    let none = get_json(
        &http,
        &format!(
            "{base}/v1/load?path={}&opType=progress",
            enc(&format!("{root}/never"))
        ),
    )
    .await;
    assert_eq!(none["jobState"], "FAILED");
    for w in workers {
        w.stop().await;
    }
}
