//! Unit tests of URL parsing and segment-boundary matching.

use super::*;

fn local_of(u: &str) -> String {
    match parse_url(u).unwrap() {
        Parsed::Local(p) => p,
        other => panic!("{u}: {other:?}"),
    }
}

#[test]
fn local_forms() {
    assert_eq!(local_of("/a/b"), "/a/b");
    assert_eq!(local_of("file:///a/b"), "/a/b");
    assert_eq!(local_of("file://localhost/a/b"), "/a/b");
    assert_eq!(local_of("FILE:///a"), "/a");
    assert_eq!(local_of("file:/a/b"), "/a/b");
    assert_eq!(local_of("file:////a//./b/"), "/a/b");
    assert_eq!(local_of("file:///"), "/");
    assert_eq!(local_of("/a/%2e%2e/b"), "/a/%2e%2e/b");
    assert_eq!(local_of("/a/...b/..c"), "/a/...b/..c");
}

#[test]
fn s3_forms() {
    assert_eq!(
        parse_url("s3://b/p//x/./y/").unwrap(),
        Parsed::S3 {
            bucket: "b".into(),
            key: "p/x/y".into()
        }
    );
    assert_eq!(parse_url("s3://b").unwrap().url(), "s3://b");
    assert_eq!(parse_url("S3://b/").unwrap().url(), "s3://b");
}

#[test]
fn refusals() {
    let denied = [
        "/a/../b",
        "/a/..",
        "file:///a/b/../../etc",
        "s3://b/p/../q",
        "s3://../x",
        "/a/b\0c",
        "file://evil/a",
        "http://x/a",
        "hdfs://nn/a",
    ];
    for u in denied {
        assert!(
            matches!(parse_url(u), Err(Error::PermissionDenied(_))),
            "{u:?}"
        );
    }
    for u in ["", "a/b", "file:a", "s3:/b/k", "s3://", "s3:///k", "./a"] {
        assert!(
            matches!(parse_url(u), Err(Error::InvalidArgument(_))),
            "{u:?}"
        );
    }
}

#[test]
fn strip_on_segment_boundaries() {
    assert_eq!(strip_base("/data/ds", "/data/ds"), Some(""));
    assert_eq!(strip_base("/data/ds/x/y", "/data/ds"), Some("x/y"));
    assert_eq!(strip_base("/data/ds2/x", "/data/ds"), None);
    assert_eq!(strip_base("/data", "/data/ds"), None);
    assert_eq!(strip_base("/x", "/"), Some("x"));
    assert_eq!(strip_base("p/k", "p"), Some("k"));
    assert_eq!(strip_base("p2/k", "p"), None);
    assert_eq!(strip_base("k", ""), Some("k"));
}
