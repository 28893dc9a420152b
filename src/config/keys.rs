//! The client's configuration keys, declared once: each keyword argument's
//! name, its Alluxio property names, type, default, doc line, and whether it
//! is secret or a CLI flag. Parsing (`ClientConfig::from_input`), the Python
//! binding (`_core.client_options()`, the constructor's keywords, `repr`),
//! the CLI's cluster flags, the README's table and the stubs follow it
//! (`tests/test_config_keys.py` checks the last two).

use super::ConfigInput;

/// What a key's value is, which fixes how it is parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Comma list of `host`, `host:port`, `[v6]:port` or `http://host:port`.
    Hosts,
    /// A TCP port, 1 to 65535.
    Port,
    /// An integer from `min` to `max`.
    Integer {
        /// Smallest value accepted.
        min: u64,
        /// Largest value accepted.
        max: u64,
    },
    /// Seconds, more than 0 and at most a day.
    Seconds,
    /// Seconds; `<= 0` turns the feature off.
    SecondsOrOff,
    /// An Alluxio size (`64KB`, `1MB`, `1048576`) from 1 byte to `max`.
    Size {
        /// Largest size accepted, in bytes.
        max: u64,
    },
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`; a Python bool).
    Bool,
    /// Non-empty text (trimmed).
    Name,
    /// Text, as given.
    Text,
    /// Alluxio properties: property name → value.
    Properties,
}

impl Kind {
    /// The type's name in `_core.client_options()` and the docs.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Hosts => "hosts",
            Kind::Port => "port",
            Kind::Integer { .. } => "int",
            Kind::Seconds | Kind::SecondsOrOff => "seconds",
            Kind::Size { .. } => "size",
            Kind::Bool => "bool",
            Kind::Name | Kind::Text => "str",
            Kind::Properties => "dict",
        }
    }

    /// The value's placeholder in CLI help (`--etcd-port PORT`).
    pub fn metavar(self) -> &'static str {
        match self {
            Kind::Hosts => "HOSTS",
            Kind::Port => "PORT",
            Kind::Integer { .. } => "N",
            Kind::Seconds | Kind::SecondsOrOff => "SECONDS",
            Kind::Size { .. } => "SIZE",
            Kind::Bool => "BOOL",
            Kind::Name => "NAME",
            Kind::Text => "TEXT",
            Kind::Properties => "KEY=VALUE",
        }
    }
}

/// Where a scalar key's text lives in [`ConfigInput`].
#[derive(Clone, Copy)]
pub struct Field {
    /// The value, if given.
    pub get: fn(&ConfigInput) -> &Option<String>,
    /// The slot to fill.
    pub set: fn(&mut ConfigInput) -> &mut Option<String>,
}

/// One configuration key.
#[derive(Clone, Copy)]
pub struct Key {
    /// Keyword argument name (`etcd_port`).
    pub name: &'static str,
    /// Alluxio property names that set it through `options`; when several
    /// are given, the later one in this list wins (alluxiofs 1.0 read the
    /// alias second).
    pub properties: &'static [&'static str],
    /// Type and checks.
    pub kind: Kind,
    /// The default as documented; `None`: none (not set).
    pub default: Option<&'static str>,
    /// One line for the README table and the docstrings (Markdown).
    pub doc: &'static str,
    /// Never shown: masked in `repr` and never logged.
    pub secret: bool,
    /// Offered by the CLI's client commands as `--name-with-dashes`.
    pub cli: bool,
    /// Its slot in [`ConfigInput`]; `None` for `options` (its own field).
    pub field: Option<Field>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("name", &self.name).finish()
    }
}

impl Key {
    /// The CLI flag (`--etcd-port`) if the CLI offers this key.
    pub fn cli_flag(&self) -> Option<String> {
        self.cli
            .then(|| format!("--{}", self.name.replace('_', "-")))
    }
}

macro_rules! field {
    ($f:ident) => {
        Some(Field {
            get: |i| &i.$f,
            set: |i| &mut i.$f,
        })
    };
}

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

/// Largest page size accepted (pages are held in memory whole).
pub const MAX_PAGE_SIZE: u64 = 1 << 30;
/// Largest virtual node count accepted.
pub const MAX_VNODES: u64 = 100_000;

/// `etcd_hosts`.
pub const ETCD_HOSTS: Key = Key {
    name: "etcd_hosts",
    properties: &[],
    kind: Kind::Hosts,
    default: None,
    doc: "comma list of etcd endpoints, each `host`, `host:port`, `[v6]:port` or \
          `http://host:port`; tried in turn",
    secret: false,
    cli: true,
    field: field!(etcd_hosts),
};
/// `etcd_port`.
pub const ETCD_PORT: Key = Key {
    name: "etcd_port",
    properties: &[],
    kind: Kind::Port,
    default: Some("2379"),
    doc: "port for `etcd_hosts` entries without one",
    secret: false,
    cli: true,
    field: field!(etcd_port),
};
/// `worker_hosts`.
pub const WORKER_HOSTS: Key = Key {
    name: "worker_hosts",
    properties: &[],
    kind: Kind::Hosts,
    default: None,
    doc: "comma list of workers, each `host` or `host:port` (static membership, no etcd)",
    secret: false,
    cli: true,
    field: field!(worker_hosts),
};
/// `worker_http_port`.
pub const WORKER_HTTP_PORT: Key = Key {
    name: "worker_http_port",
    properties: &[],
    kind: Kind::Port,
    default: Some("28080"),
    doc: "port for `worker_hosts` entries without one",
    secret: false,
    cli: true,
    field: field!(worker_http_port),
};
/// `options`.
pub const OPTIONS: Key = Key {
    name: "options",
    properties: &[],
    kind: Kind::Properties,
    default: Some("{}"),
    doc: "Alluxio properties (the property names in this table); values may be strings or \
          numbers; an unknown `alluxio.*` property is logged and ignored",
    secret: false,
    cli: false,
    field: None,
};
/// `page_size`.
pub const PAGE_SIZE: Key = Key {
    name: "page_size",
    properties: &[PAGE_SIZE_KEY],
    kind: Kind::Size { max: MAX_PAGE_SIZE },
    default: Some("1MB"),
    doc: "page size; Alluxio size strings (`64KB`, `20MB`, `1048576`; binary units); must \
          equal the workers'",
    secret: false,
    cli: true,
    field: field!(page_size),
};
/// `hash_node_per_worker`.
pub const HASH_NODE_PER_WORKER: Key = Key {
    name: "hash_node_per_worker",
    properties: &[VNODES_KEY, VNODES_ALIAS_KEY],
    kind: Kind::Integer {
        min: 1,
        max: MAX_VNODES,
    },
    default: Some("5"),
    doc: "virtual nodes per worker on the ring; the second property is an alias that wins \
          if both are given",
    secret: false,
    cli: false,
    field: field!(hash_node_per_worker),
};
/// `cluster_name`.
pub const CLUSTER_NAME: Key = Key {
    name: "cluster_name",
    properties: &[CLUSTER_KEY],
    kind: Kind::Name,
    default: Some("DefaultAlluxioCluster"),
    doc: "cluster name; etcd prefix `/ServiceDiscovery/<name>/`",
    secret: false,
    cli: true,
    field: field!(cluster_name),
};
/// `etcd_username`.
pub const ETCD_USERNAME: Key = Key {
    name: "etcd_username",
    properties: &[ETCD_USER_KEY],
    kind: Kind::Text,
    default: None,
    doc: "etcd user; `etcd_username` and `etcd_password` are given both or neither",
    secret: false,
    cli: false,
    field: field!(etcd_username),
};
/// `etcd_password`.
pub const ETCD_PASSWORD: Key = Key {
    name: "etcd_password",
    properties: &[ETCD_PASSWORD_KEY],
    kind: Kind::Text,
    default: None,
    doc: "etcd password (never shown in `repr` or logs)",
    secret: true,
    cli: false,
    field: field!(etcd_password),
};
/// `etcd_refresh_workers_interval`.
pub const ETCD_REFRESH_WORKERS_INTERVAL: Key = Key {
    name: "etcd_refresh_workers_interval",
    properties: &[],
    kind: Kind::SecondsOrOff,
    default: Some("120"),
    doc: "seconds between full re-listings of etcd (the watch sees changes at once); \
          `<= 0`: watch only",
    secret: false,
    cli: false,
    field: field!(etcd_refresh_workers_interval),
};
/// `concurrency`.
pub const CONCURRENCY: Key = Key {
    name: "concurrency",
    properties: &[],
    kind: Kind::Integer { min: 1, max: 4096 },
    default: Some("64"),
    doc: "worker requests in flight at once, process-wide per configuration",
    secret: false,
    cli: false,
    field: field!(concurrency),
};
/// `timeout`.
pub const TIMEOUT: Key = Key {
    name: "timeout",
    properties: &[],
    kind: Kind::Seconds,
    default: Some("30"),
    doc: "seconds one worker request may take",
    secret: false,
    cli: false,
    field: field!(timeout),
};
/// `retries`.
pub const RETRIES: Key = Key {
    name: "retries",
    properties: &[],
    kind: Kind::Integer { min: 1, max: 100 },
    default: Some("3"),
    doc: "attempts per worker before the next ring candidate (idempotent requests)",
    secret: false,
    cli: false,
    field: field!(retries),
};
/// `deadline`.
pub const DEADLINE: Key = Key {
    name: "deadline",
    properties: &[],
    kind: Kind::Seconds,
    default: Some("120"),
    doc: "seconds one operation may take across retries and failover, then \
          `AlluxioTimeoutError` (or the fallback); at least 4 × `timeout` unless given",
    secret: false,
    cli: false,
    field: field!(deadline),
};
/// `hedged_reads`.
pub const HEDGED_READS: Key = Key {
    name: "hedged_reads",
    properties: &[],
    kind: Kind::Bool,
    default: Some("false"),
    doc: "when a page has not answered after 1.5 × its worker's recent p95 latency (at \
          least 20 ms), ask the next ring candidate too and use the first complete answer; \
          at most 5 % extra requests",
    secret: false,
    cli: false,
    field: field!(hedged_reads),
};

/// `local_cache_dir`.
pub const LOCAL_CACHE_DIR: Key = Key {
    name: "local_cache_dir",
    properties: &[],
    kind: Kind::Text,
    default: None,
    doc: "directories of the node-shared local page cache, comma-separated (local disks; \
          see \"Local cache\"); every process on the node pointing at one shares it. Off when \
          not given",
    secret: false,
    cli: true,
    field: field!(local_cache_dir),
};
/// `local_cache_size`.
pub const LOCAL_CACHE_SIZE: Key = Key {
    name: "local_cache_size",
    properties: &[],
    kind: Kind::Text,
    default: Some("10GB"),
    doc: "the local cache's quota: one Alluxio size for all directories (split evenly) or \
          one per directory, comma-separated (`50GB,4GB`)",
    secret: false,
    cli: true,
    field: field!(local_cache_size),
};
/// `local_cache_metadata_ttl`.
pub const LOCAL_CACHE_METADATA_TTL: Key = Key {
    name: "local_cache_metadata_ttl",
    properties: &[],
    kind: Kind::SecondsOrOff,
    default: Some("60"),
    doc: "seconds a file's version (size, modification time, content hash) checked with \
          the cluster is trusted by every process on the node; `0`: checked on every read",
    secret: false,
    cli: true,
    field: field!(local_cache_metadata_ttl),
};
/// `local_cache_enabled` (alluxiofs 1.1).
pub const LOCAL_CACHE_ENABLED: Key = Key {
    name: "local_cache_enabled",
    properties: &[],
    kind: Kind::Bool,
    default: None,
    doc: "alluxiofs 1.1 name: `False` turns the local cache off; `True` needs \
          `local_cache_dir`",
    secret: false,
    cli: false,
    field: field!(local_cache_enabled),
};
/// `local_cache_size_gb` (alluxiofs 1.1).
pub const LOCAL_CACHE_SIZE_GB: Key = Key {
    name: "local_cache_size_gb",
    properties: &[],
    kind: Kind::Text,
    default: None,
    doc: "alluxiofs 1.1 name: `local_cache_size` in GB (a number, or one per directory, \
          comma-separated)",
    secret: false,
    cli: false,
    field: field!(local_cache_size_gb),
};

/// alluxiofs 1.1 cache settings this client does not use: accepted with a
/// warning (its cache is tuned differently, see the README).
pub const LEGACY_IGNORED: &[&str] = &[
    "local_cache_block_size_mb",
    "local_cache_eviction_high_watermark",
    "local_cache_eviction_low_watermark",
    "local_cache_eviction_scan_interval_minutes",
    "local_cache_ttl_time_minutes",
    "local_cache_prefetch_policy",
    "local_cache_prefetch_ahead_blocks",
    "local_cache_max_prefetch_blocks",
    "local_cache_prefetch_concurrency",
];

/// Every client key, in the constructor's order.
pub const KEYS: &[Key] = &[
    ETCD_HOSTS,
    ETCD_PORT,
    WORKER_HOSTS,
    WORKER_HTTP_PORT,
    OPTIONS,
    PAGE_SIZE,
    HASH_NODE_PER_WORKER,
    CLUSTER_NAME,
    ETCD_USERNAME,
    ETCD_PASSWORD,
    ETCD_REFRESH_WORKERS_INTERVAL,
    CONCURRENCY,
    TIMEOUT,
    RETRIES,
    DEADLINE,
    HEDGED_READS,
    LOCAL_CACHE_DIR,
    LOCAL_CACHE_SIZE,
    LOCAL_CACHE_METADATA_TTL,
    LOCAL_CACHE_ENABLED,
    LOCAL_CACHE_SIZE_GB,
];

/// The key named `name` (a keyword argument).
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The key an Alluxio property sets, and the property's place in its list.
pub fn by_property(property: &str) -> Option<(&'static Key, usize)> {
    KEYS.iter().find_map(|k| {
        k.properties
            .iter()
            .position(|p| *p == property)
            .map(|i| (k, i))
    })
}

/// Whether the argument `name` is secret (an unknown name is not).
pub fn is_secret(name: &str) -> bool {
    key(name).is_some_and(|k| k.secret)
}

/// The `TypeError` text for keyword arguments `owner` does not take, or
/// `None` if every name is a client key.
pub fn unexpected<'a>(owner: &str, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut unknown: Vec<&str> = names
        .into_iter()
        .filter(|n| key(n).is_none() && !LEGACY_IGNORED.contains(n))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort_unstable();
    unknown.dedup();
    let valid: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    Some(format!(
        "{owner} got unexpected argument(s) {}; valid: {}",
        unknown.join(", "),
        valid.join(", ")
    ))
}
