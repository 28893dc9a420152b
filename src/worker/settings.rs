//! The worker's settings, declared once: each one's name, command-line flag,
//! kind, default, help, whether `local-cluster` passes it to its workers, and
//! where its value goes in [`WorkerInput`] (whose text
//! [`WorkerConfig::from_input`](super::config::WorkerConfig::from_input)
//! validates). The `alluxiofs worker` and `local-cluster` options, the
//! mapping `_core.run_worker` takes, the README's table and the stubs all
//! follow [`SETTINGS`] (tests/test_worker_settings.py checks the last two).

use crate::error::{Error, Result};
use crate::worker::config::WorkerInput;

/// How a setting's value is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text, parsed by [`WorkerConfig::from_input`](super::config::WorkerConfig::from_input).
    Text,
    /// An on/off switch (a flag without a value on the command line).
    Flag,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

impl Kind {
    /// The kind's name as `_core.worker_settings()` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Flag => "flag",
            Self::Choice(_) => "choice",
        }
    }
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The value of a [`Kind::Text`] or [`Kind::Choice`] setting.
    Text(String),
    /// The value of a [`Kind::Flag`] setting.
    Flag(bool),
}

/// One worker setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Name, as in `run_worker`'s mapping (`cache_size`).
    pub name: &'static str,
    /// How the value is given.
    pub kind: Kind,
    /// Whether the worker cannot start without it.
    pub required: bool,
    /// The default as shown to users (`None`: none, or told by `help`).
    pub default: Option<&'static str>,
    /// One-line description (the default is added after it).
    pub help: &'static str,
    /// Whether `alluxiofs local-cluster` offers it and passes it to every
    /// worker (per-worker settings such as the port are its own).
    pub local_cluster: bool,
    set: fn(&mut WorkerInput, Value),
}

impl Setting {
    /// The command-line flag (`--cache-size`).
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }

    /// Stores `value` (of this setting's kind) in `input`.
    fn apply(&self, input: &mut WorkerInput, value: Value) -> Result<()> {
        let invalid = |why: String| Error::InvalidConfig(format!("invalid {}: {why}", self.name));
        match (self.kind, &value) {
            (Kind::Flag, Value::Flag(_)) | (Kind::Text, Value::Text(_)) => {}
            (Kind::Choice(words), Value::Text(t)) => {
                if !words.contains(&t.trim()) {
                    return Err(invalid(format!("{t:?} is not one of {}", words.join(", "))));
                }
            }
            (Kind::Flag, Value::Text(t)) => {
                return Err(invalid(format!("{t:?} is not true or false")));
            }
            (_, Value::Flag(b)) => return Err(invalid(format!("{b} is not a text value"))),
        }
        (self.set)(input, value);
        Ok(())
    }
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::Text(t) => Some(t),
        Value::Flag(_) => None,
    }
}

macro_rules! setting {
    ($name:ident, $kind:expr, $default:expr, $lc:expr, $help:expr, |$i:ident, $v:ident| $set:expr) => {
        Setting {
            name: stringify!($name),
            kind: $kind,
            required: false,
            default: $default,
            help: $help,
            local_cluster: $lc,
            set: |$i, $v| $set,
        }
    };
    // A text setting stored in the field of `WorkerInput` of the same name.
    ($name:ident, $default:expr, $lc:expr, $help:expr) => {
        setting!($name, Kind::Text, $default, $lc, $help, |i, v| {
            i.$name = text(v)
        })
    };
    // A text setting of the cluster settings shared with the client.
    (cluster $name:ident => $field:ident, $default:expr, $lc:expr, $help:expr) => {
        setting!($name, Kind::Text, $default, $lc, $help, |i, v| {
            i.cluster.$field = text(v)
        })
    };
}

/// Every worker setting, in the order of `alluxiofs worker --help`.
pub const SETTINGS: &[Setting] = &[
    Setting {
        required: true,
        ..setting!(
            ufs,
            None,
            false,
            "under-storage roots, comma separated: file:///dir, /dir or s3://bucket/prefix"
        )
    },
    Setting {
        required: true,
        ..setting!(cache_dir, None, false, "page store and identity directory")
    },
    setting!(host, Some("127.0.0.1"), false, "address to bind"),
    setting!(
        advertise_host,
        Some("--host"),
        false,
        "host published to clients"
    ),
    setting!(port, Some("28080"), false, "REST port; 0 = any free port"),
    setting!(cache_size, Some("1GB"), true, "page store quota, e.g. 10GB"),
    setting!(
        cluster page_size => page_size,
        Some("1MB"),
        true,
        "page size; must match clients"
    ),
    setting!(
        readahead_pages,
        Some("16 on S3, 1 on local files"),
        true,
        "pages read from the under storage in one read on a cache miss: the aligned \
         window around the missed page"
    ),
    setting!(
        readahead_max_pages,
        Some("4 x the window, at least 16"),
        true,
        "most pages in one under-storage read, for a multi-page range or a sequential scan"
    ),
    setting!(
        metadata_sync_interval,
        Some("60"),
        true,
        "seconds /v1/info answers a cached file from its record before asking the under \
         storage again; a changed file then loses its cached pages; 0 = always ask, -1 = once"
    ),
    setting!(
        cluster etcd_hosts => etcd_hosts,
        None,
        false,
        "register in etcd (comma list of host[:port])"
    ),
    setting!(
        cluster etcd_port => etcd_port,
        Some("2379"),
        false,
        "port for --etcd-hosts entries without one"
    ),
    setting!(
        cluster worker_hosts => worker_hosts,
        None,
        false,
        "static peers (host:port list, as clients' worker_hosts) instead of etcd"
    ),
    setting!(
        cluster cluster_name => cluster_name,
        Some("DefaultAlluxioCluster"),
        false,
        "alluxio.cluster.name, the etcd prefix"
    ),
    setting!(cluster etcd_username => etcd_username, None, false, "etcd user name"),
    setting!(cluster etcd_password => etcd_password, None, false, "etcd password"),
    setting!(lease_ttl, Some("120"), true, "etcd lease TTL in seconds"),
    setting!(
        oss_strict,
        Kind::Flag,
        None,
        true,
        "serve only the OSS endpoints and close the connection on errors",
        |i, v| i.oss_strict = v == Value::Flag(true)
    ),
    setting!(
        allow_page_writes,
        Kind::Flag,
        None,
        true,
        "accept page writes (POST/PUT /v1/file/{id}/page/{i}), which replace cached bytes \
         without touching the under storage; refused with 403 otherwise",
        |i, v| i.allow_page_writes = v == Value::Flag(true)
    ),
    setting!(
        identity,
        Some("kept in --cache-dir"),
        false,
        "fixed worker UUID"
    ),
    setting!(
        virtual_nodes,
        Kind::Text,
        Some("5"),
        true,
        "virtual nodes per worker",
        |i, v| i.cluster.hash_node_per_worker = text(v)
    ),
    setting!(
        node_response,
        Kind::Choice(&["array", "object"]),
        Some("array"),
        true,
        "shape of /v1/node answers: array (what alluxiofs 1.0.17 reads) or object \
         (a bare WorkerNetAddress)",
        |i, v| i.node_response = text(v)
    ),
    setting!(
        s3_endpoint,
        None,
        true,
        "S3 endpoint URL (e.g. http://127.0.0.1:5000)"
    ),
    setting!(s3_region, None, true, "S3 region"),
    setting!(s3_access_key_id, None, true, "S3 access key id"),
    setting!(s3_secret_access_key, None, true, "S3 secret access key"),
    setting!(
        s3_port,
        Some("29998"),
        false,
        "port of Alluxio's S3 API (path-style /bucket/key); 0 = any free port, off = none"
    ),
    setting!(
        s3_credentials,
        None,
        true,
        "ACCESS_KEY:SECRET_KEY the S3 API requires, SigV4 verified; unset: signatures are \
         accepted and ignored (Alluxio's SIMPLE mode)"
    ),
    setting!(
        ufs_info_credentials,
        Kind::Flag,
        None,
        true,
        "let GET /v1/ufsInfo hand out the S3 under storage's access key and secret",
        |i, v| i.ufs_info_credentials = v == Value::Flag(true)
    ),
];

/// The setting called `name`; an error listing the known names otherwise.
pub fn find(name: &str) -> Result<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name).ok_or_else(|| {
        let known: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        Error::InvalidConfig(format!(
            "unknown worker setting {name:?} (known: {})",
            known.join(", ")
        ))
    })
}

impl WorkerInput {
    /// The input the named values give (settings left out keep their
    /// defaults); an unknown name or a value of the wrong kind is an error
    /// naming the setting. [`WorkerConfig::from_input`](super::config::WorkerConfig::from_input)
    /// then validates the values.
    pub fn from_settings<I, K>(values: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, Value)>,
        K: AsRef<str>,
    {
        let mut input = Self::default();
        for (name, value) in values {
            find(name.as_ref())?.apply(&mut input, value)?;
        }
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::config::WorkerConfig;

    fn sample(s: &Setting) -> Value {
        match s.kind {
            Kind::Flag => Value::Flag(true),
            Kind::Choice(words) => Value::Text(words[words.len() - 1].into()),
            Kind::Text => Value::Text(format!("value-of-{}", s.name)),
        }
    }

    #[test]
    fn every_setting_sets_its_own_field() {
        let empty = format!("{:?}", WorkerInput::default());
        let mut seen = Vec::new();
        for s in SETTINGS {
            let input = WorkerInput::from_settings([(s.name, sample(s))]).unwrap();
            let shown = format!("{input:?}");
            assert_ne!(shown, empty, "{} sets nothing", s.name);
            assert!(
                !seen.contains(&shown),
                "{} sets the field of another setting",
                s.name
            );
            seen.push(shown);
        }
    }

    #[test]
    fn names_are_unique_snake_case() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(s
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(SETTINGS[..i].iter().all(|t| t.name != s.name), "{}", s.name);
            assert!(!s.help.ends_with('.'), "{}", s.name);
        }
        assert_eq!(find("cache_size").unwrap().flag(), "--cache-size");
        assert!(find("cache-size").is_err());
    }

    #[test]
    fn unknown_names_and_wrong_kinds_name_the_setting() {
        let e = WorkerInput::from_settings([("cache_sise", Value::Text("1GB".into()))]);
        let e = e.unwrap_err().to_string();
        assert!(e.contains("unknown worker setting \"cache_sise\""), "{e}");
        assert!(e.contains("cache_size"), "{e}");
        let e = WorkerInput::from_settings([("oss_strict", Value::Text("yes".into()))]);
        assert!(e.unwrap_err().to_string().contains("invalid oss_strict"));
        let e = WorkerInput::from_settings([("port", Value::Flag(true))]);
        assert!(e.unwrap_err().to_string().contains("invalid port"));
        let e = WorkerInput::from_settings([("node_response", Value::Text("list".into()))]);
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("invalid node_response") && e.contains("array, object"),
            "{e}"
        );
    }

    #[test]
    fn values_reach_the_config() {
        let t = |s: &str| Value::Text(s.into());
        let input = WorkerInput::from_settings([
            ("ufs", t("/data")),
            ("cache_dir", t("/tmp/c")),
            ("port", t("0")),
            ("page_size", t("64KB")),
            ("cache_size", t("1MB")),
            ("virtual_nodes", t("7")),
            ("node_response", t("object")),
            ("oss_strict", Value::Flag(true)),
            ("allow_page_writes", Value::Flag(true)),
            ("worker_hosts", t("127.0.0.1:1")),
        ])
        .unwrap();
        let c = WorkerConfig::from_input(&input).unwrap();
        assert_eq!((c.port, c.page_size, c.cache_size), (0, 64 << 10, 1 << 20));
        assert_eq!(c.virtual_nodes, 7);
        assert!(c.oss_strict && c.allow_page_writes && c.peers().is_some());
        assert_eq!(c.node_response, crate::worker::config::NodeResponse::Object);
        // A bad value is reported by the validation, naming the setting.
        let bad = WorkerInput::from_settings([
            ("ufs", t("/d")),
            ("cache_dir", t("/c")),
            ("port", t("x")),
        ]);
        let e = WorkerConfig::from_input(&bad.unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid port=\"x\""), "{e}");
    }
}
