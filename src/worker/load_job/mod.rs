//! Distributed load jobs (docs/protocol.md §5.6): list a path in the under storage
//! and cache every page of every file on the worker that owns the file on the
//! ring.
//!
//! The jobs (one running per path, progress, stop, failures, the report)
//! depend only on a [`Loader`]: what lists the files and loads one of them.
//! The worker is one ([`owner`]); tests drive the jobs with in-memory fakes.

mod owner;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::protocol::identity::WorkerIdentity;
use crate::worker::file_info::human_readable_size;
use crate::worker::ufs::UfsStatus;

/// Files loaded at once by one job.
const FILE_CONCURRENCY: usize = 4;

/// What a load job asks of its worker.
pub trait Loader: Clone + Send + Sync + 'static {
    /// Every file under `path` in the under storage (a file: itself).
    fn list(&self, path: &str) -> impl Future<Output = Result<Vec<UfsStatus>>> + Send;
    /// Caches every page of `file` where it belongs.
    fn load_file(&self, file: &UfsStatus) -> impl Future<Output = Result<()>> + Send;
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Listing or loading.
    Running,
    /// Every file loaded.
    Succeeded,
    /// Listing failed or some file failed (reason, e.g. `NotFoundException: ...`).
    Failed(String),
    /// Stopped by request.
    Stopped,
}

/// One load job.
pub struct Job {
    /// Job id (UUID text).
    pub id: String,
    /// The path it loads.
    pub path: String,
    started: Instant,
    finished: Mutex<Option<Instant>>,
    state: Mutex<JobState>,
    files_total: AtomicU64,
    files_done: AtomicU64,
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
    failures: Mutex<Vec<(String, String)>>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Job {
    /// Current state.
    pub fn state(&self) -> JobState {
        self.state.lock().clone()
    }

    fn finish(&self, state: JobState) {
        let mut s = self.state.lock();
        if *s == JobState::Running {
            *s = state;
            *self.finished.lock() = Some(Instant::now());
        }
    }

    /// Alluxio's text report (`DoraLoadJob.getTextReport`), tab-indented `Key: value` lines.
    pub fn report(&self, verbose: bool) -> String {
        self.report_at(Instant::now(), verbose)
    }

    /// [`Self::report`] as of `now` (the elapsed time of a running job).
    pub fn report_at(&self, now: Instant, verbose: bool) -> String {
        let elapsed = self
            .finished
            .lock()
            .unwrap_or(now)
            .saturating_duration_since(self.started);
        let secs = elapsed.as_secs();
        let state = match self.state() {
            JobState::Running => "RUNNING".to_owned(),
            JobState::Succeeded => "SUCCEEDED".to_owned(),
            JobState::Stopped => "STOPPED".to_owned(),
            JobState::Failed(why) => format!("FAILED ({why})"),
        };
        let (files, done) = (
            self.files_total.load(Ordering::Relaxed),
            self.files_done.load(Ordering::Relaxed),
        );
        let (bytes, loaded) = (
            self.bytes_total.load(Ordering::Relaxed),
            self.bytes_done.load(Ordering::Relaxed),
        );
        let failures = self.failures.lock();
        let rate = |n: usize| {
            if files == 0 {
                0.0
            } else {
                n as f64 * 100.0 / files as f64
            }
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let throughput = (loaded as f64 / elapsed.as_secs_f64().max(1e-3)) as u64;
        let mut out = format!(
            "Progress for loading path '{}':\n\tSettings:\tbandwidth: unlimited\tverify: false\tmetadata-only: false\n\
             \tTime Elapsed: {:02}:{:02}:{:02}\n\tJob State: {state}\n\tInodes Scanned: {files}\n\
             \tInodes Processed: {}\n\tFiles Processed: {done}\n\tBytes Loaded: {} out of {}\n\tThroughput: {}/s\n\
             \tFile Failure rate: {:.2}%\n\tSubtask Failure rate: {:.2}%\n\tFiles Failed: {}\n",
            self.path,
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            done + failures.len() as u64,
            human_readable_size(loaded),
            human_readable_size(bytes),
            human_readable_size(throughput),
            rate(failures.len()),
            rate(failures.len()),
            failures.len(),
        );
        if verbose {
            for (path, why) in failures.iter() {
                out.push_str(&format!("\t\t{path} {why}\n"));
            }
        }
        out
    }
}

/// `respProperties`: every report line split on `:`, as the Java worker does.
pub fn report_properties(report: &str) -> BTreeMap<String, String> {
    report
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(':');
            let k = parts.next()?.trim();
            let v = parts.next()?.trim();
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The jobs a worker coordinates, one running job per path.
#[derive(Default)]
pub struct LoadJobs {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

fn new_job_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    WorkerIdentity::random_v4(b).to_string()
}

impl LoadJobs {
    /// Starts a job for `path` on the current tokio runtime, or returns the
    /// running one (`true` = already running).
    pub fn submit<L: Loader>(&self, loader: L, path: &str) -> (Arc<Job>, bool) {
        let mut jobs = self.jobs.lock();
        if let Some(j) = jobs.get(path).filter(|j| j.state() == JobState::Running) {
            return (j.clone(), true);
        }
        let job = Arc::new(Job {
            id: new_job_id(),
            path: path.to_owned(),
            started: Instant::now(),
            finished: Mutex::new(None),
            state: Mutex::new(JobState::Running),
            files_total: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
            task: Mutex::new(None),
        });
        let handle = tokio::spawn(run(loader, job.clone()));
        *job.task.lock() = Some(handle.abort_handle());
        jobs.insert(path.to_owned(), job.clone());
        (job, false)
    }

    /// The latest job for `path`.
    pub fn get(&self, path: &str) -> Option<Arc<Job>> {
        self.jobs.lock().get(path).cloned()
    }

    /// Stops the running job for `path`; false if none is running.
    pub fn stop(&self, path: &str) -> bool {
        let Some(job) = self.get(path).filter(|j| j.state() == JobState::Running) else {
            return false;
        };
        if let Some(t) = job.task.lock().take() {
            t.abort();
        }
        job.finish(JobState::Stopped);
        true
    }
}

fn exception_name(e: &Error) -> &'static str {
    match e {
        Error::NotFound(_) => "NotFoundException",
        Error::PermissionDenied(_) => "PermissionDeniedException",
        Error::InvalidArgument(_) | Error::InvalidConfig(_) => "InvalidArgumentException",
        _ => "IOException",
    }
}

async fn run<L: Loader>(loader: L, job: Arc<Job>) {
    let files = match loader.list(&job.path).await {
        Ok(f) => f,
        Err(e) => return job.finish(JobState::Failed(format!("{}: {e}", exception_name(&e)))),
    };
    job.files_total.store(files.len() as u64, Ordering::Relaxed);
    job.bytes_total
        .store(files.iter().map(|f| f.length).sum(), Ordering::Relaxed);
    let results = futures::stream::iter(files)
        .map(|f| {
            let (loader, job) = (loader.clone(), job.clone());
            async move {
                match loader.load_file(&f).await {
                    Ok(()) => {
                        job.files_done.fetch_add(1, Ordering::Relaxed);
                        job.bytes_done.fetch_add(f.length, Ordering::Relaxed);
                    }
                    Err(e) => {
                        log::warn!("alluxiofs worker: load of {} failed: {e}", f.url);
                        job.failures.lock().push((f.url.clone(), e.to_string()));
                    }
                }
            }
        })
        .buffer_unordered(FILE_CONCURRENCY);
    results.collect::<()>().await;
    let failed = job.failures.lock().len();
    job.finish(if failed == 0 {
        JobState::Succeeded
    } else {
        JobState::Failed(format!(
            "LoadFailureException: {failed} of {} files failed",
            job.files_total.load(Ordering::Relaxed)
        ))
    });
}
