//! Worker addresses and the etcd service-discovery value (docs/protocol.md §1.2).

use serde::{Deserialize, Serialize};

use crate::protocol::identity::{IdentityError, IdentityJson, WorkerIdentity};

/// `alluxio.wire.WorkerNetAddress`, with Gson's field names and order.
/// Missing fields take the defaults alluxiofs uses (§1.2 table).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerNetAddress {
    /// Host the client connects to.
    #[serde(rename = "Host")]
    pub host: String,
    /// Host name inside a container (never used for connections).
    #[serde(rename = "ContainerHost")]
    pub container_host: String,
    /// gRPC port.
    #[serde(rename = "RpcPort")]
    pub rpc_port: i32,
    /// Data port.
    #[serde(rename = "DataPort")]
    pub data_port: i32,
    /// Secure RPC port.
    #[serde(rename = "SecureRpcPort")]
    pub secure_rpc_port: i32,
    /// Netty data port.
    #[serde(rename = "NettyDataPort")]
    pub netty_data_port: i32,
    /// Web UI port.
    #[serde(rename = "WebPort")]
    pub web_port: i32,
    /// Domain socket path.
    #[serde(rename = "DomainSocketPath")]
    pub domain_socket_path: String,
    /// The REST port clients talk to.
    #[serde(rename = "HttpServerPort")]
    pub http_server_port: i32,
}

impl Default for WorkerNetAddress {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            container_host: String::new(),
            rpc_port: 29999,
            data_port: 29997,
            secure_rpc_port: 0,
            netty_data_port: 29997,
            web_port: 30000,
            domain_socket_path: String::new(),
            http_server_port: 28080,
        }
    }
}

impl WorkerNetAddress {
    /// An address with the given host and HTTP port, other ports at their defaults.
    pub fn with_http(host: impl Into<String>, http_port: u16) -> Self {
        Self {
            host: host.into(),
            http_server_port: i32::from(http_port),
            ..Self::default()
        }
    }
}

/// A worker as the ring sees it: identity plus the address to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerInfo {
    /// Ring identity.
    pub identity: WorkerIdentity,
    /// Where to reach it.
    pub address: WorkerNetAddress,
}

/// Why an etcd value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not JSON, or a field of the wrong type.
    #[error("not a worker entry: {0}")]
    Json(String),
    /// `Identity` missing.
    #[error("worker entry has no Identity")]
    MissingIdentity,
    /// `Identity` present but invalid.
    #[error("bad worker identity: {0}")]
    Identity(#[from] IdentityError),
}

#[derive(Deserialize)]
struct EntryIn {
    #[serde(rename = "Identity")]
    identity: Option<IdentityJson>,
    #[serde(rename = "WorkerNetAddress", default)]
    address: WorkerNetAddress,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    #[serde(rename = "Identity")]
    identity: IdentityJson,
    #[serde(rename = "WorkerNetAddress")]
    address: &'a WorkerNetAddress,
    #[serde(rename = "State")]
    state: &'static str,
    #[serde(rename = "GenerationNumber")]
    generation: i32,
    #[serde(rename = "ServiceEntityName")]
    name: String,
}

impl WorkerInfo {
    /// Parses a `/ServiceDiscovery/...` value. Unknown fields are ignored;
    /// address fields default as alluxiofs does; `Identity` is required.
    pub fn from_etcd_value(bytes: &[u8]) -> Result<Self, ValueError> {
        let e: EntryIn =
            serde_json::from_slice(bytes).map_err(|e| ValueError::Json(e.to_string()))?;
        let identity = e.identity.ok_or(ValueError::MissingIdentity)?.try_into()?;
        Ok(Self {
            identity,
            address: e.address,
        })
    }

    /// The exact bytes a Java worker registers: compact Gson JSON, fields in
    /// Gson's order, with Gson's HTML escaping of `< > & = '`.
    pub fn to_etcd_value(&self) -> Vec<u8> {
        let out = EntryOut {
            identity: (&self.identity).into(),
            address: &self.address,
            state: "AUTHORIZED",
            generation: -1,
            name: self.identity.service_entity_name(),
        };
        crate::protocol::gson::to_string(&out).into_bytes()
    }

    /// `host:port` of the worker's REST server.
    pub fn http_authority(&self) -> String {
        let host = &self.address.host;
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.address.http_server_port)
        } else {
            format!("{host}:{}", self.address.http_server_port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAVA_VALUE: &str = r#"{"Identity":{"version":1,"identifier":"421aa90e079f3326b6494f812ad13e79"},"WorkerNetAddress":{"Host":"localhost","ContainerHost":"alluxio-worker","RpcPort":29999,"DataPort":29997,"SecureRpcPort":0,"NettyDataPort":29997,"WebPort":30000,"DomainSocketPath":"","HttpServerPort":28080},"State":"AUTHORIZED","GenerationNumber":-1,"ServiceEntityName":"worker-421aa90e-079f-3326-b649-4f812ad13e79"}"#;

    #[test]
    fn parses_and_reproduces_java_bytes() {
        let w = WorkerInfo::from_etcd_value(JAVA_VALUE.as_bytes()).unwrap();
        assert_eq!(w.identity, WorkerIdentity::from_hostname("localhost"));
        assert_eq!(w.address.container_host, "alluxio-worker");
        assert_eq!(w.address.http_server_port, 28080);
        assert_eq!(String::from_utf8(w.to_etcd_value()).unwrap(), JAVA_VALUE);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let v = r#"{"Identity":{"version":1,"identifier":"421aa90e079f3326b6494f812ad13e79"},"WorkerNetAddress":{"Host":"h1"}}"#;
        let w = WorkerInfo::from_etcd_value(v.as_bytes()).unwrap();
        assert_eq!(w.address.host, "h1");
        assert_eq!(w.address.http_server_port, 28080);
        assert_eq!(w.address.rpc_port, 29999);
        let v = r#"{"Identity":{"version":1,"identifier":"421aa90e079f3326b6494f812ad13e79"}}"#;
        let w = WorkerInfo::from_etcd_value(v.as_bytes()).unwrap();
        assert_eq!(w.address, WorkerNetAddress::default());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let v = r#"{"Future":[1,2],"Identity":{"version":1,"identifier":"421aa90e079f3326b6494f812ad13e79","extra":true},"WorkerNetAddress":{"Host":"h","HttpServerPort":1234,"NewPort":5}}"#;
        let w = WorkerInfo::from_etcd_value(v.as_bytes()).unwrap();
        assert_eq!(w.http_authority(), "h:1234");
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            &b"not json"[..],
            b"",
            b"[]",
            b"{}",
            b"\xff\xfe",
            br#"{"Identity":{"version":"one","identifier":"00"}}"#,
            br#"{"Identity":{"version":1,"identifier":"0011"}}"#,
            br#"{"Identity":{"version":9,"identifier":"421aa90e079f3326b6494f812ad13e79"}}"#,
            br#"{"Identity":{"version":1,"identifier":"421aa90e079f3326b6494f812ad13e79"},"WorkerNetAddress":{"HttpServerPort":"x"}}"#,
        ] {
            assert!(WorkerInfo::from_etcd_value(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            WorkerInfo::from_etcd_value(b"{}"),
            Err(ValueError::MissingIdentity)
        );
    }

    #[test]
    fn gson_html_escaping() {
        let mut w = WorkerInfo::from_etcd_value(JAVA_VALUE.as_bytes()).unwrap();
        w.address.container_host = "a<b>&='".into();
        let s = String::from_utf8(w.to_etcd_value()).unwrap();
        assert!(s.contains(r#""ContainerHost":"a\u003cb\u003e\u0026\u003d\u0027""#));
        let back = WorkerInfo::from_etcd_value(s.as_bytes()).unwrap();
        assert_eq!(back.address.container_host, "a<b>&='");
    }
}
