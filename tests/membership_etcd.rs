//! Membership against a real etcd: joins, deletes, lease expiry, garbage
//! values and an etcd restart.

mod common;

use std::time::{Duration, Instant};

use _core::config::{ClientConfig, ConfigInput};
use _core::membership::Membership;
use _core::{WorkerIdentity, WorkerInfo, WorkerNetAddress};
use common::Etcd;
use etcd_client::{Client, PutOptions};

const PREFIX: &str = "/ServiceDiscovery/DefaultAlluxioCluster/";

fn worker(name: &str, port: u16) -> WorkerInfo {
    WorkerInfo {
        identity: WorkerIdentity::from_hostname(name),
        address: WorkerNetAddress::with_http("127.0.0.1", port),
    }
}

fn key(w: &WorkerInfo) -> String {
    format!("{PREFIX}{}", w.identity.service_entity_name())
}

fn membership(etcd: &Etcd) -> Membership {
    let cfg = ClientConfig::from_input(&ConfigInput {
        etcd_hosts: Some(etcd.endpoint()),
        ..ConfigInput::default()
    })
    .unwrap();
    Membership::start(&cfg, &tokio::runtime::Handle::current())
}

async fn put(client: &mut Client, w: &WorkerInfo, lease: Option<i64>) {
    let opts = lease.map(|l| PutOptions::new().with_lease(l));
    client.put(key(w), w.to_etcd_value(), opts).await.unwrap();
}

fn hosts(m: &Membership) -> Vec<i32> {
    let mut ports: Vec<i32> = m
        .current_ring()
        .workers()
        .iter()
        .map(|w| w.address.http_server_port)
        .collect();
    ports.sort_unstable();
    ports
}

/// Waits until the ring's worker ports equal `want`; returns how long it took.
async fn wait_ports(m: &Membership, want: &[i32], limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if hosts(m) == want {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("ring is {:?}, wanted {want:?} within {limit:?}", hosts(m));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_deletes_leases_and_garbage() {
    let Some(etcd) = Etcd::start() else { return };
    let mut client = Client::connect([format!("http://{}", etcd.endpoint())], None)
        .await
        .unwrap();
    let (w1, w2, w3) = (worker("w1", 1001), worker("w2", 1002), worker("w3", 1003));
    for w in [&w1, &w2, &w3] {
        put(&mut client, w, None).await;
    }
    // Garbage under the prefix, and a worker of another cluster whose name
    // starts with ours: neither may count.
    client
        .put(format!("{PREFIX}worker-garbage"), "not json", None)
        .await
        .unwrap();
    client
        .put(
            format!(
                "/ServiceDiscovery/DefaultAlluxioCluster2/{}",
                worker("x", 9).identity.service_entity_name()
            ),
            worker("x", 9).to_etcd_value(),
            None,
        )
        .await
        .unwrap();

    let m = membership(&etcd);
    let ring = m.ring().await.unwrap();
    assert_eq!(ring.workers().len(), 3);
    assert_eq!(hosts(&m), [1001, 1002, 1003]);
    // The identity survives the etcd round trip.
    assert!(ring.workers().iter().any(|w| w.identity == w1.identity));

    // A delete is seen within 1 s.
    client.delete(key(&w2), None).await.unwrap();
    let took = wait_ports(&m, &[1001, 1003], Duration::from_secs(1)).await;
    eprintln!("delete seen after {took:?}");

    // A join is seen within 1 s.
    let w4 = worker("w4", 1004);
    put(&mut client, &w4, None).await;
    wait_ports(&m, &[1001, 1003, 1004], Duration::from_secs(1)).await;

    // A worker whose lease is not kept alive expires (TTL 2 s).
    let lease = client.lease_grant(2, None).await.unwrap().id();
    let w5 = worker("w5", 1005);
    put(&mut client, &w5, Some(lease)).await;
    wait_ports(&m, &[1001, 1003, 1004, 1005], Duration::from_secs(1)).await;
    let took = wait_ports(&m, &[1001, 1003, 1004], Duration::from_secs(6)).await;
    eprintln!("lease expiry seen after {took:?}");

    // A value that turns into garbage drops that worker; the rest still count.
    client
        .put(key(&w4), "{\"Identity\":7}", None)
        .await
        .unwrap();
    wait_ports(&m, &[1001, 1003], Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_etcd_restart() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let mut client = Client::connect([format!("http://{}", etcd.endpoint())], None)
        .await
        .unwrap();
    put(&mut client, &worker("a", 2001), None).await;
    let m = membership(&etcd);
    m.ring().await.unwrap();

    etcd.stop();
    // While etcd is down the last ring keeps serving, and the failure is recorded.
    m.wait_for(Duration::from_secs(15), |s| s.error.is_some())
        .await
        .unwrap();
    assert_eq!(hosts(&m), [2001]);
    assert!(m.ring().await.is_ok());

    etcd.restart();
    let mut client = Client::connect([format!("http://{}", etcd.endpoint())], None)
        .await
        .unwrap();
    put(&mut client, &worker("b", 2002), None).await;
    let took = wait_ports(&m, &[2001, 2002], Duration::from_secs(15)).await;
    eprintln!("new worker seen {took:?} after etcd came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_cluster_and_unreachable_etcd_are_clear_errors() {
    let Some(etcd) = Etcd::start() else { return };
    let m = membership(&etcd);
    let err = m.ring().await.unwrap_err().to_string();
    assert!(
        err.contains("no Alluxio worker is registered") && err.contains(&etcd.endpoint()),
        "{err}"
    );

    let cfg = ClientConfig::from_input(&ConfigInput {
        etcd_hosts: Some(format!("127.0.0.1:{}", common::free_port())),
        ..ConfigInput::default()
    })
    .unwrap();
    let m = Membership::start(&cfg, &tokio::runtime::Handle::current());
    let err = m.ring().await.unwrap_err().to_string();
    assert!(err.contains("cannot reach etcd"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_tried_in_turn() {
    let Some(etcd) = Etcd::start() else { return };
    let mut client = Client::connect([format!("http://{}", etcd.endpoint())], None)
        .await
        .unwrap();
    put(&mut client, &worker("a", 3001), None).await;
    let dead = format!("127.0.0.1:{}", common::free_port());
    let cfg = ClientConfig::from_input(&ConfigInput {
        etcd_hosts: Some(format!("{dead},{}", etcd.endpoint())),
        ..ConfigInput::default()
    })
    .unwrap();
    let m = Membership::start(&cfg, &tokio::runtime::Handle::current());
    assert_eq!(m.ring().await.unwrap().workers().len(), 1);
}
