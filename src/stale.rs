//! A value that belongs to one process or runtime generation, rebuilt when
//! the key changes. The stale value is forgotten, never dropped: it holds
//! sockets, tasks or an epoll instance of a runtime that no longer exists
//! here (after `fork`), and dropping them would touch the parent's.

use parking_lot::Mutex;

/// The value in `slot` for `key`, or a new one from `build` (stored) when
/// the slot is empty or holds another key's.
pub fn get_or_rebuild<K: PartialEq, V: Clone, E>(
    slot: &Mutex<Option<(K, V)>>,
    key: K,
    build: impl FnOnce() -> Result<V, E>,
) -> Result<V, E> {
    let mut slot = slot.lock();
    if let Some((k, v)) = slot.as_ref() {
        if *k == key {
            return Ok(v.clone());
        }
    }
    if let Some(stale) = slot.take() {
        std::mem::forget(stale);
    }
    let v = build()?;
    *slot = Some((key, v.clone()));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_for_the_same_key_and_rebuilds_for_another() {
        let slot = Mutex::new(None);
        let a: Result<u32, ()> = get_or_rebuild(&slot, 1, || Ok(10));
        let b: Result<u32, ()> = get_or_rebuild(&slot, 1, || panic!("rebuilt"));
        let c: Result<u32, ()> = get_or_rebuild(&slot, 2, || Ok(20));
        assert_eq!((a, b, c), (Ok(10), Ok(10), Ok(20)));
        assert_eq!(get_or_rebuild(&slot, 3, || Err("no")), Err("no"));
        assert!(slot.lock().is_none(), "a failed build leaves nothing stale");
    }
}
