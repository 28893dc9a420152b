//! Distributed load jobs (docs/protocol.md §5.6): list a path in the under storage
//! and cache every page of every file on the worker that owns the file on the
//! ring — locally, or by asking the owner through its own page endpoint.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use parking_lot::Mutex;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{Error, Result};
use crate::protocol::identity::WorkerIdentity;
use crate::protocol::path_id::path_id;
use crate::worker::file_info::human_readable_size;
use crate::worker::state::Worker;
use crate::worker::ufs::UfsStatus;

/// Files loaded at once by one job.
const FILE_CONCURRENCY: usize = 4;
/// Pages of one file loaded at once.
const PAGE_CONCURRENCY: usize = 4;

/// Characters left as they are in a query value we send; `+ & # %` and the
/// rest are escaped so the receiving worker decodes the exact path.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b':');

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
        let elapsed = self.finished.lock().unwrap_or_else(Instant::now) - self.started;
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
    /// Starts a job for `path`, or returns the running one (`true` = already running).
    pub fn submit(&self, w: &Worker, path: &str) -> (Arc<Job>, bool) {
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
        let handle = tokio::spawn(run(w.clone(), job.clone()));
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

async fn run(w: Worker, job: Arc<Job>) {
    let files = match w.ufs().list_files_recursive(&job.path).await {
        Ok(f) => f,
        Err(e) => return job.finish(JobState::Failed(format!("{}: {e}", exception_name(&e)))),
    };
    job.files_total.store(files.len() as u64, Ordering::Relaxed);
    job.bytes_total
        .store(files.iter().map(|f| f.length).sum(), Ordering::Relaxed);
    let results = futures::stream::iter(files)
        .map(|f| {
            let (w, job) = (w.clone(), job.clone());
            async move {
                match load_file(&w, &f).await {
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

/// Caches every page of one file on its ring owner.
async fn load_file(w: &Worker, f: &UfsStatus) -> Result<()> {
    let ring = w.ring().await?;
    let owner = ring
        .get_multiple(&f.url, 1)
        .first()
        .map(|o| (*o).clone())
        .ok_or_else(|| Error::NoWorkers {
            source_desc: "the load job's ring".into(),
        })?;
    let id = path_id(&f.url);
    let pages = f.length.div_ceil(w.config().page_size);
    if owner.identity == w.me().identity {
        let meta = w.file_meta(&id, Some(&f.url)).await?;
        let loads = futures::stream::iter(0..pages).map(|i| {
            let (w, id, meta) = (w.clone(), id.clone(), meta.clone());
            async move { w.page(&id, &meta, i).await.map(|_| ()) }
        });
        return loads
            .buffer_unordered(PAGE_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect();
    }
    let base = format!("http://{}", owner.http_authority());
    let path = utf8_percent_encode(&f.url, QUERY_VALUE).to_string();
    let loads = futures::stream::iter(0..pages).map(|i| {
        // One byte back is enough: a page miss caches the whole page there.
        let url = format!("{base}/v1/file/{id}/page/{i}?offset=0&length=1&ufsFullPath={path}");
        let http = w.http().clone();
        async move {
            let resp = http
                .get(&url)
                .timeout(Duration::from_secs(300))
                .send()
                .await
                .map_err(|e| Error::Ufs {
                    path: url.clone(),
                    message: format!("asking the owner: {e}"),
                })?;
            if !resp.status().is_success() {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                return Err(Error::Ufs {
                    path: url,
                    message: format!("owner answered {status}: {body}"),
                });
            }
            Ok(())
        }
    });
    loads
        .buffer_unordered(PAGE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_split_like_java() {
        let p = report_properties("Progress for loading path 'x':\n\tJob State: FAILED (NotFoundException: gone)\n\tTime Elapsed: 00:00:03\n");
        assert_eq!(p["Job State"], "FAILED (NotFoundException");
        assert_eq!(p["Time Elapsed"], "00");
    }
}
