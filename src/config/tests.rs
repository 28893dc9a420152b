//! Tests of parsing and of the key declaration.

use super::*;
use crate::config::keys::{Kind, KEYS};

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

#[test]
fn every_input_field_is_one_key() {
    let mut i = ConfigInput::default();
    for (n, k) in KEYS.iter().enumerate() {
        assert!(
            i.set(k.name, Some(format!("v{n}"))) == k.field.is_some(),
            "{}",
            k.name
        );
    }
    i.options = vec![("p".into(), "v".into())];
    // Debug lists the fields through KEYS: a field no key reaches would be
    // missing there; a key without a field would show `None`.
    let text = format!("{i:?}");
    assert!(!text.contains("None"), "{text}");
    for (n, k) in KEYS.iter().enumerate() {
        if let Some(f) = k.field {
            assert_eq!((f.get)(&i).as_deref(), Some(format!("v{n}").as_str()));
        }
    }
    let fields = format!("{:?}", ConfigInput::default())
        .matches(": ")
        .count();
    assert_eq!(fields, KEYS.len());
    assert!(!i.set("bogus", None) && !i.set("options", None));
}

#[test]
fn declared_defaults_are_the_defaults() {
    let implicit = ClientConfig::from_input(&etcd("a")).unwrap();
    let mut explicit = etcd("a");
    for k in KEYS {
        if let (Some(f), Some(d)) = (k.field, k.default) {
            if k.name != "deadline" {
                *(f.set)(&mut explicit) = Some(d.into());
            }
        }
    }
    assert_eq!(ClientConfig::from_input(&explicit).unwrap(), implicit);
    // The deadline's default holds for the default timeout.
    explicit.deadline = keys::DEADLINE.default.map(Into::into);
    assert_eq!(ClientConfig::from_input(&explicit).unwrap(), implicit);
    let worker = ConfigInput {
        worker_hosts: Some("w".into()),
        worker_http_port: keys::WORKER_HTTP_PORT.default.map(Into::into),
        ..ConfigInput::default()
    };
    let plain = ConfigInput {
        worker_hosts: Some("w".into()),
        ..ConfigInput::default()
    };
    assert_eq!(
        ClientConfig::from_input(&worker).unwrap(),
        ClientConfig::from_input(&plain).unwrap()
    );
}

#[test]
fn every_property_belongs_to_one_key() {
    let mut all: Vec<&str> = KEYS
        .iter()
        .flat_map(|k| k.properties.iter().copied())
        .collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n);
    assert!(KEYS
        .iter()
        .all(|k| (k.kind == Kind::Properties) == k.field.is_none()));
}

#[test]
fn secrets_never_show_in_debug() {
    let mut i = etcd("a");
    i.etcd_username = Some("u".into());
    i.etcd_password = Some("hunter2".into());
    assert!(!format!("{i:?}").contains("hunter2"));
    let c = ClientConfig::from_input(&i).unwrap();
    let text = format!("{c:?}");
    assert!(
        !text.contains("hunter2") && text.contains("\"u\""),
        "{text}"
    );
    assert!(keys::is_secret("etcd_password") && !keys::is_secret("etcd_username"));
}

#[test]
fn unexpected_names_are_listed_sorted() {
    assert_eq!(keys::unexpected("X", ["etcd_hosts", "timeout"]), None);
    let e = keys::unexpected("X", ["zz", "etcd_hosts", "aa"]).unwrap();
    assert!(
        e.starts_with("X got unexpected argument(s) aa, zz; valid: etcd_hosts, etcd_port,"),
        "{e}"
    );
}
