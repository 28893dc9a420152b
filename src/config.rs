//! Client configuration: the seed's argument names and Alluxio property names,
//! validated once, with defaults. Bad values are errors that name the key and
//! the value; unknown `alluxio.*` properties are logged and ignored.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::protocol::size::parse_size;

/// Alluxio's page size property.
pub const PAGE_SIZE_KEY: &str = "alluxio.worker.page.store.page.size";
/// Virtual nodes per worker (Java OSS property).
pub const VNODES_KEY: &str = "alluxio.user.consistent.hash.virtual.node.count.per.worker";
/// Virtual nodes per worker (alias the seed documents; EE name).
pub const VNODES_ALIAS_KEY: &str =
    "alluxio.user.worker.selection.policy.consistent.hash.virtual.node.count.per.worker";
/// Cluster name, part of the etcd prefix.
pub const CLUSTER_KEY: &str = "alluxio.cluster.name";
/// etcd user.
pub const ETCD_USER_KEY: &str = "alluxio.etcd.username";
/// etcd password.
pub const ETCD_PASSWORD_KEY: &str = "alluxio.etcd.password";

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
/// Largest page size accepted (pages are held in memory whole).
const MAX_PAGE_SIZE: u64 = 1 << 30;
/// Largest virtual node count accepted.
const MAX_VNODES: u32 = 100_000;

/// Raw inputs, as the user gave them (all values as text).
#[derive(Debug, Clone, Default)]
pub struct ConfigInput {
    /// `etcd_hosts`: comma list of `host` or `host:port`.
    pub etcd_hosts: Option<String>,
    /// `etcd_port`: port for entries without one.
    pub etcd_port: Option<String>,
    /// `worker_hosts`: comma list of `host` or `host:port`.
    pub worker_hosts: Option<String>,
    /// `worker_http_port`: port for entries without one.
    pub worker_http_port: Option<String>,
    /// `options`: Alluxio property name → value.
    pub options: Vec<(String, String)>,
    /// `page_size` keyword (alluxiofs 1.0.x flat style).
    pub page_size: Option<String>,
    /// `hash_node_per_worker` keyword (alluxiofs 1.0.x flat style).
    pub hash_node_per_worker: Option<String>,
    /// `cluster_name` keyword.
    pub cluster_name: Option<String>,
    /// `etcd_username` keyword.
    pub etcd_username: Option<String>,
    /// `etcd_password` keyword.
    pub etcd_password: Option<String>,
    /// `etcd_refresh_workers_interval` keyword, seconds; `<= 0` disables the
    /// periodic re-list (the watch stays on).
    pub etcd_refresh_workers_interval: Option<String>,
    /// `concurrency`: requests in flight at once, process-wide.
    pub concurrency: Option<String>,
    /// `timeout`: seconds one worker request may take.
    pub timeout: Option<String>,
    /// `retries`: attempts per worker for a failed idempotent request.
    pub retries: Option<String>,
    /// `hedged_reads`: ask the next ring candidate too when a piece is slow.
    pub hedged_reads: Option<String>,
    /// `deadline`: seconds one operation may take across retries and
    /// failover (default 120, and at least 4 x `timeout` unless given).
    pub deadline: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EtcdConfig {
    /// Endpoints, tried in turn.
    pub endpoints: Vec<HostPort>,
    /// `(user, password)` when auth is on.
    pub auth: Option<(String, String)>,
    /// Full re-list interval; `None` = watch only.
    pub refresh: Option<Duration>,
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

/// Default requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 64;

fn read_io(input: &ConfigInput) -> Result<IoConfig> {
    let mut io = IoConfig::default();
    if let Some(v) = &input.concurrency {
        io.concurrency = match v.trim().parse::<usize>() {
            Ok(n) if (1..=4096).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "concurrency",
                    v,
                    "expected an integer from 1 to 4096",
                ))
            }
        };
    }
    if let Some(v) = &input.timeout {
        io.timeout = match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Duration::from_secs_f64(s),
            _ => return Err(invalid("timeout", v, "expected seconds > 0")),
        };
        io.deadline = io.deadline.max(io.timeout * 4);
    }
    if let Some(v) = &input.retries {
        io.retries = match v.trim().parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return Err(invalid("retries", v, "expected an integer from 1 to 100")),
        };
    }
    if let Some(v) = &input.hedged_reads {
        io.hedged_reads = match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(invalid("hedged_reads", v, "expected true or false")),
        };
    }
    if let Some(v) = &input.deadline {
        io.deadline = match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Duration::from_secs_f64(s),
            _ => return Err(invalid("deadline", v, "expected seconds > 0")),
        };
    }
    Ok(io)
}

fn invalid(key: &str, value: &str, why: &str) -> Error {
    Error::InvalidConfig(format!("invalid {key}={value:?}: {why}"))
}

fn parse_port(key: &str, value: &str) -> Result<u16> {
    match value.trim().parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(u16::try_from(p).expect("checked range")),
        _ => Err(invalid(
            key,
            value,
            "expected a port number from 1 to 65535",
        )),
    }
}

/// Parses a comma list of `host`, `host:port`, `[v6]:port` or `http://host:port`.
pub fn parse_hosts(key: &str, value: &str, default_port: u16) -> Result<Vec<HostPort>> {
    let mut out = Vec::new();
    for raw in value.split(',') {
        let entry = raw.trim();
        if entry.is_empty() {
            return Err(invalid(key, value, "empty host entry"));
        }
        let entry = entry.strip_prefix("http://").unwrap_or(entry);
        if entry.contains("://") {
            return Err(invalid(
                key,
                value,
                "only plain http endpoints are supported",
            ));
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid(key, value, "unclosed '[' in IPv6 address"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(invalid(key, value, "junk after IPv6 address")),
            }
        } else {
            match entry.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (entry, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(invalid(key, value, &format!("bad host {host:?}")));
        }
        let (port, explicit_port) = match port {
            Some(p) => (
                parse_port(key, p)
                    .map_err(|_| invalid(key, value, &format!("bad port {p:?} in {entry:?}")))?,
                true,
            ),
            None => (default_port, false),
        };
        out.push(HostPort {
            host: host.to_owned(),
            port,
            explicit_port,
        });
    }
    Ok(out)
}

fn parse_vnodes(key: &str, value: &str) -> Result<u32> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_VNODES).contains(&n) => Ok(n),
        _ => Err(invalid(
            key,
            value,
            &format!("expected an integer from 1 to {MAX_VNODES}"),
        )),
    }
}

fn parse_page_size(key: &str, value: &str) -> Result<u64> {
    let n = parse_size(value).map_err(|e| Error::InvalidConfig(format!("invalid {key}: {e}")))?;
    if n == 0 || n > MAX_PAGE_SIZE {
        return Err(invalid(
            key,
            value,
            "page size must be between 1 byte and 1GB",
        ));
    }
    Ok(n)
}

fn non_empty(key: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(key, value, "must not be empty"));
    }
    Ok(v.to_owned())
}

/// Values picked out of `options`, before keywords override them.
#[derive(Default)]
struct FromOptions {
    page_size: Option<u64>,
    vnodes: Option<u32>,
    cluster: Option<String>,
    user: Option<String>,
    password: Option<String>,
}

fn read_options(options: &[(String, String)]) -> Result<FromOptions> {
    let mut o = FromOptions::default();
    let mut vnodes_main = None;
    let mut vnodes_alias = None;
    for (key, value) in options {
        match key.as_str() {
            PAGE_SIZE_KEY => o.page_size = Some(parse_page_size(key, value)?),
            VNODES_KEY => vnodes_main = Some(parse_vnodes(key, value)?),
            VNODES_ALIAS_KEY => vnodes_alias = Some(parse_vnodes(key, value)?),
            CLUSTER_KEY => o.cluster = Some(non_empty(key, value)?),
            ETCD_USER_KEY => o.user = Some(value.clone()),
            ETCD_PASSWORD_KEY => o.password = Some(value.clone()),
            k if k.starts_with("alluxio.") => {
                log::warn!("alluxiofs: option {k:?} is not used by this client; ignored");
            }
            k => log::warn!("alluxiofs: option {k:?} is not an Alluxio property; ignored"),
        }
    }
    if let (Some(a), Some(b)) = (vnodes_main, vnodes_alias) {
        if a != b {
            log::warn!(
                "alluxiofs: {VNODES_KEY}={a} and {VNODES_ALIAS_KEY}={b} disagree; using {b}"
            );
        }
    }
    // As alluxiofs 1.0 did: the alias, read second, wins.
    o.vnodes = vnodes_alias.or(vnodes_main);
    Ok(o)
}

fn read_refresh(value: Option<&str>) -> Result<Option<Duration>> {
    let Some(v) = value else {
        return Ok(Some(DEFAULT_REFRESH));
    };
    let key = "etcd_refresh_workers_interval";
    let secs: f64 = v
        .trim()
        .parse()
        .map_err(|_| invalid(key, v, "expected seconds"))?;
    if !secs.is_finite() {
        return Err(invalid(key, v, "expected seconds"));
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

impl ClientConfig {
    /// Validates raw inputs; keywords win over the same setting in `options`.
    pub fn from_input(input: &ConfigInput) -> Result<Self> {
        let opts = read_options(&input.options)?;
        let page_size = match &input.page_size {
            Some(v) => parse_page_size("page_size", v)?,
            None => opts.page_size.unwrap_or(DEFAULT_PAGE_SIZE),
        };
        let virtual_nodes = match &input.hash_node_per_worker {
            Some(v) => parse_vnodes("hash_node_per_worker", v)?,
            None => opts.vnodes.unwrap_or(DEFAULT_VNODES),
        };
        let cluster_name = match &input.cluster_name {
            Some(v) => non_empty("cluster_name", v)?,
            None => opts.cluster.unwrap_or_else(|| DEFAULT_CLUSTER.to_owned()),
        };
        let user = input.etcd_username.clone().or(opts.user);
        let password = input.etcd_password.clone().or(opts.password);
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
                let port = match &input.etcd_port {
                    Some(p) => parse_port("etcd_port", p)?,
                    None => DEFAULT_ETCD_PORT,
                };
                let auth = match (user, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (None, None) => None,
                    _ => {
                        return Err(Error::InvalidConfig(
                            "etcd_username and etcd_password must be given together".into(),
                        ))
                    }
                };
                MembershipConfig::Etcd(EtcdConfig {
                    endpoints: parse_hosts("etcd_hosts", hosts, port)?,
                    auth,
                    refresh: read_refresh(input.etcd_refresh_workers_interval.as_deref())?,
                })
            }
            (None, Some(hosts)) => {
                let port = match &input.worker_http_port {
                    Some(p) => parse_port("worker_http_port", p)?,
                    None => DEFAULT_WORKER_HTTP_PORT,
                };
                MembershipConfig::Static(parse_hosts("worker_hosts", hosts, port)?)
            }
        };
        Ok(Self {
            membership,
            cluster_name,
            page_size,
            virtual_nodes,
            io: read_io(input)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etcd(hosts: &str) -> ConfigInput {
        ConfigInput {
            etcd_hosts: Some(hosts.into()),
            ..ConfigInput::default()
        }
    }

    fn err(input: &ConfigInput) -> String {
        ClientConfig::from_input(input).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let c = ClientConfig::from_input(&etcd("localhost")).unwrap();
        assert_eq!(c.page_size, 1 << 20);
        assert_eq!(c.virtual_nodes, 5);
        assert_eq!(c.cluster_name, "DefaultAlluxioCluster");
        let MembershipConfig::Etcd(e) = c.membership else {
            panic!()
        };
        assert_eq!(e.endpoints_text(), "localhost:2379");
        assert_eq!(e.auth, None);
        assert_eq!(e.refresh, Some(DEFAULT_REFRESH));
    }

    #[test]
    fn hosts_and_ports() {
        let mut i = etcd(" host1, host2:8888 ,[::1]:2380,http://h3:1");
        i.etcd_port = Some("7777".into());
        let MembershipConfig::Etcd(e) = ClientConfig::from_input(&i).unwrap().membership else {
            panic!()
        };
        assert_eq!(e.endpoints_text(), "host1:7777,host2:8888,[::1]:2380,h3:1");
        assert!(!e.endpoints[0].explicit_port && e.endpoints[1].explicit_port);

        let i = ConfigInput {
            worker_hosts: Some("w1,w2:9000".into()),
            worker_http_port: Some("28081".into()),
            ..ConfigInput::default()
        };
        let MembershipConfig::Static(w) = ClientConfig::from_input(&i).unwrap().membership else {
            panic!()
        };
        assert_eq!((w[0].port, w[1].port), (28081, 9000));
    }

    #[test]
    fn neither_or_both() {
        assert!(err(&ConfigInput::default()).contains("one of etcd_hosts or worker_hosts"));
        let mut i = etcd("a");
        i.worker_hosts = Some("b".into());
        assert!(err(&i).contains("not both"));
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let mut i = etcd("a");
        i.etcd_port = Some("70000".into());
        assert!(err(&i).contains(r#"etcd_port="70000""#));
        for bad in ["a,,b", "a:x", "a:0", "[::1", "https://a:1", "a b"] {
            let e = err(&etcd(bad));
            assert!(e.contains("etcd_hosts") && e.contains(bad), "{bad}: {e}");
        }
        let mut i = etcd("a");
        i.options = vec![(PAGE_SIZE_KEY.into(), "1XB".into())];
        let e = err(&i);
        assert!(e.contains(PAGE_SIZE_KEY) && e.contains("1XB"), "{e}");
        i.options = vec![(PAGE_SIZE_KEY.into(), "0".into())];
        assert!(err(&i).contains(PAGE_SIZE_KEY));
        i.options = vec![(VNODES_KEY.into(), "-3".into())];
        let e = err(&i);
        assert!(e.contains(VNODES_KEY) && e.contains("-3"), "{e}");
        i.options = vec![(CLUSTER_KEY.into(), " ".into())];
        assert!(err(&i).contains(CLUSTER_KEY));
        let mut i = etcd("a");
        i.etcd_username = Some("u".into());
        assert!(err(&i).contains("together"));
        let mut i = etcd("a");
        i.etcd_refresh_workers_interval = Some("soon".into());
        assert!(err(&i).contains("etcd_refresh_workers_interval"));
    }

    #[test]
    fn options_and_keyword_precedence() {
        let mut i = etcd("a");
        i.options = vec![
            (PAGE_SIZE_KEY.into(), "20MB".into()),
            (VNODES_ALIAS_KEY.into(), "7".into()),
            (CLUSTER_KEY.into(), "c1".into()),
            (ETCD_USER_KEY.into(), "root".into()),
            (ETCD_PASSWORD_KEY.into(), "pw".into()),
            ("alluxio.unknown.key".into(), "x".into()),
        ];
        let c = ClientConfig::from_input(&i).unwrap();
        assert_eq!(
            (c.page_size, c.virtual_nodes, c.cluster_name.as_str()),
            (20 << 20, 7, "c1")
        );
        let MembershipConfig::Etcd(e) = &c.membership else {
            panic!()
        };
        assert_eq!(e.auth, Some(("root".into(), "pw".into())));

        i.page_size = Some("64KB".into());
        i.hash_node_per_worker = Some("9".into());
        i.cluster_name = Some("c2".into());
        let c = ClientConfig::from_input(&i).unwrap();
        assert_eq!(
            (c.page_size, c.virtual_nodes, c.cluster_name.as_str()),
            (65536, 9, "c2")
        );

        // Both vnode keys: the alias wins, as in alluxiofs 1.0.
        i.hash_node_per_worker = None;
        i.options = vec![
            (VNODES_ALIAS_KEY.into(), "3".into()),
            (VNODES_KEY.into(), "4".into()),
        ];
        assert_eq!(ClientConfig::from_input(&i).unwrap().virtual_nodes, 3);
    }

    #[test]
    fn refresh_can_be_disabled() {
        let mut i = etcd("a");
        i.etcd_refresh_workers_interval = Some("0".into());
        let MembershipConfig::Etcd(e) = ClientConfig::from_input(&i).unwrap().membership else {
            panic!()
        };
        assert_eq!(e.refresh, None);
    }
}
