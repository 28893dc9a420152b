//! Client configuration: the seed's argument names and Alluxio property names
//! (declared once, in [`keys`]), validated once, with defaults. Bad values are
//! errors that name the key and the value; unknown `alluxio.*` properties are
//! logged and ignored.

pub mod keys;
mod local_cache;
mod parse;

use std::time::Duration;

pub use crate::cache::LocalCacheConfig;
use crate::error::{Error, Result};
pub use keys::{
    Key, Kind, CLUSTER_KEY, ETCD_PASSWORD_KEY, ETCD_USER_KEY, KEYS, PAGE_SIZE_KEY,
    VNODES_ALIAS_KEY, VNODES_KEY,
};
pub use parse::parse_hosts;
use parse::{parse_port, seconds_or_off};

/// Default page size: Alluxio's `1MB`.
pub const DEFAULT_PAGE_SIZE: u64 = 1 << 20;
/// Default virtual nodes per worker: Java's default (the seed says 2000 for
/// the alias, but Java and alluxiofs both use 5; see README).
pub const DEFAULT_VNODES: u32 = 5;
/// Default cluster name.
pub const DEFAULT_CLUSTER: &str = "DefaultAlluxioCluster";
/// Default etcd client port.
pub const DEFAULT_ETCD_PORT: u16 = 2379;
/// Default worker REST port.
pub const DEFAULT_WORKER_HTTP_PORT: u16 = 28080;
/// Default full re-list interval for etcd (alluxiofs' refresh interval).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(120);
/// Default requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// Raw inputs, as the user gave them (all values as text). Each field is a
/// key of [`KEYS`], where its name, type, default and meaning are declared.
#[derive(Clone, Default)]
pub struct ConfigInput {
    /// `etcd_hosts`.
    pub etcd_hosts: Option<String>,
    /// `etcd_port`.
    pub etcd_port: Option<String>,
    /// `worker_hosts`.
    pub worker_hosts: Option<String>,
    /// `worker_http_port`.
    pub worker_http_port: Option<String>,
    /// `options`: Alluxio property name → value.
    pub options: Vec<(String, String)>,
    /// `page_size`.
    pub page_size: Option<String>,
    /// `hash_node_per_worker`.
    pub hash_node_per_worker: Option<String>,
    /// `cluster_name`.
    pub cluster_name: Option<String>,
    /// `etcd_username`.
    pub etcd_username: Option<String>,
    /// `etcd_password`.
    pub etcd_password: Option<String>,
    /// `etcd_refresh_workers_interval`.
    pub etcd_refresh_workers_interval: Option<String>,
    /// `concurrency`.
    pub concurrency: Option<String>,
    /// `timeout`.
    pub timeout: Option<String>,
    /// `retries`.
    pub retries: Option<String>,
    /// `deadline`.
    pub deadline: Option<String>,
    /// `hedged_reads`.
    pub hedged_reads: Option<String>,
    /// `local_cache_dir`.
    pub local_cache_dir: Option<String>,
    /// `local_cache_size`.
    pub local_cache_size: Option<String>,
    /// `local_cache_metadata_ttl`.
    pub local_cache_metadata_ttl: Option<String>,
    /// `local_cache_enabled`.
    pub local_cache_enabled: Option<String>,
    /// `local_cache_size_gb`.
    pub local_cache_size_gb: Option<String>,
}

impl ConfigInput {
    /// Sets the scalar key `name` (a keyword argument); `false` if there is
    /// no such scalar key (unknown, or `options`). An alluxiofs 1.1 cache
    /// setting this client does not use is accepted with a warning.
    pub fn set(&mut self, name: &str, value: Option<String>) -> bool {
        if keys::LEGACY_IGNORED.contains(&name) {
            log::warn!(
                "alluxiofs: {name} is an alluxiofs 1.1 local cache setting this client does \
                 not use (its cache sizes, evicts and prefetches on its own; see the README); \
                 ignored"
            );
            return true;
        }
        match keys::key(name).and_then(|k| k.field) {
            Some(f) => {
                *(f.set)(self) = value;
                true
            }
            None => false,
        }
    }
}

/// Masks secret keys, so logging an input never shows a password.
impl std::fmt::Debug for ConfigInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ConfigInput");
        for k in KEYS {
            match k.field {
                Some(field) => match (field.get)(self) {
                    Some(_) if k.secret => d.field(k.name, &Some("***")),
                    v => d.field(k.name, v),
                },
                None => d.field(k.name, &self.options),
            };
        }
        d.finish()
    }
}

/// One `host[:port]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (explicit or the default).
    pub port: u16,
    /// Whether the entry named its port.
    pub explicit_port: bool,
}

impl HostPort {
    /// `host:port`, bracketing IPv6 addresses.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// etcd connection settings.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EtcdConfig {
    /// Endpoints, tried in turn.
    pub endpoints: Vec<HostPort>,
    /// `(user, password)` when auth is on.
    pub auth: Option<(String, String)>,
    /// Full re-list interval; `None` = watch only.
    pub refresh: Option<Duration>,
}

/// Masks the password, so logging a configuration never shows it.
impl std::fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdConfig")
            .field("endpoints", &self.endpoints)
            .field("auth", &self.auth.as_ref().map(|(user, _)| (user, "***")))
            .field("refresh", &self.refresh)
            .finish()
    }
}

impl EtcdConfig {
    /// Endpoints as `h1:p1,h2:p2` for messages.
    pub fn endpoints_text(&self) -> String {
        self.endpoints
            .iter()
            .map(HostPort::authority)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Where the worker list comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MembershipConfig {
    /// Discover workers in etcd.
    Etcd(EtcdConfig),
    /// A fixed list of workers.
    Static(Vec<HostPort>),
}

/// Validated client configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientConfig {
    /// Worker discovery.
    pub membership: MembershipConfig,
    /// `alluxio.cluster.name`.
    pub cluster_name: String,
    /// Page size in bytes; must equal the workers'.
    pub page_size: u64,
    /// Virtual nodes per worker on the ring.
    pub virtual_nodes: u32,
    /// Data-path settings (concurrency, timeouts, retries).
    pub io: IoConfig,
    /// The node-local page cache, if on.
    pub local_cache: Option<LocalCacheConfig>,
}

/// How the client talks to workers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IoConfig {
    /// Requests in flight at once (process-wide per configuration).
    pub concurrency: usize,
    /// Time one request may take.
    pub timeout: Duration,
    /// Attempts per worker for a failed idempotent request.
    pub retries: u32,
    /// Ring candidates tried in turn before giving up.
    pub failover_workers: usize,
    /// Time a whole operation may take across retries and failover.
    pub deadline: Duration,
    /// Ask the next ring candidate too when a piece is slow (`client::hedge`).
    pub hedged_reads: bool,
}

impl Default for IoConfig {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            timeout: Duration::from_secs(30),
            retries: 3,
            failover_workers: 3,
            deadline: Duration::from_secs(120),
            hedged_reads: false,
        }
    }
}

/// The raw inputs, each checked by its key's [`Kind`]; a keyword wins over
/// the same setting in `options`.
struct Given<'a> {
    input: &'a ConfigInput,
    /// Per key, the winning property and its value.
    properties: Vec<(&'static str, &'static str, &'a str)>,
}

impl<'a> Given<'a> {
    /// Checks every property in `options` (even one a keyword overrides).
    fn new(input: &'a ConfigInput) -> Result<Self> {
        // (key, place in its property list, property, value, canonical value)
        let mut seen: Vec<(&'static Key, usize, &'static str, &'a str, String)> = Vec::new();
        for (property, value) in &input.options {
            let Some((key, place)) = keys::by_property(property) else {
                if property.starts_with("alluxio.") {
                    log::warn!(
                        "alluxiofs: option {property:?} is not used by this client; ignored"
                    );
                } else {
                    log::warn!(
                        "alluxiofs: option {property:?} is not an Alluxio property; ignored"
                    );
                }
                continue;
            };
            let canonical = key.kind.check(property, value)?;
            let name = key.properties[place];
            seen.retain(|s| s.2 != name);
            seen.push((key, place, name, value, canonical));
        }
        let mut properties = Vec::new();
        for key in KEYS {
            let mut mine: Vec<_> = seen.iter().filter(|s| s.0.name == key.name).collect();
            // As alluxiofs 1.0 did: the property later in the list (the alias) wins.
            mine.sort_by_key(|s| s.1);
            let Some(winner) = mine.last() else { continue };
            for other in &mine[..mine.len() - 1] {
                if other.4 != winner.4 {
                    log::warn!(
                        "alluxiofs: {}={} and {}={} disagree; using {}",
                        other.2,
                        other.4,
                        winner.2,
                        winner.4,
                        winner.4
                    );
                }
            }
            properties.push((key.name, winner.2, winner.3));
        }
        Ok(Self { input, properties })
    }

    /// The text given for `key` and the name it was given under.
    fn text(&self, key: &Key) -> Option<(&'static str, &'a str)> {
        let field = key.field.expect("a scalar key");
        if let Some(v) = (field.get)(self.input) {
            return Some((key.name, v.as_str()));
        }
        self.properties
            .iter()
            .find(|p| p.0 == key.name)
            .map(|p| (p.1, p.2))
    }

    /// The value given for `key`, parsed by `parse` (a parser of its kind).
    fn parsed<T>(
        &self,
        key: &Key,
        parse: impl FnOnce(Kind, &str, &str) -> Result<T>,
    ) -> Result<Option<T>> {
        self.text(key)
            .map(|(label, v)| parse(key.kind, label, v))
            .transpose()
    }

    fn raw(&self, key: &Key) -> Option<String> {
        self.text(key).map(|(_, v)| v.to_owned())
    }
}

fn read_io(given: &Given<'_>) -> Result<IoConfig> {
    let mut io = IoConfig::default();
    if let Some(n) = given.parsed(&keys::CONCURRENCY, Kind::integer)? {
        io.concurrency = usize::try_from(n).expect("at most 4096");
    }
    if let Some(t) = given.parsed(&keys::TIMEOUT, Kind::seconds)? {
        io.timeout = t;
        io.deadline = io.deadline.max(io.timeout * 4);
    }
    if let Some(n) = given.parsed(&keys::RETRIES, Kind::integer)? {
        io.retries = u32::try_from(n).expect("at most 100");
    }
    if let Some(d) = given.parsed(&keys::DEADLINE, Kind::seconds)? {
        io.deadline = d;
    }
    if let Some(h) = given.parsed(&keys::HEDGED_READS, |_, l, v| parse::boolean(l, v))? {
        io.hedged_reads = h;
    }
    Ok(io)
}

impl ClientConfig {
    /// Validates raw inputs; keywords win over the same setting in `options`.
    pub fn from_input(input: &ConfigInput) -> Result<Self> {
        let given = Given::new(input)?;
        let page_size = given
            .parsed(&keys::PAGE_SIZE, Kind::size)?
            .unwrap_or(DEFAULT_PAGE_SIZE);
        let virtual_nodes = match given.parsed(&keys::HASH_NODE_PER_WORKER, Kind::integer)? {
            Some(n) => u32::try_from(n).expect("at most MAX_VNODES"),
            None => DEFAULT_VNODES,
        };
        let cluster_name = given
            .parsed(&keys::CLUSTER_NAME, |_, l, v| parse::name(l, v))?
            .unwrap_or_else(|| DEFAULT_CLUSTER.to_owned());
        let user = given.raw(&keys::ETCD_USERNAME);
        let password = given.raw(&keys::ETCD_PASSWORD);
        let membership = match (&input.etcd_hosts, &input.worker_hosts) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidConfig(
                    "give either etcd_hosts or worker_hosts, not both".into(),
                ))
            }
            (None, None) => {
                return Err(Error::InvalidConfig(
                    "one of etcd_hosts or worker_hosts is required".into(),
                ))
            }
            (Some(hosts), None) => {
                let port = given
                    .parsed(&keys::ETCD_PORT, |_, l, v| parse_port(l, v))?
                    .unwrap_or(DEFAULT_ETCD_PORT);
                let auth = match (user, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (None, None) => None,
                    _ => {
                        return Err(Error::InvalidConfig(
                            "etcd_username and etcd_password must be given together".into(),
                        ))
                    }
                };
                let refresh = given
                    .parsed(&keys::ETCD_REFRESH_WORKERS_INTERVAL, |_, l, v| {
                        seconds_or_off(l, v)
                    })?
                    .unwrap_or(Some(DEFAULT_REFRESH));
                MembershipConfig::Etcd(EtcdConfig {
                    endpoints: parse_hosts(keys::ETCD_HOSTS.name, hosts, port)?,
                    auth,
                    refresh,
                })
            }
            (None, Some(hosts)) => {
                let port = given
                    .parsed(&keys::WORKER_HTTP_PORT, |_, l, v| parse_port(l, v))?
                    .unwrap_or(DEFAULT_WORKER_HTTP_PORT);
                MembershipConfig::Static(parse_hosts(keys::WORKER_HOSTS.name, hosts, port)?)
            }
        };
        Ok(Self {
            membership,
            cluster_name,
            page_size,
            virtual_nodes,
            io: read_io(&given)?,
            local_cache: local_cache::read(&given)?,
        })
    }
}

#[cfg(test)]
mod tests;
