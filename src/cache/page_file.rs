//! One cached page on disk: its bytes, then a trailer that names the page
//! and checksums it in 64 KiB blocks, so a page read back is verified
//! (a flipped byte, a truncation or another key's file is detected) while
//! reading a few KiB of a large page still reads only the blocks it needs.
//!
//! ```text
//! [data: len bytes][MAGIC 8][key hash u64][len u64][block u32][blocks u32][xxh3 u64 × blocks]
//! ```
//! All integers little-endian. Pages are written once under a unique
//! temporary name and renamed into place (`store::publish`), never
//! rewritten, so a reader sees a whole page or none (no fsync: a killed
//! process loses nothing the kernel has; a power loss can leave a torn
//! page, which the checksums catch).

use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::fs::FileExt;

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// First bytes of every trailer (format version 1).
pub const MAGIC: &[u8; 8] = b"AFSPAGE1";
/// Bytes covered by one checksum.
pub const BLOCK: usize = 64 * 1024;
/// Trailer bytes before the checksums.
const HEAD: usize = 8 + 8 + 8 + 4 + 4;

/// The trailer's length for a page of `len` bytes.
pub fn trailer_len(len: usize) -> usize {
    HEAD + 8 * len.div_ceil(BLOCK)
}

/// The whole file's length for a page of `len` bytes.
pub fn file_len(len: usize) -> u64 {
    (len + trailer_len(len)) as u64
}

/// The trailer for `data` stored under the key whose hash is `key_hash`.
pub fn trailer(key_hash: u64, data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(BLOCK);
    let mut t = Vec::with_capacity(trailer_len(data.len()));
    t.extend_from_slice(MAGIC);
    t.extend_from_slice(&key_hash.to_le_bytes());
    t.extend_from_slice(&(data.len() as u64).to_le_bytes());
    t.extend_from_slice(&u32::try_from(BLOCK).expect("64 KiB").to_le_bytes());
    t.extend_from_slice(&u32::try_from(blocks).unwrap_or(u32::MAX).to_le_bytes());
    for b in data.chunks(BLOCK) {
        t.extend_from_slice(&xxh3_64(b).to_le_bytes());
    }
    t
}

/// Why a page file was not served.
#[derive(Debug)]
pub enum Bad {
    /// The file is not what its name says (wrong length, key, format or a
    /// checksum mismatch): to be removed and refetched.
    Corrupt(&'static str),
    /// Reading it failed.
    Io(io::Error),
}

impl From<io::Error> for Bad {
    fn from(e: io::Error) -> Self {
        Bad::Io(e)
    }
}

/// A page file of `file_size` bytes holds a page of `len` bytes, and
/// `[offset, offset + want)` lies within that page.
fn check_shape(file_size: u64, len: usize, offset: usize, want: usize) -> Result<(), Bad> {
    if file_size != file_len(len) {
        return Err(Bad::Corrupt("length"));
    }
    if offset + want > len {
        return Err(Bad::Corrupt("range past the page"));
    }
    Ok(())
}

/// Reads bytes `[offset, offset + dest.len())` of the page in `file` (open,
/// of `file_size` bytes), which must hold exactly `len` bytes under the key
/// hashed `key_hash`, into `dest`, verifying every block it touches. `dest`
/// is written directly (one copy, from the kernel); on `Err` its contents
/// are unspecified.
pub fn read_verified(
    file: &File,
    file_size: u64,
    key_hash: u64,
    len: usize,
    offset: usize,
    dest: &mut [MaybeUninit<u8>],
) -> Result<(), Bad> {
    check_shape(file_size, len, offset, dest.len())?;
    let mut t = vec![0u8; trailer_len(len)];
    file.read_exact_at(&mut t, len as u64)?;
    let u64_at = |i: usize| u64::from_le_bytes(t[i..i + 8].try_into().expect("8 bytes"));
    if &t[..8] != MAGIC {
        return Err(Bad::Corrupt("magic"));
    }
    if u64_at(8) != key_hash {
        return Err(Bad::Corrupt("key"));
    }
    if u64_at(16) != len as u64 {
        return Err(Bad::Corrupt("stored length"));
    }
    if t[24..28] != u32::try_from(BLOCK).expect("64 KiB").to_le_bytes() {
        return Err(Bad::Corrupt("block size"));
    }
    if dest.is_empty() {
        return Ok(());
    }
    // The blocks the range touches, read whole: the head and tail beyond
    // the range go to scratch buffers, the range itself straight into `dest`.
    let first = offset / BLOCK;
    let last = (offset + dest.len() - 1) / BLOCK;
    let span_start = first * BLOCK;
    let span_end = ((last + 1) * BLOCK).min(len);
    let mut head = vec![0u8; offset - span_start];
    let mut tail = vec![0u8; span_end - (offset + dest.len())];
    file.read_exact_at(&mut head, span_start as u64)?;
    read_exact_uninit_at(file, dest, offset as u64)?;
    file.read_exact_at(&mut tail, (offset + dest.len()) as u64)?;
    // SAFETY: `read_exact_uninit_at` wrote every byte of `dest`.
    let body: &[u8] = unsafe { &*(std::ptr::from_ref::<[MaybeUninit<u8>]>(dest) as *const [u8]) };
    let mut segments = [head.as_slice(), body, tail.as_slice()].into_iter();
    let mut cur: &[u8] = &[];
    for block in first..=last {
        let want = (BLOCK).min(len - block * BLOCK);
        let mut h = Xxh3::new();
        let mut got = 0;
        while got < want {
            if cur.is_empty() {
                cur = segments.next().ok_or(Bad::Corrupt("span"))?;
                continue;
            }
            let n = cur.len().min(want - got);
            h.update(&cur[..n]);
            cur = &cur[n..];
            got += n;
        }
        let stored = u64_at(HEAD + 8 * block);
        if h.digest() != stored {
            return Err(Bad::Corrupt("checksum"));
        }
    }
    Ok(())
}

/// Reads bytes `[offset, offset + dest.len())` of a page of `len` bytes in
/// `file` (of `file_size` bytes) without checking its contents: for a page
/// its stamp shows untouched since it was verified (`store::Dir::read`).
pub fn read_trusted(
    file: &File,
    file_size: u64,
    len: usize,
    offset: usize,
    dest: &mut [MaybeUninit<u8>],
) -> Result<(), Bad> {
    check_shape(file_size, len, offset, dest.len())?;
    read_exact_uninit_at(file, dest, offset as u64)?;
    Ok(())
}

/// `pread` into an uninitialised buffer until it is full (EOF: an error).
fn read_exact_uninit_at(
    file: &File,
    mut buf: &mut [MaybeUninit<u8>],
    mut at: u64,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for writes of its length; `pread` writes at
        // most that many bytes and never reads them.
        let n = unsafe {
            libc::pread(
                file.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                i64::try_from(at).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = n.unsigned_abs();
        buf = &mut buf[n..];
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn page(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn write(dir: &std::path::Path, key: u64, data: &[u8]) -> (File, u64) {
        let p = dir.join("p");
        let mut f = File::create(&p).unwrap();
        f.write_all(data).unwrap();
        f.write_all(&trailer(key, data)).unwrap();
        drop(f);
        let f = File::open(&p).unwrap();
        let n = f.metadata().unwrap().len();
        (f, n)
    }

    fn read(
        f: &File,
        n: u64,
        key: u64,
        len: usize,
        off: usize,
        want: usize,
    ) -> Result<Vec<u8>, Bad> {
        let mut out = Vec::with_capacity(want);
        read_verified(f, n, key, len, off, &mut out.spare_capacity_mut()[..want])?;
        // SAFETY: filled on success.
        unsafe { out.set_len(want) };
        Ok(out)
    }

    #[test]
    fn every_range_reads_back_verified() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17] {
            let data = page(len);
            let (f, n) = write(dir.path(), 7, &data);
            assert_eq!(n, file_len(len));
            for (a, b) in [
                (0, len),
                (0, len.min(1)),
                (len / 2, len),
                (len.saturating_sub(5), len),
            ] {
                let got = read(&f, n, 7, len, a, b - a).unwrap();
                assert_eq!(got, &data[a..b], "len {len} [{a}, {b})");
            }
        }
    }

    #[test]
    fn a_flipped_byte_truncation_or_other_key_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let len = 3 * BLOCK + 5;
        let data = page(len);
        let (f, n) = write(dir.path(), 9, &data);
        assert!(matches!(
            read(&f, n, 8, len, 0, 10),
            Err(Bad::Corrupt("key"))
        ));
        assert!(matches!(
            read(&f, n - 1, 9, len, 0, 10),
            Err(Bad::Corrupt("length"))
        ));
        drop(f);
        // Flip one byte in the second block: reads of that block fail,
        // reads of the others still verify.
        let p = dir.path().join("p");
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[BLOCK + 100] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let f = File::open(&p).unwrap();
        assert!(matches!(
            read(&f, n, 9, len, BLOCK + 90, 20),
            Err(Bad::Corrupt("checksum"))
        ));
        assert!(matches!(
            read(&f, n, 9, len, 0, len),
            Err(Bad::Corrupt("checksum"))
        ));
        assert_eq!(read(&f, n, 9, len, 0, BLOCK).unwrap(), &data[..BLOCK]);
        assert_eq!(
            read(&f, n, 9, len, 2 * BLOCK, 10).unwrap(),
            &data[2 * BLOCK..2 * BLOCK + 10]
        );
    }
}
