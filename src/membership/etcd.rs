//! etcd membership: list `/ServiceDiscovery/<cluster>/`, then watch from the
//! next revision so joins and leaves reach the ring within moments. Endpoints
//! are tried in turn; failures back off; a compacted or cancelled watch, and
//! every `refresh` interval, triggers a fresh listing. While etcd is down the
//! last ring keeps serving.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, KeyValue, WatchOptions};
use tokio::time::{sleep, timeout, Instant};

use super::Publisher;
use crate::config::EtcdConfig;
use crate::error::Error;
use crate::protocol::worker_info::WorkerInfo;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Short on purpose: while etcd is down only the last ring is used, and a
/// worker registering once etcd is back must be seen within ~2 s (wrong
/// credentials wait `AUTH_RETRY` instead, so this is no retry storm).
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Wrong credentials will not fix themselves: retry slowly, not in a storm.
const AUTH_RETRY: Duration = Duration::from_secs(30);

/// The key prefix clients read (trailing slash: cluster `c` must not match `c2`).
pub fn prefix(cluster: &str) -> String {
    format!("/ServiceDiscovery/{cluster}/")
}

/// Why a session ended.
enum End {
    /// Re-list now (compaction, cancel, periodic refresh).
    Relist,
    /// Lost etcd; back off and reconnect.
    Failed(Error),
}

/// Keeps membership in sync with etcd until the task is aborted.
pub(crate) async fn run(cfg: EtcdConfig, cluster: String, publisher: Publisher) {
    let prefix = prefix(&cluster);
    let mut warned = HashSet::new();
    let mut backoff = BACKOFF_MIN;
    let mut down = false;
    loop {
        let end = session(&cfg, &prefix, &publisher, &mut warned, &mut down).await;
        match end {
            End::Relist => backoff = BACKOFF_MIN,
            End::Failed(e) => {
                let pause = if matches!(e, Error::EtcdAuth { .. }) {
                    AUTH_RETRY
                } else {
                    backoff
                };
                if !down {
                    // Warn when service degrades (a ring is being kept); with no
                    // worker known the caller gets the error itself.
                    let kept = publisher.current_len();
                    let level = if kept > 0 {
                        log::Level::Warn
                    } else {
                        log::Level::Info
                    };
                    log::log!(
                        level,
                        "alluxiofs: {e}; keeping the last ring ({kept} workers) and retrying"
                    );
                    down = true;
                }
                publisher.fail(e);
                sleep(pause).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

fn classify(cfg: &EtcdConfig, e: &etcd_client::Error) -> Error {
    let endpoints = cfg.endpoints_text();
    if let etcd_client::Error::GRpcStatus(s) = e {
        let msg = s.message();
        // gRPC codes 7 (PERMISSION_DENIED) and 16 (UNAUTHENTICATED); tonic's
        // `Code` is not re-exported by etcd-client.
        let auth = matches!(i32::from(s.code()), 7 | 16)
            || msg.contains("authentication")
            || msg.contains("user name")
            || msg.contains("invalid auth token");
        if auth {
            return Error::EtcdAuth {
                endpoints,
                user: cfg.auth.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
                message: msg.to_owned(),
            };
        }
    }
    Error::EtcdUnavailable {
        endpoints,
        message: e.to_string(),
    }
}

/// Connects to the first endpoint that answers a listing.
async fn connect_and_list(
    cfg: &EtcdConfig,
    prefix: &str,
) -> Result<(Client, Vec<KeyValue>, i64), Error> {
    let mut last = None;
    for ep in &cfg.endpoints {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            .with_keep_alive_while_idle(true);
        if let Some((u, p)) = &cfg.auth {
            opts = opts.with_user(u.clone(), p.clone());
        }
        let url = format!("http://{}", ep.authority());
        let attempt = async {
            let mut client = Client::connect([url.as_str()], Some(opts)).await?;
            let resp = client
                .get(prefix, Some(GetOptions::new().with_prefix()))
                .await?;
            let rev = resp
                .header()
                .map_or(0, etcd_client::ResponseHeader::revision);
            Ok::<_, etcd_client::Error>((client, resp.kvs().to_vec(), rev))
        };
        match timeout(REQUEST_TIMEOUT, attempt).await {
            Ok(Ok(ok)) => return Ok(ok),
            Ok(Err(e)) => {
                let err = classify(cfg, &e);
                if matches!(err, Error::EtcdAuth { .. }) {
                    return Err(err);
                }
                log::debug!("alluxiofs: etcd endpoint {url} failed: {e}");
                last = Some(err);
            }
            Err(_) => {
                last = Some(Error::EtcdUnavailable {
                    endpoints: cfg.endpoints_text(),
                    message: format!("{url} did not answer within {REQUEST_TIMEOUT:?}"),
                });
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::InvalidConfig("no etcd endpoints".into())))
}

/// Parses one entry, warning once per (key, revision) about bad values.
fn parse_entry(kv: &KeyValue, warned: &mut HashSet<(Vec<u8>, i64)>) -> Option<WorkerInfo> {
    match WorkerInfo::from_etcd_value(kv.value()) {
        Ok(w) => Some(w),
        Err(e) => {
            if warned.insert((kv.key().to_vec(), kv.mod_revision())) {
                log::warn!(
                    "alluxiofs: skipping etcd key {:?}: {e}",
                    String::from_utf8_lossy(kv.key())
                );
            }
            None
        }
    }
}

fn publish(publisher: &Publisher, entries: &BTreeMap<Vec<u8>, WorkerInfo>) {
    publisher.publish(entries.values().cloned().collect());
}

/// One connection's life: list, then apply watch events until something ends it.
async fn session(
    cfg: &EtcdConfig,
    prefix: &str,
    publisher: &Publisher,
    warned: &mut HashSet<(Vec<u8>, i64)>,
    down: &mut bool,
) -> End {
    let (mut client, kvs, rev) = match connect_and_list(cfg, prefix).await {
        Ok(x) => x,
        Err(e) => return End::Failed(e),
    };
    let mut entries: BTreeMap<Vec<u8>, WorkerInfo> = kvs
        .iter()
        .filter_map(|kv| parse_entry(kv, warned).map(|w| (kv.key().to_vec(), w)))
        .collect();
    publish(publisher, &entries);
    if std::mem::take(down) {
        log::info!("alluxiofs: etcd {} reachable again", cfg.endpoints_text());
    }
    let opts = WatchOptions::new()
        .with_prefix()
        .with_start_revision(rev + 1);
    let mut stream = match timeout(REQUEST_TIMEOUT, client.watch(prefix, Some(opts))).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return End::Failed(classify(cfg, &e)),
        Err(_) => {
            return End::Failed(Error::EtcdUnavailable {
                endpoints: cfg.endpoints_text(),
                message: "watch was not created in time".into(),
            })
        }
    };
    // Far future stands in for "never" when periodic re-listing is off.
    let relist_at = Instant::now()
        + cfg
            .refresh
            .unwrap_or(Duration::from_secs(100 * 365 * 86_400));
    loop {
        let msg = tokio::select! {
            m = stream.message() => m,
            () = tokio::time::sleep_until(relist_at) => return End::Relist,
        };
        let resp = match msg {
            Ok(Some(r)) => r,
            Ok(None) => {
                return End::Failed(Error::EtcdUnavailable {
                    endpoints: cfg.endpoints_text(),
                    message: "watch stream closed".into(),
                })
            }
            Err(e) => return End::Failed(classify(cfg, &e)),
        };
        if resp.canceled() || resp.compact_revision() > 0 {
            log::info!(
                "alluxiofs: etcd watch ended (compact revision {}, reason {:?}); listing again",
                resp.compact_revision(),
                resp.cancel_reason()
            );
            return End::Relist;
        }
        let mut changed = false;
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            changed |= match ev.event_type() {
                EventType::Put => match parse_entry(kv, warned) {
                    Some(w) => entries.insert(kv.key().to_vec(), w.clone()) != Some(w),
                    None => entries.remove(kv.key()).is_some(),
                },
                EventType::Delete => entries.remove(kv.key()).is_some(),
            };
        }
        if changed {
            publish(publisher, &entries);
        }
    }
}
