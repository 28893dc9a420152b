//! `/v1/files`, `/v1/info`, `/v1/node`, `/v1/health` (docs/protocol.md §5.2, 5.3, 5.7, 5.8).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{Response, StatusCode};

use super::respond;
use crate::error::Result;
use crate::worker::config::NodeResponse;
use crate::worker::file_info::{human_readable_size, ResponseFileInfo};
use crate::worker::query::Query;
use crate::worker::respond::{json, with_type};
use crate::worker::state::Worker;
use crate::worker::ufs::UfsStatus;

/// The `ResponseFileInfo` of an under-storage entry.
pub fn file_info(w: &Worker, st: UfsStatus) -> Result<ResponseFileInfo> {
    let m_path = w.ufs().root_relative(&st.url)?;
    let pct = if st.is_dir {
        0
    } else {
        w.cached_percent(&st.url, st.length)
    };
    Ok(ResponseFileInfo {
        mType: if st.is_dir { "directory" } else { "file" },
        mHumanReadableFileSize: human_readable_size(st.length),
        mPath: m_path,
        mLastModificationTimeMs: st.mtime_ms,
        mLength: st.length,
        mCompleted: true,
        mOwner: String::new(),
        mGroup: String::new(),
        mMode: if st.is_dir { 0o755 } else { 0o644 },
        // 0: the under storage reports none (the client then has no `created`).
        mCreationTimeMs: st.ctime_ms,
        mLastAccessTimeMs: st.mtime_ms,
        mPersisted: true,
        mInAlluxioPercentage: pct,
        mContentHash: st.content_hash,
        mName: st.name,
        mUfsPath: st.url,
    })
}

/// `GET /v1/files?path=`: the children of a directory, or the file itself.
pub async fn files(State(w): State<Worker>, RawQuery(q): RawQuery) -> Response<Body> {
    respond(&w, async {
        let path = Query::parse(q.as_deref())?.require_form("path")?;
        let entries = w.ufs().list(&path).await?;
        let infos = entries
            .into_iter()
            .map(|st| file_info(&w, st))
            .collect::<Result<Vec<_>>>()?;
        Ok(json(crate::protocol::gson::to_string(&infos)))
    })
    .await
}

/// `GET /v1/info?path=`: a one-element array describing `path` (see
/// [`crate::worker::meta_sync`] for when the under storage is asked).
pub async fn info(State(w): State<Worker>, RawQuery(q): RawQuery) -> Response<Body> {
    respond(&w, async {
        let path = Query::parse(q.as_deref())?.require_form("path")?;
        let st = w.file_status(&path).await?;
        Ok(json(crate::protocol::gson::to_string(&[file_info(
            &w, st,
        )?])))
    })
    .await
}

/// `GET /v1/node?path=`: where to send requests for `path` — this worker,
/// in the configured shape (see [`NodeResponse`]).
pub async fn node(State(w): State<Worker>, RawQuery(q): RawQuery) -> Response<Body> {
    respond(&w, async {
        // The path is parsed for shape only: this worker answers for itself.
        Query::parse(q.as_deref())?;
        let addr = &w.me().address;
        let body = match w.config().node_response {
            NodeResponse::Object => crate::protocol::gson::to_string(addr),
            NodeResponse::Array => crate::protocol::gson::to_string(&serde_json::json!([
                {"mBlockInfo": {"mBlockInfo": {"mLocations": [{"mWorkerAddress": addr}]}}}
            ])),
        };
        Ok(json(body))
    })
    .await
}

/// `GET /v1/ufsInfo`: the S3 API's mount table, as the alluxiofs 1.1.18
/// client reads it (`{"<root>/": {"alluxio_path": "/<bucket path>/", ...}}`,
/// docs/protocol.md §8). An S3 root carries its endpoint and region; its
/// access key and secret only with `--ufs-info-credentials`.
pub async fn ufs_info(State(w): State<Worker>) -> Response<Body> {
    respond(&w, async {
        let mounts = crate::worker::s3::mounts::Mounts::new(&w.ufs().roots())?;
        let c = w.config();
        let mut out = serde_json::Map::new();
        for (root, alluxio_path) in mounts.table() {
            let mut entry = serde_json::Map::new();
            entry.insert("alluxio_path".into(), alluxio_path.into());
            if root.starts_with("s3://") {
                let mut put = |k: &str, v: &Option<String>| {
                    if let Some(v) = v {
                        entry.insert(k.into(), v.clone().into());
                    }
                };
                put("endpoint", &c.s3.endpoint);
                put("region", &c.s3.region);
                if c.ufs_info_credentials {
                    put("access_key", &c.s3.access_key_id);
                    put("secret_key", &c.s3.secret_access_key);
                }
            }
            out.insert(root, entry.into());
        }
        Ok(json(serde_json::Value::Object(out).to_string()))
    })
    .await
}

/// `GET /v1/health`.
pub async fn health() -> Response<Body> {
    with_type(StatusCode::OK, "text/plain", "worker is active")
}
