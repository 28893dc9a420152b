//! The page I/O paths behind the public API: verified reads, reserved
//! writes on blocking threads, and the load half of `get_or_load`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use log::{debug, warn};

use super::disk::{self, remove_quietly};
use super::index::{PageRef, Reserve};
use super::{Inner, PageStore};
use crate::error::{Error, Result};

/// An operation registered with the index, so that its result is discarded
/// if its file is removed before it commits (the data may predate the
/// removal). Owned, so it can travel into the blocking write task.
pub(super) struct OpTicket {
    inner: Arc<Inner>,
    start: u64,
}

impl Drop for OpTicket {
    fn drop(&mut self) {
        self.inner.index.lock().end_op(self.start);
    }
}

impl PageStore {
    pub(super) async fn load_and_store<F, Fut>(
        &self,
        file_id: &str,
        index: u64,
        load: F,
    ) -> Result<Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        // Registered before loading: a removal during the load makes it stale.
        let ticket = self.begin_op();
        // An earlier flight may have stored the page since our miss.
        if let Some(page) = self.read_page(file_id, index).await? {
            return Ok(page);
        }
        self.inner.counters.loads.fetch_add(1, Relaxed);
        let data = load().await?;
        self.check_len(&data)?;
        if let Err(e) = self.store(file_id, index, data.clone(), ticket).await {
            warn!("page store: cannot cache page {index} of {file_id}: {e}");
        }
        Ok(data)
    }

    pub(super) fn check_len(&self, data: &Bytes) -> Result<()> {
        if data.len() as u64 > self.inner.page_size {
            return Err(Error::InvalidArgument(format!(
                "page of {} bytes exceeds the page size {}",
                data.len(),
                self.inner.page_size
            )));
        }
        Ok(())
    }

    pub(super) fn begin_op(&self) -> OpTicket {
        let start = self.inner.index.lock().begin_op();
        OpTicket {
            inner: self.inner.clone(),
            start,
        }
    }

    /// Reads and verifies a page the index knows; `None` on any miss.
    pub(super) async fn read_page(&self, file_id: &str, index: u64) -> Result<Option<Bytes>> {
        let found = self.inner.index.lock().lookup(file_id, index);
        let Some(gen) = found else {
            return Ok(None);
        };
        let path = self.inner.layout.page_path(file_id, index);
        let raw = match tokio::fs::read(&path).await {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Either deleted behind our back or replaced/evicted while we
                // looked; only the former leaves our version in the index.
                if self.inner.index.lock().drop_if_gen(file_id, index, gen) {
                    warn!("page store: page file {} vanished", path.display());
                }
                return Ok(None);
            }
            Err(e) => return Err(Error::io(format!("reading page {}", path.display()), &e)),
        };
        let raw_len = raw.len();
        if let Some(data) = disk::decode_page(raw, self.inner.page_size) {
            return Ok(Some(data));
        }
        self.inner.counters.corrupt.fetch_add(1, Relaxed);
        warn!(
            "page store: page {} is corrupt ({raw_len} bytes, checksum or size mismatch); deleting it",
            path.display()
        );
        let dropped = self.inner.index.lock().drop_if_gen(file_id, index, gen);
        if dropped {
            if let Err(e) = tokio::fs::remove_file(&path).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!("page store: cannot delete {}: {e}", path.display());
                }
            }
        }
        Ok(None)
    }

    /// Reserves room, then writes and commits on a blocking thread. That
    /// task owns everything it needs, so a cancelled caller cannot leak the
    /// reservation or leave a written page unindexed.
    pub(super) async fn store(
        &self,
        file_id: &str,
        index: u64,
        data: Bytes,
        ticket: OpTicket,
    ) -> Result<()> {
        let len = data.len() as u64;
        if len > self.inner.quota {
            debug!(
                "page store: page {index} of {file_id} ({len} bytes) exceeds the quota {}; not stored",
                self.inner.quota
            );
            return Ok(());
        }
        let reserved = self
            .inner
            .index
            .lock()
            .reserve(file_id, index, len, ticket.start);
        let evicted = match reserved {
            Reserve::Reserved(evicted) => evicted,
            Reserve::Stale => {
                debug!("page store: {file_id} was removed meanwhile; page {index} not stored");
                return Ok(());
            }
            Reserve::NoRoom => {
                debug!("page store: quota held by writes in flight; page {index} of {file_id} not stored");
                return Ok(());
            }
        };
        self.inner
            .counters
            .evictions
            .fetch_add(evicted.len() as u64, Relaxed);
        let inner = self.inner.clone();
        let file_id = file_id.to_owned();
        tokio::task::spawn_blocking(move || {
            inner.write_reserved(&file_id, index, &data, evicted, ticket)
        })
        .await
        .map_err(|e| Error::Io {
            context: "page store write task".into(),
            message: e.to_string(),
        })?
    }
}

impl Inner {
    pub(super) fn temp_path(&self) -> PathBuf {
        self.layout
            .temp_path(self.nonce, self.temp_names.fetch_add(1, Relaxed))
    }

    /// Blocking half of `store`: deletes the evicted pages, writes the page
    /// and turns the reservation into an index entry (or returns it).
    fn write_reserved(
        &self,
        file_id: &str,
        index: u64,
        data: &[u8],
        evicted: Vec<PageRef>,
        ticket: OpTicket,
    ) -> Result<()> {
        for (id, page) in &evicted {
            remove_quietly(&self.layout.page_path(id, *page));
        }
        let dest = self.layout.page_path(file_id, index);
        let header = disk::checksum_header(data);
        let written = disk::write_atomic(&self.temp_path(), &dest, &[&header, data]);
        let len = data.len() as u64;
        let committed = {
            let mut idx = self.index.lock();
            if written.is_ok() {
                idx.commit(file_id, index, len, ticket.start)
            } else {
                idx.release(len);
                false
            }
        };
        drop(ticket);
        match written {
            Ok(()) if committed => Ok(()),
            Ok(()) => {
                debug!("page store: {file_id} was removed meanwhile; dropping page {index}");
                remove_quietly(&dest);
                Ok(())
            }
            Err(e) => {
                // The previous version left the index at reservation: don't orphan it.
                remove_quietly(&dest);
                Err(Error::io(format!("writing page {}", dest.display()), &e))
            }
        }
    }
}
