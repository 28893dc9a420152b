//! Writes, namespace operations (docs/protocol.md §5.11–5.14) and load jobs (§5.6),
//! each sent to the ring owner of the (source) path.

use bytes::Bytes;

use super::http::{form_encode, template_encode};
use super::ClientCore;
use crate::error::{Error, Result, TransportKind};
use crate::protocol::path_id::path_id;

/// A load endpoint answer, passed through as JSON.
pub type LoadResponse = serde_json::Value;

/// The path and query of a whole-file write of `path` (`POST /v1/chunk`).
pub(super) fn chunk_query(path: &str) -> String {
    format!(
        "/v1/chunk/{}?ufsFullPath={}&chunkSize=1048576",
        path_id(path),
        template_encode(path)
    )
}

impl ClientCore {
    async fn post(
        &self,
        key: &str,
        idempotent: bool,
        path_and_query: String,
        body: Option<Bytes>,
    ) -> Result<()> {
        self.with_failover(key, idempotent, |w| {
            let (q, body) = (path_and_query.clone(), body.clone());
            async move {
                self.http
                    .send(&w, reqwest::Method::POST, &q, body)
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// Creates or replaces the file `path` with `data` (`POST /v1/chunk`), in
    /// one request; see [`ClientCore::start_upload`] for a file made piece
    /// by piece.
    pub async fn write(&self, path: &str, data: Bytes) -> Result<()> {
        // A whole-file overwrite is idempotent: safe to resend.
        let done = self.post(path, true, chunk_query(path), Some(data)).await;
        self.changed(path);
        done
    }

    /// Creates a directory and its parents.
    pub async fn mkdir(&self, path: &str) -> Result<()> {
        let q = format!(
            "/v1/mkdir/{}?ufsFullPath={}",
            path_id(path),
            template_encode(path)
        );
        self.post(path, true, q, None).await
    }

    /// Creates an empty file if none exists.
    pub async fn touch(&self, path: &str) -> Result<()> {
        let q = format!(
            "/v1/touch/{}?ufsFullPath={}",
            path_id(path),
            template_encode(path)
        );
        self.post(path, true, q, None).await
    }

    /// Removes a file or (with `recursive`) a directory tree.
    pub async fn remove(&self, path: &str, recursive: bool) -> Result<()> {
        let r = if recursive { "True" } else { "False" };
        let q = format!(
            "/v1/rm/{}?ufsFullPath={}&recursive={r}&recursiveAlias={r}&sync_parent_next_time=False\
             &remove_unchecked_option=False&remove_alluxio_only=False&delete_mount_point=False",
            path_id(path),
            template_encode(path)
        );
        let done = self.post(path, false, q, None).await;
        self.changed(path);
        done
    }

    /// Renames `src` to `dst`.
    pub async fn rename(&self, src: &str, dst: &str) -> Result<()> {
        let q = format!(
            "/v1/mv/{}?srcPath={}&dstPath={}",
            path_id(src),
            template_encode(src),
            template_encode(dst)
        );
        let done = self.post(src, false, q, None).await;
        self.changed(src);
        self.changed(dst);
        done
    }

    /// Copies `src` to `dst`.
    pub async fn copy(&self, src: &str, dst: &str, recursive: bool) -> Result<()> {
        let r = if recursive { "True" } else { "False" };
        let q = format!(
            "/v1/copy/{}?srcPath={}&dstPath={}&recursive={r}&recursiveAlias={r}&forced=False",
            path_id(src),
            template_encode(src),
            template_encode(dst)
        );
        let done = self.post(src, true, q, None).await;
        self.changed(dst);
        done
    }

    /// Drops the cached pages of the file or tree `path` from every worker,
    /// leaving the under storage alone (`POST /v1/rm` with
    /// `remove_alluxio_only=True`, docs/protocol.md §5.14). Every worker is
    /// asked, not only the owner: pages read during a failover sit on
    /// another worker, and each worker drops those of every file under a
    /// directory it holds. Returns how many workers were asked; the first
    /// error, after all were asked.
    pub async fn free(&self, path: &str) -> Result<usize> {
        let q = format!(
            "/v1/rm/{}?ufsFullPath={}&recursive=True&recursiveAlias=True&sync_parent_next_time=False\
             &remove_unchecked_option=False&remove_alluxio_only=True&delete_mount_point=False",
            path_id(path),
            template_encode(path)
        );
        let ring = self.membership().ring().await?;
        let workers = ring.workers();
        let asked = workers.iter().map(|w| {
            let q = q.clone();
            async move {
                let _permit = self.limit.acquire().await.expect("semaphore never closed");
                self.http.send(w, reqwest::Method::POST, &q, None).await
            }
        });
        let answers = futures::future::join_all(asked).await;
        self.changed(path);
        answers
            .into_iter()
            .find_map(std::result::Result::err)
            .map_or(Ok(workers.len()), Err)
    }

    /// `GET /v1/load?path&opType=...` on the owner of `path`.
    pub async fn load_op(&self, path: &str, op: &str) -> Result<LoadResponse> {
        let verbose = if op == "stop" { "" } else { "&verbose=true" };
        let q = format!("/v1/load?path={}&opType={op}{verbose}", form_encode(path));
        // Submit and stop are not retried once sent: a retry could start or
        // stop a second time.
        let idempotent = op == "progress";
        self.with_failover(path, idempotent, |w| {
            let q = q.clone();
            async move {
                let body = self.http.send(&w, reqwest::Method::GET, &q, None).await?;
                serde_json::from_slice(&body).map_err(|e| {
                    Error::transport(
                        w.http_authority(),
                        TransportKind::BadBody,
                        format!("load answer: {e}"),
                    )
                })
            }
        })
        .await
    }
}
