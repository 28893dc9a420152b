//! Load jobs driven by an in-memory [`Loader`]: no worker, no under storage.

use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::*;

/// Listing and loading from memory. A gated fake's loads wait for a permit
/// each, so a test decides when each file finishes.
#[derive(Clone, Default)]
struct Fake {
    inner: Arc<FakeInner>,
}

#[derive(Default)]
struct FakeInner {
    files: Vec<UfsStatus>,
    list_error: Option<Error>,
    failing: HashSet<String>,
    gate: Option<Semaphore>,
    lists: AtomicUsize,
    started: AtomicUsize,
    /// Loads dropped before they finished (aborted).
    dropped: AtomicUsize,
    loaded: Mutex<Vec<String>>,
}

fn file(url: &str, length: u64) -> UfsStatus {
    UfsStatus {
        url: url.into(),
        name: url.rsplit('/').next().unwrap_or(url).into(),
        is_dir: false,
        length,
        mtime_ms: 0,
        ctime_ms: 0,
        content_hash: String::new(),
    }
}

impl Fake {
    fn new(files: &[(&str, u64)], failing: &[&str], gated: bool) -> Self {
        Self {
            inner: Arc::new(FakeInner {
                files: files.iter().map(|&(u, n)| file(u, n)).collect(),
                failing: failing.iter().map(|&u| u.to_owned()).collect(),
                gate: gated.then(|| Semaphore::new(0)),
                ..FakeInner::default()
            }),
        }
    }

    fn listing_fails(error: Error) -> Self {
        Self {
            inner: Arc::new(FakeInner {
                list_error: Some(error),
                ..FakeInner::default()
            }),
        }
    }

    /// Lets `n` more gated loads finish.
    fn release(&self, n: usize) {
        self.inner
            .gate
            .as_ref()
            .expect("a gated fake")
            .add_permits(n);
    }

    fn count(&self, c: impl Fn(&FakeInner) -> &AtomicUsize) -> usize {
        c(&self.inner).load(Ordering::SeqCst)
    }
}

/// Counts a load that is dropped before it finished.
struct Unfinished<'a>(Option<&'a AtomicUsize>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Loader for Fake {
    fn list(&self, _path: &str) -> impl Future<Output = Result<Vec<UfsStatus>>> + Send {
        self.inner.lists.fetch_add(1, Ordering::SeqCst);
        let out = match &self.inner.list_error {
            Some(e) => Err(e.clone()),
            None => Ok(self.inner.files.clone()),
        };
        std::future::ready(out)
    }

    fn load_file(&self, file: &UfsStatus) -> impl Future<Output = Result<()>> + Send {
        let inner = self.inner.clone();
        let url = file.url.clone();
        async move {
            inner.started.fetch_add(1, Ordering::SeqCst);
            let mut guard = Unfinished(Some(&inner.dropped));
            if let Some(gate) = &inner.gate {
                gate.acquire().await.expect("gate open").forget();
            }
            guard.0 = None;
            if inner.failing.contains(&url) {
                return Err(Error::Ufs {
                    path: url,
                    message: "disk on fire".into(),
                });
            }
            inner.loaded.lock().push(url);
            Ok(())
        }
    }
}

/// Lets the job's task run until `cond` holds (a bounded number of turns:
/// no clock involved).
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

async fn finished(job: &Job) {
    until("the job finished", || job.state() != JobState::Running).await;
}

fn props(job: &Job) -> BTreeMap<String, String> {
    report_properties(&job.report(false))
}

#[tokio::test]
async fn a_job_loads_every_file_and_counts_bytes() {
    let fake = Fake::new(
        &[("s3://b/d/x", 10), ("s3://b/d/y", 20), ("s3://b/d/z", 30)],
        &[],
        false,
    );
    let jobs = LoadJobs::default();
    let (job, running) = jobs.submit(fake.clone(), "s3://b/d");
    assert!(!running);
    assert_eq!(job.path, "s3://b/d");
    finished(&job).await;
    assert_eq!(job.state(), JobState::Succeeded);
    let mut loaded = fake.inner.loaded.lock().clone();
    loaded.sort();
    assert_eq!(loaded, ["s3://b/d/x", "s3://b/d/y", "s3://b/d/z"]);
    let p = props(&job);
    assert_eq!(p["Job State"], "SUCCEEDED");
    assert_eq!(p["Inodes Scanned"], "3");
    assert_eq!(p["Files Processed"], "3");
    assert_eq!(p["Bytes Loaded"], "60B out of 60B");
    assert_eq!(p["Files Failed"], "0");
    assert!(Arc::ptr_eq(&jobs.get("s3://b/d").unwrap(), &job));
    assert!(!jobs.stop("s3://b/d"), "a finished job cannot be stopped");
}

#[tokio::test]
async fn a_running_path_is_not_submitted_twice() {
    let fake = Fake::new(&[("s3://b/d/x", 1)], &[], true);
    let jobs = LoadJobs::default();
    let (a, _) = jobs.submit(fake.clone(), "s3://b/d");
    let (b, running) = jobs.submit(fake.clone(), "s3://b/d");
    assert!(running);
    assert_eq!(a.id, b.id);
    let (c, running) = jobs.submit(fake.clone(), "s3://b/e");
    assert!(!running, "another path is another job");
    assert_ne!(c.id, a.id);
    until("both listed", || fake.count(|i| &i.lists) == 2).await;
    fake.release(2);
    finished(&a).await;
    finished(&c).await;
    let (d, running) = jobs.submit(fake.clone(), "s3://b/d");
    assert!(!running, "a finished job is replaced");
    assert_ne!(d.id, a.id);
    fake.release(1);
    finished(&d).await;
    assert_eq!(d.state(), JobState::Succeeded);
}

#[tokio::test]
async fn progress_counts_files_as_they_finish() {
    let files = [("s3://b/a", 100), ("s3://b/b", 200), ("s3://b/c", 300)];
    let fake = Fake::new(&files, &[], true);
    let jobs = LoadJobs::default();
    let (job, _) = jobs.submit(fake.clone(), "s3://b");
    until("every load started", || fake.count(|i| &i.started) == 3).await;
    let p = props(&job);
    assert_eq!(p["Job State"], "RUNNING");
    assert_eq!(
        (p["Inodes Scanned"].as_str(), p["Files Processed"].as_str()),
        ("3", "0")
    );
    assert_eq!(p["Bytes Loaded"], "0B out of 600B");
    fake.release(1);
    until("one file done", || props(&job)["Files Processed"] == "1").await;
    let p = props(&job);
    assert_eq!(p["Job State"], "RUNNING");
    let one = ["100B out of 600B", "200B out of 600B", "300B out of 600B"];
    assert!(one.contains(&p["Bytes Loaded"].as_str()), "{p:?}");
    fake.release(2);
    finished(&job).await;
    assert_eq!(props(&job)["Bytes Loaded"], "600B out of 600B");
}

#[tokio::test]
async fn failed_files_are_counted_and_fail_the_job() {
    let files = [
        ("s3://b/a", 1),
        ("s3://b/b", 2),
        ("s3://b/c", 3),
        ("s3://b/d", 4),
    ];
    let fake = Fake::new(&files, &["s3://b/b", "s3://b/d"], false);
    let jobs = LoadJobs::default();
    let (job, _) = jobs.submit(fake, "s3://b");
    finished(&job).await;
    assert_eq!(
        job.state(),
        JobState::Failed("LoadFailureException: 2 of 4 files failed".into())
    );
    let p = props(&job);
    assert_eq!(p["Job State"], "FAILED (LoadFailureException");
    assert_eq!(p["Files Processed"], "2");
    assert_eq!(p["Inodes Processed"], "4");
    assert_eq!(p["Files Failed"], "2");
    assert_eq!(p["File Failure rate"], "50.00%");
    assert_eq!(p["Bytes Loaded"], "4B out of 10B");
    let quiet = job.report(false);
    assert!(!quiet.contains("disk on fire"), "{quiet}");
    let verbose = job.report(true);
    for failed in ["s3://b/b", "s3://b/d"] {
        assert!(
            verbose.contains(&format!("\t\t{failed} ")) && verbose.contains("disk on fire"),
            "{verbose}"
        );
    }
    assert!(!verbose.contains("\t\ts3://b/a "), "{verbose}");
}

#[tokio::test]
async fn a_listing_failure_fails_the_job_with_its_exception() {
    let fake = Fake::listing_fails(Error::NotFound("s3://b/gone".into()));
    let jobs = LoadJobs::default();
    let (job, _) = jobs.submit(fake.clone(), "s3://b/gone");
    finished(&job).await;
    match job.state() {
        JobState::Failed(why) => {
            assert!(why.starts_with("NotFoundException: "), "{why}");
            assert!(why.contains("s3://b/gone"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.count(|i| &i.started), 0);
    assert_eq!(props(&job)["Inodes Scanned"], "0");
    let denied = Fake::listing_fails(Error::PermissionDenied("no".into()));
    let (job, _) = jobs.submit(denied, "s3://b/secret");
    finished(&job).await;
    assert!(
        matches!(job.state(), JobState::Failed(w) if w.starts_with("PermissionDeniedException: "))
    );
}

#[tokio::test]
async fn stop_aborts_the_running_loads() {
    let files: Vec<(String, u64)> = (0..10).map(|i| (format!("s3://b/{i}"), 1)).collect();
    let files: Vec<(&str, u64)> = files.iter().map(|(u, n)| (u.as_str(), *n)).collect();
    let fake = Fake::new(&files, &[], true);
    let jobs = LoadJobs::default();
    let (job, _) = jobs.submit(fake.clone(), "s3://b");
    until("the first loads started", || {
        fake.count(|i| &i.started) == FILE_CONCURRENCY
    })
    .await;
    fake.release(1);
    until("one file done", || props(&job)["Files Processed"] == "1").await;
    until("the next load started", || {
        fake.count(|i| &i.started) == FILE_CONCURRENCY + 1
    })
    .await;
    assert!(jobs.stop("s3://b"));
    assert_eq!(job.state(), JobState::Stopped);
    assert_eq!(props(&job)["Job State"], "STOPPED");
    let started = fake.count(|i| &i.started);
    assert_eq!(
        started,
        FILE_CONCURRENCY + 1,
        "one more began after the first finished"
    );
    until("the loads in flight were dropped", || {
        fake.count(|i| &i.dropped) == started - 1
    })
    .await;
    // Nothing runs on: permits given now are never taken.
    fake.release(20);
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.inner.loaded.lock().len(), 1);
    assert_eq!(job.state(), JobState::Stopped);
    assert!(!jobs.stop("s3://b"), "nothing running any more");
    assert!(!jobs.stop("s3://other"), "never submitted");
}

#[tokio::test]
async fn the_report_times_a_running_job_until_now_and_a_finished_one_until_its_end() {
    let fake = Fake::new(&[("s3://b/a", 1)], &[], true);
    let jobs = LoadJobs::default();
    let (job, _) = jobs.submit(fake.clone(), "s3://b");
    let elapsed = |now| report_properties(&job.report_at(now, false))["Time Elapsed"].clone();
    let later = job.started + Duration::from_secs(3725);
    // `Key: value` splits on every ':' as Java does; the full line says it.
    assert!(job
        .report_at(later, false)
        .contains("\tTime Elapsed: 01:02:05\n"));
    assert_eq!(elapsed(later), "01");
    fake.release(1);
    finished(&job).await;
    let end = job.finished.lock().expect("an end time");
    let line = |now| {
        let r = job.report_at(now, false);
        r.lines()
            .find(|l| l.contains("Time Elapsed"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        line(end + Duration::from_secs(7200)),
        line(end),
        "stopped at the end"
    );
}

#[test]
fn properties_split_like_java() {
    let p = report_properties("Progress for loading path 'x':\n\tJob State: FAILED (NotFoundException: gone)\n\tTime Elapsed: 00:00:03\n");
    assert_eq!(p["Job State"], "FAILED (NotFoundException");
    assert_eq!(p["Time Elapsed"], "00");
}
