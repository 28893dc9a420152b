//! The etcd value parser: `WorkerInfo::from_etcd_value`, which is all that
//! membership's `parse_entry` does with a value (it only adds a warning).

use _core::protocol::identity::WorkerIdentity;
use _core::protocol::worker_info::{WorkerInfo, WorkerNetAddress};
use proptest::prelude::*;
use serde_json::Value;

use crate::gen::{self, Rand};
use crate::{run_prop, timed, Budget, Figures};

/// A value a Java worker registers (docs/protocol.md §1.2).
pub const JAVA_VALUE: &str = r#"{"Identity":{"version":1,"identifier":"421aa90e079f3326b6494f812ad13e79"},"WorkerNetAddress":{"Host":"localhost","ContainerHost":"alluxio-worker","RpcPort":29999,"DataPort":29997,"SecureRpcPort":0,"NettyDataPort":29997,"WebPort":30000,"DomainSocketPath":"","HttpServerPort":28080},"State":"AUTHORIZED","GenerationNumber":-1,"ServiceEntityName":"worker-421aa90e-079f-3326-b649-4f812ad13e79"}"#;

/// The schema's field names, for insertions and renames.
const KEYS: &[&str] = &[
    "Identity",
    "version",
    "identifier",
    "WorkerNetAddress",
    "Host",
    "ContainerHost",
    "RpcPort",
    "DataPort",
    "SecureRpcPort",
    "NettyDataPort",
    "WebPort",
    "DomainSocketPath",
    "HttpServerPort",
    "State",
    "GenerationNumber",
    "ServiceEntityName",
];

/// A random valid worker: v0 or v1 identity, nasty host names, any ports.
fn worker(seed: u64) -> WorkerInfo {
    let mut r = Rand::new(seed);
    let identity = if r.pct(25) {
        WorkerIdentity::new(0, r.bytes(8)).expect("8 bytes")
    } else if r.pct(50) {
        WorkerIdentity::from_hostname(&gen::string(&mut r, &[]))
    } else {
        WorkerIdentity::random_v4(r.bytes(16).try_into().expect("16 bytes"))
    };
    let port = |r: &mut Rand| -> i32 {
        #[allow(clippy::cast_possible_truncation)]
        match r.below(4) {
            0 => r.next() as i32,
            1 => i32::MIN,
            2 => i32::MAX,
            _ => r.below(65_536) as i32,
        }
    };
    let address = WorkerNetAddress {
        host: gen::string(&mut r, &["worker1", "10.0.0.1", "::1", "[::1]", "h"]),
        container_host: gen::string(&mut r, &[]),
        rpc_port: port(&mut r),
        data_port: port(&mut r),
        secure_rpc_port: port(&mut r),
        netty_data_port: port(&mut r),
        web_port: port(&mut r),
        domain_socket_path: gen::string(&mut r, &["/tmp/sock"]),
        http_server_port: port(&mut r),
    };
    WorkerInfo { identity, address }
}

/// The property for any input: a clean answer in time, and anything accepted
/// survives its own round trip.
fn check(f: &Figures, bytes: &[u8]) -> Result<(), TestCaseError> {
    let r = timed(f, || WorkerInfo::from_etcd_value(bytes));
    f.outcome(&r);
    if let Ok(w) = r {
        let again = timed(f, || w.to_etcd_value());
        let back = WorkerInfo::from_etcd_value(&again);
        prop_assert_eq!(back.as_ref(), Ok(&w), "accepted value does not round-trip");
        let _ = (w.http_authority(), w.identity.service_entity_name());
    }
    Ok(())
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| serde_json::json!(x)),
        ".{0,12}".prop_map(Value::String),
        proptest::sample::select(KEYS).prop_map(|k| Value::String(k.into())),
    ]
}

/// Arbitrary JSON, with the schema's keys.
fn json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(6, 64, 8, |inner| {
        let key = prop_oneof![
            proptest::sample::select(KEYS).prop_map(String::from),
            ".{0,6}"
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Input {
    Bytes(Vec<u8>),
    Json(Value),
    /// A real value (the Java one, or one we emit), mutated.
    Mutated {
        java: bool,
        worker: u64,
        seed: u64,
        jops: usize,
        tops: usize,
    },
    /// A valid value, which must round-trip exactly.
    Valid(u64),
}

#[test]
fn r5_fuzz_etcd_value() {
    let budget = Budget::new("etcd_value", 8000);
    let f = Figures::default();
    let java: Value = serde_json::from_str(JAVA_VALUE).expect("java value");
    let strategy = prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Input::Bytes),
        1 => json().prop_map(Input::Json),
        5 => (any::<bool>(), any::<u64>(), any::<u64>(), 0usize..5, 0usize..4).prop_map(
            |(java, worker, seed, jops, tops)| Input::Mutated { java, worker, seed, jops, tops }
        ),
        1 => any::<u64>().prop_map(Input::Valid),
    ];
    run_prop(&budget, &f, &strategy, |input| match input {
        Input::Bytes(b) => check(&f, &b),
        Input::Json(v) => check(&f, &serde_json::to_vec(&v).expect("json")),
        Input::Mutated {
            java: is_java,
            worker: w,
            seed,
            jops,
            tops,
        } => {
            let base = if is_java {
                java.clone()
            } else {
                serde_json::from_slice(&worker(w).to_etcd_value()).expect("our value is JSON")
            };
            check(&f, &gen::mutated(&base, seed, jops, tops, KEYS))
        }
        Input::Valid(seed) => {
            let w = worker(seed);
            let bytes = w.to_etcd_value();
            let back = timed(&f, || WorkerInfo::from_etcd_value(&bytes));
            f.outcome(&back);
            prop_assert_eq!(back.as_ref(), Ok(&w));
            prop_assert_eq!(back.expect("ok").to_etcd_value(), bytes);
            Ok(())
        }
    });
    f.finish(&budget);
}
