//! Starting and stopping a worker: bind, open the page store and the under
//! storage, register in etcd, serve HTTP/1.1 with keep-alive (under the
//! limits of [`crate::worker::connection`]), and on shutdown revoke the etcd
//! lease first so clients drop the worker at once.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::protocol::worker_info::{WorkerInfo, WorkerNetAddress};
use crate::worker::config::WorkerConfig;
// Connections are served with the limits of `connection` (docs/protocol.md §8).
use crate::worker::connection::accept_loop;
use crate::worker::page_store::{PageStore, PageStoreConfig};
use crate::worker::registration::Registration;
use crate::worker::routes;
use crate::worker::state::{resolve_identity, Worker};
use crate::worker::ufs::Ufs;

/// A worker serving in the background of the current runtime.
pub struct RunningWorker {
    addr: SocketAddr,
    s3_addr: Option<SocketAddr>,
    s3_serve: Option<tokio::task::JoinHandle<()>>,
    worker: Worker,
    stop: watch::Sender<bool>,
    serve: tokio::task::JoinHandle<()>,
    registration: Option<Registration>,
}

impl RunningWorker {
    /// Binds, opens the stores, registers (if etcd is configured) and starts serving.
    pub async fn start(config: WorkerConfig) -> Result<Self> {
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .map_err(|e| Error::io(format!("binding {}:{}", config.host, config.port), &e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", &e))?;
        let me = WorkerInfo {
            identity: resolve_identity(&config, addr.port())?,
            address: WorkerNetAddress::with_http(config.advertise_host.clone(), addr.port()),
        };
        let store = PageStore::open(PageStoreConfig {
            dir: config.cache_dir.join("pages"),
            page_size: config.page_size,
            quota: config.cache_size,
        })?;
        let ufs = Ufs::new(&config.ufs_roots, &config.s3)?;
        let s3_listener = match config.s3_port {
            Some(port) => {
                // The bucket names must not clash before anything is served.
                crate::worker::s3::mounts::Mounts::new(&ufs.roots())?;
                let l = TcpListener::bind((config.host.as_str(), port))
                    .await
                    .map_err(|e| {
                        Error::io(format!("binding the S3 API on {}:{port}", config.host), &e)
                    })?;
                Some(l)
            }
            None => None,
        };
        let worker = Worker::new(config.clone(), me.clone(), store, ufs)?;
        let registration = match config.etcd() {
            Some(etcd) => Some(
                Registration::start(etcd.clone(), &config.cluster_name, &me, config.lease_ttl)
                    .await?,
            ),
            None => None,
        };
        let (stop, stop_rx) = watch::channel(false);
        let s3_addr = match &s3_listener {
            Some(l) => Some(
                l.local_addr()
                    .map_err(|e| Error::io("reading the S3 API's bound address", &e))?,
            ),
            None => None,
        };
        let s3_serve = s3_listener.map(|l| {
            tokio::spawn(accept_loop(
                l,
                crate::worker::s3::router(worker.clone()),
                stop_rx.clone(),
            ))
        });
        let serve = tokio::spawn(accept_loop(
            listener,
            routes::router(worker.clone()),
            stop_rx,
        ));
        log::info!(
            "alluxiofs worker {} serving {} on {}{}{}",
            me.identity,
            config.ufs_roots.join(","),
            addr,
            s3_addr.map_or_else(String::new, |a| format!(" (S3 API on {a})")),
            if config.oss_strict {
                " (OSS-strict)"
            } else {
                ""
            }
        );
        Ok(Self {
            addr,
            s3_addr,
            s3_serve,
            worker,
            stop,
            serve,
            registration,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The S3 API's bound address, if it serves one.
    pub fn s3_addr(&self) -> Option<SocketAddr> {
        self.s3_addr
    }

    /// The worker's state (page store, UFS, identity).
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Revokes the registration, then stops accepting connections.
    pub async fn stop(self) {
        if let Some(r) = self.registration {
            r.shutdown().await;
        }
        let _ = self.stop.send(true);
        let _ = self.serve.await;
        if let Some(s) = self.s3_serve {
            let _ = s.await;
        }
    }
}

/// Runs a worker until `shutdown` completes.
pub async fn run_until(
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let w = RunningWorker::start(config).await?;
    shutdown.await;
    log::info!("alluxiofs worker on {} shutting down", w.addr());
    w.stop().await;
    Ok(())
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn termination_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => futures::future::pending::<()>().await,
    }
}
