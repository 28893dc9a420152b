//! Requests whose body is made while it is sent (streamed uploads,
//! `client::upload`): chunked transfer coding, no overall timeout.

use bytes::Bytes;

use super::{Http, Stage};
use crate::error::Result;
use crate::protocol::worker_info::WorkerInfo;

impl Http {
    /// POSTs `body` as it arrives and returns the body of a 2xx answer. No
    /// request timeout: the body may take any time, so the caller bounds
    /// its own waits (for room in the body, for the answer).
    pub(crate) async fn post_stream(
        &self,
        worker: &WorkerInfo,
        path_and_query: &str,
        body: reqwest::Body,
    ) -> Result<Bytes> {
        let post = reqwest::Method::POST;
        let (authority, resp) = self
            .start(worker, post, path_and_query, Some(body), false)
            .await?;
        resp.bytes()
            .await
            .map_err(|e| self.transport(&authority, &e, Stage::Body))
    }
}
