//! `GET /v1/load?path&opType=submit|progress|stop[&verbose]` (docs/protocol.md §5.6).
//! Answers are always 200 `text/plain` with a JSON body, as the Java worker's.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{Response, StatusCode};
use serde_json::json;

use super::respond;
use crate::error::Error;
use crate::worker::load_job::report_properties;
use crate::worker::query::Query;
use crate::worker::respond::with_type;
use crate::worker::state::Worker;

fn text_json(v: &serde_json::Value) -> Response<Body> {
    with_type(
        StatusCode::OK,
        "text/plain",
        crate::protocol::gson::to_string(v),
    )
}

/// The load endpoint.
pub async fn load(State(w): State<Worker>, RawQuery(q): RawQuery) -> Response<Body> {
    respond(&w, async {
        let q = Query::parse(q.as_deref())?;
        let path = q.require_form("path")?;
        let op = q.require_form("opType")?.to_ascii_lowercase();
        let verbose = q.flag("verbose", true)?;
        Ok(match op.as_str() {
            "submit" => {
                if let Err(e) = w.ufs().stat(&path).await {
                    return Ok(text_json(&json!({
                        "success": false, "jobId": "NONE", "path": path,
                        "message": format!("Failed to submit load job {path}: {e}"),
                    })));
                }
                let (job, running) = w.jobs().submit(w.clone(), &path);
                let message = if running {
                    format!("Load already running for path '{path}' \n")
                } else {
                    format!("Load '{path}' is successfully submitted. JobId: {}\n", job.id)
                };
                text_json(&json!({"success": true, "jobId": job.id, "path": path, "message": message}))
            }
            "stop" => {
                let ok = w.jobs().stop(&path);
                let message = if ok {
                    format!("Load '{path}' is successfully stopped.\n")
                } else {
                    format!("Cannot find load job for path {path}, it might have already been stopped or finished\n")
                };
                text_json(&json!({"success": ok, "path": path, "message": message}))
            }
            "progress" => match w.jobs().get(&path) {
                Some(job) => {
                    let report = job.report(verbose);
                    let props = report_properties(&report);
                    let state = props.get("Job State").cloned().unwrap_or_default();
                    text_json(&json!({"jobState": state, "path": path, "message": report, "respProperties": props}))
                }
                None => text_json(&json!({
                    "jobState": "FAILED", "path": path,
                    "message": format!("Load for path '{path}' cannot be found."),
                    "respProperties": {},
                })),
            },
            other => return Err(Error::InvalidArgument(format!("opType={other:?}: expected submit, progress or stop"))),
        })
    })
    .await
}
