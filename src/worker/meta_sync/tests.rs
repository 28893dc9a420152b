//! File status decisions against an in-memory [`StatusSource`] and a clock
//! the tests move.

use super::*;

fn st(length: u64, mtime_ms: i64, hash: &str) -> UfsStatus {
    UfsStatus {
        url: "s3://b/d/k".into(),
        name: "k".into(),
        is_dir: false,
        length,
        mtime_ms,
        ctime_ms: 0,
        content_hash: hash.into(),
    }
}

fn meta(length: u64, mtime_ms: i64, hash: &str) -> FileMeta {
    FileMeta {
        ufs_path: "s3://b/d/k".into(),
        length,
        mtime_ms,
        content_hash: hash.into(),
        ctime_ms: 0,
    }
}

#[test]
fn a_record_matches_only_the_same_version() {
    assert!(matches(&meta(5, 7, "e1"), &st(5, 7, "e1")));
    assert!(
        matches(&meta(5, 7, ""), &st(5, 7, "e1")),
        "old record, no hash"
    );
    assert!(!matches(&meta(5, 7, "e1"), &st(6, 7, "e1")));
    assert!(!matches(&meta(5, 7, "e1"), &st(5, 8, "e1")));
    assert!(!matches(&meta(5, 7, "e1"), &st(5, 7, "e2")));
    let mut dir = st(0, 0, "");
    dir.is_dir = true;
    assert!(!matches(&meta(0, 0, ""), &dir));
}

#[test]
fn a_status_from_a_record_names_the_cleaned_url() {
    let s = status_of(meta(5, 7, "e1"), "s3://b/d/k".into());
    assert_eq!((s.name.as_str(), s.length, s.mtime_ms), ("k", 5, 7));
    assert_eq!((s.is_dir, s.content_hash.as_str()), (false, "e1"));
}

/// Records and an under storage in memory, noting what was asked.
#[derive(Default)]
struct Fake {
    records: Mutex<HashMap<String, FileMeta>>,
    ufs: Mutex<HashMap<String, UfsStatus>>,
    asked: Mutex<Vec<String>>,
    invalidated: Mutex<Vec<String>>,
}

const URL: &str = "s3://b/d/k";

impl Fake {
    /// A file cached at version (5, 7, "e1") and the same in the storage.
    fn cached() -> Self {
        let f = Self::default();
        f.records.lock().insert(path_id(URL), meta(5, 7, "e1"));
        f.ufs.lock().insert(URL.into(), st(5, 7, "e1"));
        f
    }

    fn asked(&self) -> usize {
        self.asked.lock().len()
    }
}

impl StatusSource for Fake {
    fn record(&self, id: &str) -> Option<FileMeta> {
        self.records.lock().get(id).cloned()
    }

    fn cleaned(&self, url: &str) -> Result<String> {
        if url.starts_with("s3://b/") {
            Ok(url.replace("//k", "/k"))
        } else {
            Err(crate::error::Error::PermissionDenied(url.into()))
        }
    }

    fn stat(&self, url: &str) -> impl Future<Output = Result<UfsStatus>> + Send {
        self.asked.lock().push(url.to_owned());
        let st = self.ufs.lock().get(url).cloned();
        std::future::ready(st.ok_or_else(|| crate::error::Error::NotFound(url.into())))
    }

    fn invalidate(&self, url: &str) {
        self.invalidated.lock().push(url.to_owned());
        self.records.lock().remove(&path_id(url));
    }
}

/// A sync on a clock the test moves, and a way to move it.
fn sync() -> (MetaSync, impl Fn(u64)) {
    let t0 = Instant::now();
    let now = Arc::new(Mutex::new(t0));
    let clock = now.clone();
    let sync = MetaSync::with_clock(move || *clock.lock());
    (sync, move |secs| {
        *now.lock() = t0 + Duration::from_secs(secs)
    })
}

const MINUTE: Option<Duration> = Some(Duration::from_secs(60));

#[tokio::test]
async fn a_fresh_record_answers_and_a_stale_one_asks_again() {
    let (sync, at) = sync();
    let src = Fake::cached();
    sync.checked(&path_id(URL));
    at(59);
    let s = sync.file_status(&src, URL, MINUTE).await.unwrap();
    assert_eq!(
        (s.length, s.mtime_ms, s.content_hash.as_str()),
        (5, 7, "e1")
    );
    assert_eq!(src.asked(), 0, "fresh: the record answers");
    at(60);
    sync.file_status(&src, URL, MINUTE).await.unwrap();
    assert_eq!(src.asked(), 1, "stale: the storage is asked");
    // Unchanged: checked again now, fresh for another interval.
    at(119);
    sync.file_status(&src, URL, MINUTE).await.unwrap();
    assert_eq!(src.asked(), 1);
    at(120);
    sync.file_status(&src, URL, MINUTE).await.unwrap();
    assert_eq!(src.asked(), 2);
    assert!(src.invalidated.lock().is_empty());
}

#[tokio::test]
async fn a_change_is_seen_once_stale_and_drops_the_cached_file() {
    let (sync, at) = sync();
    let src = Fake::cached();
    sync.checked(&path_id(URL));
    src.ufs.lock().insert(URL.into(), st(9, 8, "e2"));
    at(30);
    let s = sync.file_status(&src, URL, MINUTE).await.unwrap();
    assert_eq!(
        s.length, 5,
        "within the interval the cache's view is served"
    );
    assert_eq!(src.asked(), 0);
    at(61);
    let s = sync.file_status(&src, URL, MINUTE).await.unwrap();
    assert_eq!(
        (s.length, s.mtime_ms, s.content_hash.as_str()),
        (9, 8, "e2")
    );
    assert_eq!(*src.invalidated.lock(), [URL]);
    assert!(src.records.lock().is_empty());
    assert!(!sync.is_fresh(&path_id(URL), None), "forgotten");
    // No record now: every status asks, until a read records the file again.
    at(62);
    sync.file_status(&src, URL, MINUTE).await.unwrap();
    assert_eq!(src.asked(), 2);
    assert_eq!(src.invalidated.lock().len(), 1);
}

#[tokio::test]
async fn each_kind_of_change_drops_the_cached_file() {
    let changes = [st(6, 7, "e1"), st(5, 8, "e1"), st(5, 7, "e2"), {
        let mut d = st(0, 7, "");
        d.is_dir = true;
        d
    }];
    for changed in changes {
        let (sync, _) = sync();
        let src = Fake::cached();
        src.ufs.lock().insert(URL.into(), changed.clone());
        let s = sync.file_status(&src, URL, MINUTE).await.unwrap();
        assert_eq!(s, changed);
        assert_eq!(src.invalidated.lock().len(), 1, "{changed:?}");
    }
}

#[tokio::test]
async fn without_an_interval_one_check_is_enough_and_zero_always_asks() {
    let (sync, at) = sync();
    let src = Fake::cached();
    sync.file_status(&src, URL, None).await.unwrap();
    assert_eq!(src.asked(), 1, "never checked since the start: asked once");
    at(365 * 24 * 3600);
    sync.file_status(&src, URL, None).await.unwrap();
    assert_eq!(src.asked(), 1);
    for _ in 0..3 {
        sync.file_status(&src, URL, Some(Duration::ZERO))
            .await
            .unwrap();
    }
    assert_eq!(src.asked(), 4);
}

#[tokio::test]
async fn files_without_a_record_are_always_asked_and_never_dropped() {
    let (sync, _) = sync();
    let src = Fake::default();
    src.ufs.lock().insert(URL.into(), st(5, 7, "e1"));
    for _ in 0..3 {
        sync.file_status(&src, URL, None).await.unwrap();
    }
    assert_eq!(src.asked(), 3);
    // A record under this id made for another spelling of the URL is not
    // this one's (`meta` names URL).
    let other = "s3://b/d//k";
    src.records.lock().insert(path_id(other), meta(1, 1, "x"));
    src.ufs.lock().insert(other.into(), st(5, 7, "e1"));
    sync.checked(&path_id(other));
    sync.file_status(&src, other, None).await.unwrap();
    assert_eq!(src.asked(), 4);
    assert!(src.invalidated.lock().is_empty());
}

#[tokio::test]
async fn storage_errors_pass_through_and_keep_the_record() {
    let (sync, at) = sync();
    let src = Fake::cached();
    sync.checked(&path_id(URL));
    src.ufs.lock().clear();
    at(61);
    let err = sync.file_status(&src, URL, MINUTE).await.unwrap_err();
    assert!(matches!(err, crate::error::Error::NotFound(_)), "{err:?}");
    assert!(src.invalidated.lock().is_empty());
    assert_eq!(src.records.lock().len(), 1);
    // Still stale: the next status asks again.
    sync.file_status(&src, URL, MINUTE).await.unwrap_err();
    assert_eq!(src.asked(), 2);
}

#[tokio::test]
async fn a_fresh_record_still_answers_with_the_cleaned_url_inside_the_roots() {
    let (sync, _) = sync();
    let src = Fake::cached();
    let spelled = "s3://b/d//k";
    src.records
        .lock()
        .insert(path_id(spelled), meta(5, 7, "e1"));
    src.records
        .lock()
        .get_mut(&path_id(spelled))
        .unwrap()
        .ufs_path = spelled.into();
    sync.checked(&path_id(spelled));
    let s = sync.file_status(&src, spelled, None).await.unwrap();
    assert_eq!((s.url.as_str(), s.name.as_str()), (URL, "k"));
    assert_eq!(src.asked(), 0);
    let outside = "s3://other/k";
    src.records.lock().insert(path_id(outside), {
        let mut m = meta(5, 7, "e1");
        m.ufs_path = outside.into();
        m
    });
    sync.checked(&path_id(outside));
    let err = sync.file_status(&src, outside, None).await.unwrap_err();
    assert!(matches!(err, crate::error::Error::PermissionDenied(_)));
    assert_eq!(src.asked(), 0);
}

#[test]
fn freshness_follows_the_interval() {
    let m = MetaSync::default();
    assert!(!m.is_fresh("f", None), "never checked");
    m.checked("f");
    assert!(m.is_fresh("f", None));
    assert!(m.is_fresh("f", Some(Duration::from_secs(60))));
    assert!(!m.is_fresh("f", Some(Duration::ZERO)), "0: always ask");
    m.forget("f");
    assert!(!m.is_fresh("f", None));
}
