//! `alluxiofs._core.run_worker`: runs the cache worker in this process until
//! SIGINT/SIGTERM (the `alluxiofs worker` command).

use pyo3::prelude::*;

use super::blocking::run_service;
use super::errors::to_pyerr;
use crate::config::ConfigInput;
use crate::worker::config::{WorkerConfig, WorkerInput};
use crate::worker::server::{run_until, termination_signal};

/// Runs a worker until the process gets SIGINT or SIGTERM. Arguments are the
/// `alluxiofs worker` options as text (see its `--help`).
#[pyfunction]
#[pyo3(signature = (
    *, ufs, cache_dir, host=None, advertise_host=None, port=None, cache_size=None,
    page_size=None, etcd_hosts=None, etcd_port=None, worker_hosts=None, cluster_name=None,
    etcd_username=None, etcd_password=None, lease_ttl=None, oss_strict=false, identity=None,
    s3_endpoint=None, s3_region=None, s3_access_key_id=None, s3_secret_access_key=None,
    virtual_nodes=None, node_response=None, readahead_pages=None,
    readahead_max_pages=None, metadata_sync_interval=None,
))]
#[allow(clippy::too_many_arguments)]
pub fn run_worker(
    py: Python<'_>,
    ufs: String,
    cache_dir: String,
    host: Option<String>,
    advertise_host: Option<String>,
    port: Option<String>,
    cache_size: Option<String>,
    page_size: Option<String>,
    etcd_hosts: Option<String>,
    etcd_port: Option<String>,
    worker_hosts: Option<String>,
    cluster_name: Option<String>,
    etcd_username: Option<String>,
    etcd_password: Option<String>,
    lease_ttl: Option<String>,
    oss_strict: bool,
    identity: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<String>,
    virtual_nodes: Option<String>,
    node_response: Option<String>,
    readahead_pages: Option<String>,
    readahead_max_pages: Option<String>,
    metadata_sync_interval: Option<String>,
) -> PyResult<()> {
    let input = WorkerInput {
        host,
        advertise_host,
        port,
        cache_dir: Some(cache_dir),
        cache_size,
        ufs: Some(ufs),
        s3_endpoint,
        s3_region,
        s3_access_key_id,
        s3_secret_access_key,
        lease_ttl,
        oss_strict,
        identity,
        node_response,
        readahead_pages,
        readahead_max_pages,
        metadata_sync_interval,
        cluster: ConfigInput {
            etcd_hosts,
            etcd_port,
            worker_hosts,
            page_size,
            hash_node_per_worker: virtual_nodes,
            cluster_name,
            etcd_username,
            etcd_password,
            ..ConfigInput::default()
        },
    };
    let config = WorkerConfig::from_input(&input).map_err(to_pyerr)?;
    run_service(py, run_until(config, termination_signal()))
}
