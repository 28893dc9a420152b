use std::sync::Arc;

use super::*;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

fn read_all(d: &Dir, key: &PageKey, len: usize) -> (Found, Vec<u8>) {
    let mut out = Vec::with_capacity(len);
    let f = d.read(key, len, 0, &mut out.spare_capacity_mut()[..len]);
    if f == Found::Hit {
        // SAFETY: a hit filled it.
        unsafe { out.set_len(len) };
    }
    (f, out)
}

fn key(file: u128, index: u64) -> PageKey {
    PageKey { file, index }
}

#[test]
fn a_published_page_reads_back_and_a_second_publish_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = Dir::open(t.path().join("ns"), 1 << 20, "test").unwrap();
    let k = key(1, 0);
    assert_eq!(read_all(&d, &k, 1000).0, Found::Miss);
    assert!(d.publish(&k, &data(1000, 1), false).unwrap());
    assert_eq!(read_all(&d, &k, 1000), (Found::Hit, data(1000, 1)));
    assert!(
        !d.publish(&k, &data(1000, 1), false).unwrap(),
        "already there"
    );
    assert_eq!(d.ledger().used(), cost(1000));
    assert_eq!(
        d.usage().unwrap().bytes,
        cost(1000),
        "the second reservation was given back"
    );
    // Another page length under the same key is another file's page: wrong.
    assert_eq!(read_all(&d, &k, 999).0, Found::Corrupt("length"));
    assert_eq!(
        read_all(&d, &k, 1000).0,
        Found::Miss,
        "the bad page was removed"
    );
}

#[test]
fn the_quota_holds_and_eviction_takes_probation_first_newest_first() {
    let t = tempfile::tempdir().unwrap();
    let len = 10_000;
    let quota = cost(len) * 10;
    let d = Dir::open(t.path().join("ns"), quota, "test").unwrap();
    for i in 0..10 {
        assert!(d.publish(&key(1, i), &data(len, 0), false).unwrap());
        // Distinct mirrored dates (one-second resolution is not assumed).
        let p = d.page_path(&key(1, i));
        let f = File::open(&p).unwrap();
        f.set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000 - i))
            .unwrap();
    }
    // Page 3 is read again: dated now, no longer on probation.
    let f = File::open(d.page_path(&key(1, 3))).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        .unwrap();
    assert_eq!(d.usage().unwrap().bytes, quota);
    assert!(d.publish(&key(2, 0), &data(len, 0), false).unwrap());
    let u = d.usage().unwrap();
    assert!(u.bytes <= quota - quota / 50, "{u:?}");
    // The newest pages on probation (highest index: earliest mirrored date) went.
    assert!(!d.has(&key(1, 9)) && !d.has(&key(1, 8)));
    assert!(d.has(&key(1, 0)) && d.has(&key(1, 3)) && d.has(&key(2, 0)));
}

#[test]
fn many_writers_never_pass_the_quota() {
    let t = tempfile::tempdir().unwrap();
    let len = 4096 * 3;
    let quota = cost(len) * 16;
    let root = t.path().join("ns");
    let dirs: Vec<Arc<Dir>> = (0..6)
        .map(|_| Arc::new(Dir::open(root.clone(), quota, "test").unwrap()))
        .collect();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    std::thread::scope(|s| {
        for (w, d) in dirs.iter().enumerate() {
            let peak = Arc::clone(&peak);
            s.spawn(move || {
                for i in 0..60u64 {
                    let _ = d.publish(&key(w as u128 + 10, i), &data(len, w as u8), false);
                    // Measured under the ledger lock: no eviction or
                    // reservation runs meanwhile (a walk without it counts
                    // pages evicted during the walk and their successors).
                    let g = lock::byte(&d.lock_path, LEDGER_BYTE).unwrap();
                    let on_disk: u64 = walk_cost(d.root());
                    assert!(d.ledger().used() <= quota);
                    drop(g);
                    peak.fetch_max(on_disk, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(peak <= quota, "peak {peak} > quota {quota}");
    let u = dirs[0].usage().unwrap();
    assert_eq!(dirs[0].ledger().used(), u.bytes);
}

/// Bytes of pages and temporary files on disk, as `du` would count them.
fn walk_cost(root: &Path) -> u64 {
    let mut n = 0;
    for sub in ["pages", "tmp"] {
        let mut stack = vec![root.join(sub)];
        while let Some(p) = stack.pop() {
            let Ok(rd) = fs::read_dir(&p) else { continue };
            for e in rd.flatten() {
                let Ok(m) = e.metadata() else { continue };
                if m.is_dir() {
                    stack.push(e.path());
                } else {
                    n += m.len().div_ceil(4096) * 4096;
                }
            }
        }
    }
    n
}

#[test]
fn a_dead_writers_reservation_is_recovered() {
    let t = tempfile::tempdir().unwrap();
    let len = 10_000;
    let quota = cost(len) * 4;
    let d = Dir::open(t.path().join("ns"), quota, "test").unwrap();
    // A writer reserved 3 pages, created its temporary file and died.
    d.reserve(cost(len) * 3, Path::new("/none")).unwrap();
    let tmp = d.root().join("tmp").join(format!("1-00-{}", cost(len) * 3));
    fs::write(&tmp, b"partial").unwrap();
    // Young unlocked files may be between creation and lock: only an old
    // one is a dead writer's.
    File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(SystemTime::now() - TMP_GRACE * 2)
        .unwrap();
    assert!(d.publish(&key(1, 0), &data(len, 0), false).unwrap());
    // The next publish finds no room, recounts, and the dead reservation goes.
    assert!(d.publish(&key(1, 1), &data(len, 0), false).unwrap());
    assert!(!tmp.exists());
    assert_eq!(d.ledger().used(), cost(len) * 2);
}

#[test]
fn clear_removes_pages_and_counts() {
    let t = tempfile::tempdir().unwrap();
    let d = Dir::open(t.path().join("ns"), 1 << 20, "test").unwrap();
    for i in 0..3 {
        d.publish(&key(5, i), &data(100, 0), false).unwrap();
    }
    d.ledger().count(true);
    let removed = d.clear().unwrap();
    assert_eq!(removed.pages, 3);
    assert_eq!(d.usage().unwrap(), Usage::default());
    assert_eq!(d.ledger().hits_misses(), (0, 0));
}

#[test]
fn a_page_written_by_anyone_else_is_verified_again() {
    let t = tempfile::tempdir().unwrap();
    let d = Dir::open(t.path().join("ns"), 1 << 20, "test").unwrap();
    let k = key(3, 0);
    let len = 3 * page_file::BLOCK;
    assert!(d.publish(&k, &data(len, 4), false).unwrap());
    let path = d.page_path(&k);
    let m = fs::metadata(&path).unwrap();
    assert!(
        stamped(&m, stamp_tag(&k)),
        "stamped when written: {} {} {} {}",
        m.mtime_nsec(),
        stamp_tag(&k),
        m.ctime(),
        boot_time()
    );
    assert_eq!(read_all(&d, &k, len), (Found::Hit, data(len, 4)));
    // A byte flipped in place (its time changes with it): caught.
    let f = File::options().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, &[0xFF ^ data(len, 4)[70_000]], 70_000).unwrap();
    drop(f);
    assert!(!stamped(&fs::metadata(&path).unwrap(), stamp_tag(&k)));
    assert_eq!(read_all(&d, &k, len).0, Found::Corrupt("checksum"));
    assert!(!path.exists());
    // A good page whose stamp was lost is verified, then stamped again.
    assert!(d.publish(&k, &data(len, 4), false).unwrap());
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(1_500_000_000))
        .unwrap();
    assert_eq!(read_all(&d, &k, len), (Found::Hit, data(len, 4)));
    assert!(stamped(&fs::metadata(&path).unwrap(), stamp_tag(&k)));
}
