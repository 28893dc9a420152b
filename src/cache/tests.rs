use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

fn cache(root: &std::path::Path, ttl: Option<Duration>) -> LocalCache {
    let cfg = LocalCacheConfig {
        dirs: vec![(root.join("a"), 8 << 20), (root.join("b"), 8 << 20)],
        metadata_ttl: ttl,
    };
    LocalCache::open(&cfg, "ns", "test", 4096).unwrap().unwrap()
}

#[tokio::test]
async fn a_version_is_reused_within_the_ttl_by_every_process() {
    let t = tempfile::tempdir().unwrap();
    let checks = AtomicUsize::new(0);
    let check = || async {
        checks.fetch_add(1, Ordering::Relaxed);
        Ok((10, 1, String::from("h")))
    };
    let a = cache(t.path(), Some(Duration::from_secs(60)));
    let v1 = a.version("/f", check).await.unwrap();
    let v2 = a.version("/f", check).await.unwrap();
    assert_eq!((v1.len, checks.load(Ordering::Relaxed)), (10, 1));
    assert_eq!(v1, v2);
    // Another process (a second cache over the same directories) reads the record.
    let b = cache(t.path(), Some(Duration::from_secs(60)));
    assert_eq!(b.version("/f", check).await.unwrap(), v1);
    assert_eq!(checks.load(Ordering::Relaxed), 1);
    // With no TTL every read checks.
    let c = cache(t.path(), None);
    c.version("/f", check).await.unwrap();
    c.version("/f", check).await.unwrap();
    assert_eq!(checks.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn a_new_version_removes_the_old_pages() {
    let t = tempfile::tempdir().unwrap();
    let c = cache(t.path(), None);
    let old = c
        .version("/f", || async { Ok((5000, 1, String::new())) })
        .await
        .unwrap();
    for index in 0..2 {
        let key = PageKey {
            file: old.key,
            index,
        };
        assert!(c.dir_of(&key).publish(&key, &[7u8; 100], false).unwrap());
    }
    let new = c
        .version("/f", || async { Ok((5000, 2, String::new())) })
        .await
        .unwrap();
    assert_ne!(old.key, new.key);
    for index in 0..2 {
        let key = PageKey {
            file: old.key,
            index,
        };
        assert!(!c.dir_of(&key).has(&key), "old page {index} left");
    }
}

#[test]
fn pages_spread_over_directories_by_quota() {
    let t = tempfile::tempdir().unwrap();
    let cfg = LocalCacheConfig {
        dirs: vec![(t.path().join("a"), 3 << 20), (t.path().join("b"), 1 << 20)],
        metadata_ttl: None,
    };
    let c = LocalCache::open(&cfg, "ns", "test", 4096).unwrap().unwrap();
    let in_a = (0..4000u64)
        .filter(|i| {
            let key = PageKey { file: 1, index: *i };
            std::ptr::eq(c.dir_of(&key), &c.dirs()[0])
        })
        .count();
    assert!(
        (2800..3200).contains(&in_a),
        "{in_a} of 4000 in the 3/4 directory"
    );
}

#[test]
fn a_file_given_as_directory_is_an_error_naming_the_option() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("file");
    std::fs::write(&f, b"x").unwrap();
    let cfg = LocalCacheConfig {
        dirs: vec![(f, 1 << 20)],
        metadata_ttl: None,
    };
    let e = LocalCache::open(&cfg, "ns", "t", 4096)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("local_cache_dir"), "{e}");
}
