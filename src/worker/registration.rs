//! Registration in etcd exactly as the Java worker does it (docs/protocol.md §1.3):
//! the §1.2 value under `/ServiceDiscovery/<cluster>/worker-<uuid>`, attached
//! to a lease kept alive every TTL/3. A lost lease (etcd restarted, network
//! partition longer than the TTL) is replaced and the key written again. On
//! shutdown the lease is revoked so clients drop the worker at once.

use std::time::Duration;

use etcd_client::{Client, ConnectOptions, PutOptions};
use tokio::sync::watch;
use tokio::time::{sleep, timeout};

use crate::config::EtcdConfig;
use crate::error::{Error, Result};
use crate::protocol::worker_info::WorkerInfo;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A live registration; call [`Registration::shutdown`] to revoke it.
pub struct Registration {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    key: String,
}

/// The service-discovery key of a worker.
pub fn key(cluster: &str, info: &WorkerInfo) -> String {
    format!(
        "/ServiceDiscovery/{cluster}/{}",
        info.identity.service_entity_name()
    )
}

async fn connect(cfg: &EtcdConfig) -> Result<Client> {
    let mut last = None;
    for ep in &cfg.endpoints {
        let mut opts = ConnectOptions::new().with_connect_timeout(Duration::from_secs(3));
        if let Some((u, p)) = &cfg.auth {
            opts = opts.with_user(u.clone(), p.clone());
        }
        let url = format!("http://{}", ep.authority());
        match timeout(REQUEST_TIMEOUT, Client::connect([url.as_str()], Some(opts))).await {
            Ok(Ok(c)) => return Ok(c),
            // Connecting authenticates: rejected credentials are an answer
            // (PermissionError naming etcd), not an unreachable etcd.
            Ok(Err(e)) => {
                let err = etcd_err(cfg, "connect", &e);
                if matches!(err, Error::EtcdAuth { .. }) {
                    return Err(err);
                }
                last = Some(e.to_string());
            }
            Err(_) => last = Some(format!("{url} did not answer")),
        }
    }
    Err(Error::EtcdUnavailable {
        endpoints: cfg.endpoints_text(),
        message: last.unwrap_or_default(),
    })
}

fn etcd_err(cfg: &EtcdConfig, what: &str, e: &etcd_client::Error) -> Error {
    let message = format!("{what}: {e}");
    if message.contains("authentication") || message.contains("permission denied") {
        Error::EtcdAuth {
            endpoints: cfg.endpoints_text(),
            user: cfg.auth.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
            message,
        }
    } else {
        Error::EtcdUnavailable {
            endpoints: cfg.endpoints_text(),
            message,
        }
    }
}

/// Runs one etcd request under [`REQUEST_TIMEOUT`], mapping its failure.
async fn request<T>(
    cfg: &EtcdConfig,
    what: &str,
    fut: impl std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
) -> Result<T> {
    match timeout(REQUEST_TIMEOUT, fut).await {
        Ok(r) => r.map_err(|e| etcd_err(cfg, what, &e)),
        Err(_) => Err(Error::EtcdUnavailable {
            endpoints: cfg.endpoints_text(),
            message: format!("{what}: no answer within {REQUEST_TIMEOUT:?}"),
        }),
    }
}

/// Grants a lease and writes the key under it; returns the lease id.
async fn put_with_lease(
    client: &mut Client,
    cfg: &EtcdConfig,
    key: &str,
    value: &[u8],
    ttl: i64,
) -> Result<i64> {
    let lease = request(cfg, "lease grant", client.lease_grant(ttl, None))
        .await?
        .id();
    let opts = PutOptions::new().with_lease(lease);
    request(cfg, "put", client.put(key, value.to_vec(), Some(opts))).await?;
    Ok(lease)
}

/// Keeps one lease alive until it is lost (returns) or `stop` flips (returns).
async fn keep_alive(
    client: &mut Client,
    lease: i64,
    ttl: Duration,
    stop: &mut watch::Receiver<bool>,
) {
    let Ok((mut keeper, mut stream)) = client.lease_keep_alive(lease).await else {
        return;
    };
    let period = (ttl / 3).max(Duration::from_millis(200));
    loop {
        if keeper.keep_alive().await.is_err() {
            return;
        }
        match timeout(REQUEST_TIMEOUT, stream.message()).await {
            Ok(Ok(Some(resp))) if resp.ttl() > 0 => {}
            _ => return, // expired, stream closed, or etcd unreachable
        }
        tokio::select! {
            () = sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}

impl Registration {
    /// Registers `info` and keeps it registered in the background. Fails if
    /// the first registration fails (so a misconfigured worker does not start).
    pub async fn start(
        cfg: EtcdConfig,
        cluster: &str,
        info: &WorkerInfo,
        ttl: Duration,
    ) -> Result<Self> {
        let key = key(cluster, info);
        let value = info.to_etcd_value();
        let ttl_secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let mut client = connect(&cfg).await?;
        let mut lease = put_with_lease(&mut client, &cfg, &key, &value, ttl_secs).await?;
        log::info!("alluxiofs worker: registered {key} with a {ttl_secs}s lease");
        let (stop_tx, mut stop) = watch::channel(false);
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                keep_alive(&mut client, lease, ttl, &mut stop).await;
                if *stop.borrow() {
                    let _ = timeout(REQUEST_TIMEOUT, client.lease_revoke(lease)).await;
                    log::info!("alluxiofs worker: revoked the lease of {task_key}");
                    return;
                }
                log::warn!("alluxiofs worker: lease of {task_key} lost; registering again");
                loop {
                    let attempt = async {
                        let mut c = connect(&cfg).await?;
                        let l = put_with_lease(&mut c, &cfg, &task_key, &value, ttl_secs).await?;
                        Ok::<_, Error>((c, l))
                    };
                    match attempt.await {
                        Ok((c, l)) => {
                            client = c;
                            lease = l;
                            backoff = Duration::from_millis(200);
                            log::info!("alluxiofs worker: registered {task_key} again");
                            break;
                        }
                        Err(e) => {
                            log::debug!("alluxiofs worker: re-registration failed: {e}");
                            tokio::select! {
                                () = sleep(backoff) => {}
                                _ = stop.changed() => return,
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
        });
        Ok(Self {
            stop: stop_tx,
            task,
            key,
        })
    }

    /// The key this worker is registered under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Revokes the lease (the key disappears at once) and stops keeping it alive.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = timeout(REQUEST_TIMEOUT * 2, self.task).await;
    }
}
