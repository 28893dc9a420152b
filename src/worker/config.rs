//! Worker configuration: validated once from the command line's text values.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{
    parse_hosts, ClientConfig, ConfigInput, EtcdConfig, HostPort, MembershipConfig,
};
use crate::error::{Error, Result};
use crate::protocol::size::parse_size;
use crate::worker::ufs::S3Options;

/// Default readahead window on S3: 16 pages (16 MiB with 1 MiB pages), a
/// typical size for ranged GETs, whose cost is mostly per request.
pub const DEFAULT_READAHEAD_PAGES: u64 = 16;
/// Default readahead window on local files: one page (a read costs little
/// per call, and a bigger window would only slow down random reads).
pub const DEFAULT_LOCAL_READAHEAD_PAGES: u64 = 1;
/// Default of `metadata_sync_interval`: a minute, so a file read often is
/// checked against the under storage about once a minute, not on every `info`.
pub const DEFAULT_METADATA_SYNC_INTERVAL: Duration = Duration::from_secs(60);
/// Largest readahead window accepted.
pub const MAX_READAHEAD_PAGES: u64 = 1024;

/// Raw worker settings, as text (declared, with their flags and help, in
/// [`crate::worker::settings::SETTINGS`]; built from a mapping by
/// [`WorkerInput::from_settings`]).
#[derive(Debug, Clone, Default)]
pub struct WorkerInput {
    /// Address to bind (default 127.0.0.1).
    pub host: Option<String>,
    /// Host name published in etcd and `/v1/node` (default: `host`).
    pub advertise_host: Option<String>,
    /// REST port (default 28080; 0 = any free port).
    pub port: Option<String>,
    /// Directory for the page store and the identity file.
    pub cache_dir: Option<String>,
    /// Page store quota, an Alluxio size (default 1GB).
    pub cache_size: Option<String>,
    /// Under-storage roots, comma separated (`file:///dir`, `/dir`, `s3://bucket/prefix`).
    pub ufs: Option<String>,
    /// S3 endpoint URL (e.g. `http://127.0.0.1:5000`).
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: Option<String>,
    /// S3 access key id.
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    pub s3_secret_access_key: Option<String>,
    /// Lease TTL in seconds for the etcd registration (default 120, Java's default).
    pub lease_ttl: Option<String>,
    /// Serve only the OSS endpoints and close the connection on errors.
    pub oss_strict: bool,
    /// S3 API port (default 29998; 0 = any free port; `off` = none).
    pub s3_port: Option<String>,
    /// `ACCESS_KEY:SECRET_KEY` the S3 API requires (SigV4 verified); unset,
    /// signatures are accepted and ignored (Alluxio's SIMPLE mode).
    pub s3_credentials: Option<String>,
    /// Whether `/v1/ufsInfo` hands out the S3 under storage's credentials.
    pub ufs_info_credentials: bool,
    /// Accept page writes over HTTP (`POST`/`PUT /v1/file/{id}/page/{i}`).
    pub allow_page_writes: bool,
    /// A fixed UUID instead of the one kept in the cache directory.
    pub identity: Option<String>,
    /// Shape of `/v1/node` answers: `array` (default; what the alluxiofs 1.0.17
    /// wheel reads) or `object` (a bare `WorkerNetAddress`).
    pub node_response: Option<String>,
    /// Pages fetched from the under storage in one read on a cache miss: the
    /// aligned window of this many pages around the missed one (default 16
    /// on S3, 1 on local files).
    pub readahead_pages: Option<String>,
    /// Most pages one under-storage read may bring for a multi-page range or
    /// a detected sequential scan (default 4 x `readahead_pages`, at least 16).
    pub readahead_max_pages: Option<String>,
    /// Seconds `/v1/info` answers a file from its record before asking the
    /// under storage again (default 60; 0 = always ask; -1 = once).
    pub metadata_sync_interval: Option<String>,
    /// Cluster settings shared with the client: `etcd_hosts` (register and
    /// find peers), or `worker_hosts` (static peers, for load jobs),
    /// `page_size`, `cluster_name`, `options`, etcd credentials.
    pub cluster: ConfigInput,
}

/// Validated worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Bind address.
    pub host: String,
    /// Published host.
    pub advertise_host: String,
    /// REST port (0 = any).
    pub port: u16,
    /// Page store and identity directory.
    pub cache_dir: PathBuf,
    /// Page store quota in bytes.
    pub cache_size: u64,
    /// Under-storage roots.
    pub ufs_roots: Vec<String>,
    /// S3 connection options.
    pub s3: S3Options,
    /// etcd registration lease TTL.
    pub lease_ttl: Duration,
    /// OSS-strict mode.
    pub oss_strict: bool,
    /// S3 API port (0 = any free port); `None` = no S3 API.
    pub s3_port: Option<u16>,
    /// The one access key and secret the S3 API accepts (SigV4 verified);
    /// `None`: signatures are accepted and ignored.
    pub s3_credentials: Option<(String, String)>,
    /// Whether `/v1/ufsInfo` includes the S3 under storage's credentials.
    pub ufs_info_credentials: bool,
    /// Whether page writes over HTTP are accepted (off: 403, docs/protocol.md §8).
    pub allow_page_writes: bool,
    /// Fixed identity (UUID text).
    pub identity: Option<String>,
    /// Shape of `/v1/node` answers.
    pub node_response: NodeResponse,
    /// Pages per under-storage read on a miss (readahead window, >= 1);
    /// `None`: the default of each kind of storage (see [`WorkerConfig::readahead`]).
    pub readahead_pages: Option<u64>,
    /// Most pages per under-storage read (>= the window); `None`: 4 x the
    /// window, at least 16.
    pub readahead_max_pages: Option<u64>,
    /// How long `/v1/info` trusts a file's record before asking the under
    /// storage again; `None`: checked once (see [`crate::worker::meta_sync`]).
    pub metadata_sync_interval: Option<Duration>,
    /// Page size in bytes.
    pub page_size: u64,
    /// Cluster name (etcd prefix).
    pub cluster_name: String,
    /// Virtual nodes per worker (for load-job placement).
    pub virtual_nodes: u32,
    /// Where peers come from; `None` = standalone.
    pub membership: Option<MembershipConfig>,
}

/// Shape of the `/v1/node` answer (docs/protocol.md §5.8 and its ambiguity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeResponse {
    /// `[{"mBlockInfo":{"mBlockInfo":{"mLocations":[{"mWorkerAddress":{...}}]}}}]`,
    /// what the published alluxiofs 1.0.17 client indexes into.
    Array,
    /// A bare `WorkerNetAddress` object, as docs/protocol.md §5.8 describes.
    Object,
}

/// Alluxio's S3 API port (`alluxio.worker.rest.port`).
pub const DEFAULT_S3_PORT: u16 = 29998;

fn invalid(key: &str, value: &str, why: &str) -> Error {
    Error::InvalidConfig(format!("invalid {key}={value:?}: {why}"))
}

impl WorkerConfig {
    /// Validates the inputs.
    pub fn from_input(i: &WorkerInput) -> Result<Self> {
        let standalone = i.cluster.etcd_hosts.is_none() && i.cluster.worker_hosts.is_none();
        // Reuse the client's validation; a placeholder peer list stands in
        // when the worker runs alone.
        let mut cluster = i.cluster.clone();
        if standalone {
            cluster.worker_hosts = Some("localhost".into());
        }
        let client = ClientConfig::from_input(&cluster)?;
        let host = i.host.clone().unwrap_or_else(|| "127.0.0.1".into());
        let port = match &i.port {
            None => 28080,
            Some(p) => p
                .trim()
                .parse::<u16>()
                .map_err(|_| invalid("port", p, "expected 0 to 65535"))?,
        };
        let cache_dir = i
            .cache_dir
            .clone()
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| Error::InvalidConfig("cache_dir is required".into()))?;
        let cache_size = match &i.cache_size {
            None => 1 << 30,
            Some(s) => parse_size(s)
                .map_err(|e| Error::InvalidConfig(format!("invalid cache_size: {e}")))?,
        };
        if cache_size < client.page_size {
            return Err(Error::InvalidConfig(format!(
                "cache_size ({cache_size} bytes) is smaller than one page ({} bytes)",
                client.page_size
            )));
        }
        let ufs_roots: Vec<String> = i
            .ufs
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if ufs_roots.is_empty() {
            return Err(Error::InvalidConfig(
                "ufs is required (e.g. file:///data or s3://bucket/prefix)".into(),
            ));
        }
        let lease_ttl = match &i.lease_ttl {
            None => Duration::from_secs(120),
            Some(t) => match t.trim().parse::<u64>() {
                Ok(n) if n >= 1 => Duration::from_secs(n),
                _ => return Err(invalid("lease_ttl", t, "expected whole seconds >= 1")),
            },
        };
        let node_response = match i.node_response.as_deref().map(str::trim) {
            None | Some("array") => NodeResponse::Array,
            Some("object") => NodeResponse::Object,
            Some(other) => return Err(invalid("node_response", other, "expected array or object")),
        };
        let pages = |key: &str, v: &Option<String>| -> Result<Option<u64>> {
            match v {
                None => Ok(None),
                Some(t) => match t.trim().parse::<u64>() {
                    Ok(n) if (1..=MAX_READAHEAD_PAGES).contains(&n) => Ok(Some(n)),
                    _ => Err(invalid(
                        key,
                        t,
                        &format!(
                            "expected a whole number of pages from 1 to {MAX_READAHEAD_PAGES}"
                        ),
                    )),
                },
            }
        };
        let readahead_pages = pages("readahead_pages", &i.readahead_pages)?;
        let readahead_max_pages = pages("readahead_max_pages", &i.readahead_max_pages)?;
        if let (Some(w), Some(m)) = (readahead_pages, readahead_max_pages) {
            if m < w {
                return Err(Error::InvalidConfig(format!(
                    "readahead_max_pages ({m}) is smaller than readahead_pages ({w})"
                )));
            }
        }
        let metadata_sync_interval = match i.metadata_sync_interval.as_deref().map(str::trim) {
            None => Some(DEFAULT_METADATA_SYNC_INTERVAL),
            Some("-1") => None,
            Some(t) => match t.parse::<f64>() {
                Ok(s) if s.is_finite() && (0.0..=1e9).contains(&s) => {
                    Some(Duration::from_secs_f64(s))
                }
                _ => {
                    return Err(invalid(
                        "metadata_sync_interval",
                        t,
                        "expected seconds >= 0, or -1 for never",
                    ))
                }
            },
        };
        let s3_port = match i.s3_port.as_deref().map(str::trim) {
            None => Some(DEFAULT_S3_PORT),
            Some("off") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| invalid("s3_port", p, "expected 0 to 65535, or off"))?,
            ),
        };
        let s3_credentials = match i.s3_credentials.as_deref() {
            None => None,
            Some(c) => match c.split_once(':') {
                Some((k, s)) if !k.is_empty() && !s.is_empty() => {
                    Some((k.to_owned(), s.to_owned()))
                }
                _ => {
                    return Err(Error::InvalidConfig(
                        "invalid s3_credentials: expected ACCESS_KEY:SECRET_KEY".into(),
                    ))
                }
            },
        };
        Ok(Self {
            s3_port,
            s3_credentials,
            ufs_info_credentials: i.ufs_info_credentials,
            node_response,
            metadata_sync_interval,
            readahead_pages,
            readahead_max_pages,
            advertise_host: i.advertise_host.clone().unwrap_or_else(|| host.clone()),
            host,
            port,
            cache_dir: PathBuf::from(cache_dir),
            cache_size,
            ufs_roots,
            s3: S3Options {
                endpoint: i.s3_endpoint.clone(),
                region: i.s3_region.clone(),
                access_key_id: i.s3_access_key_id.clone(),
                secret_access_key: i.s3_secret_access_key.clone(),
                session_token: None,
            },
            lease_ttl,
            oss_strict: i.oss_strict,
            allow_page_writes: i.allow_page_writes,
            identity: i.identity.clone(),
            page_size: client.page_size,
            cluster_name: client.cluster_name,
            virtual_nodes: client.virtual_nodes,
            membership: (!standalone).then_some(client.membership),
        })
    }

    /// The readahead window and the most pages per under-storage read for a
    /// local file or an S3 object: `readahead_pages` (default 1 for local
    /// files, 16 for S3, but at most `readahead_max_pages`) and
    /// `readahead_max_pages` (default 4 x the window, at least 16).
    pub fn readahead(&self, local: bool) -> (u64, u64) {
        let default = if local {
            DEFAULT_LOCAL_READAHEAD_PAGES
        } else {
            DEFAULT_READAHEAD_PAGES
        };
        let window = match (self.readahead_pages, self.readahead_max_pages) {
            (Some(w), _) => w,
            (None, Some(m)) => default.min(m),
            (None, None) => default,
        };
        let max = self
            .readahead_max_pages
            .unwrap_or_else(|| (window.saturating_mul(4)).clamp(16, MAX_READAHEAD_PAGES));
        (window, max.max(window))
    }

    /// The etcd settings when the worker registers in etcd.
    pub fn etcd(&self) -> Option<&EtcdConfig> {
        match &self.membership {
            Some(MembershipConfig::Etcd(e)) => Some(e),
            _ => None,
        }
    }

    /// The static peers when the worker runs with `worker_hosts`.
    pub fn peers(&self) -> Option<&[HostPort]> {
        match &self.membership {
            Some(MembershipConfig::Static(p)) => Some(p),
            _ => None,
        }
    }
}

/// Parses `host:port` of this worker as a static peer entry, to give it the
/// identity clients compute from a `worker_hosts` list.
pub fn self_as_peer(host: &str, port: u16) -> Result<HostPort> {
    let mut hp = parse_hosts("advertise_host", &format!("{host}:{port}"), port)?;
    Ok(hp.remove(0))
}
