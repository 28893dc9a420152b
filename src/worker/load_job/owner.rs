//! A worker's side of its load jobs: the under storage lists the files, and
//! each page is cached on the file's ring owner — here, or by asking the
//! owner through its own page endpoint.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::Loader;
use crate::error::{Error, Result};
use crate::protocol::path_id::path_id;
use crate::worker::state::Worker;
use crate::worker::ufs::UfsStatus;

/// Pages of one file loaded at once.
const PAGE_CONCURRENCY: usize = 4;

impl Loader for Worker {
    fn list(&self, path: &str) -> impl Future<Output = Result<Vec<UfsStatus>>> + Send {
        self.ufs().list_files_recursive(path)
    }

    fn load_file(&self, file: &UfsStatus) -> impl Future<Output = Result<()>> + Send {
        load_file(self, file)
    }
}

/// Characters left as they are in a query value we send; `+ & # %` and the
/// rest are escaped so the receiving worker decodes the exact path.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b':');

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
