//! `aws-chunked` request bodies (SigV4 streaming uploads, and the trailing
//! checksums newer SDKs send): `<hex size>[;chunk-signature=...]\r\n<data>\r\n`
//! pieces, a `0` piece, optional trailer lines, then an empty line. Decoded
//! as the bytes arrive: the data passes through without being collected.
//! Chunk signatures are not checked (the request's own signature is, when
//! the worker requires one).

use bytes::{Buf, Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt};

use crate::error::{Error, Result};

/// The longest header or trailer line accepted.
const MAX_LINE: usize = 8 << 10;

enum Phase {
    /// Expecting a piece's size line.
    Size,
    /// This many data bytes of the current piece are still to come.
    Data(u64),
    /// The CRLF after a piece's data.
    DataEnd,
    /// Trailer lines, until an empty one.
    Trailer,
    /// The body is over.
    Done,
}

struct State<S> {
    inner: S,
    buf: BytesMut,
    phase: Phase,
}

fn bad(why: &str) -> Error {
    Error::InvalidArgument(format!("malformed aws-chunked body: {why}"))
}

/// Takes one CRLF-terminated line from `buf` (without the CRLF), if whole.
fn line(buf: &mut BytesMut) -> Result<Option<Bytes>> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            let l = buf.split_to(i).freeze();
            buf.advance(2);
            Ok(Some(l))
        }
        None if buf.len() > MAX_LINE => Err(bad("line too long")),
        None => Ok(None),
    }
}

/// The decoded data of an `aws-chunked` body.
pub fn decode<'a, S>(inner: S) -> BoxStream<'a, Result<Bytes>>
where
    S: futures::Stream<Item = Result<Bytes>> + Send + Unpin + 'a,
{
    let state = State {
        inner,
        buf: BytesMut::new(),
        phase: Phase::Size,
    };
    futures::stream::try_unfold(state, |mut s| async move {
        loop {
            match s.phase {
                Phase::Done => return Ok(None),
                Phase::Data(left) if !s.buf.is_empty() => {
                    #[allow(clippy::cast_possible_truncation)] // bounded by the buffer's length
                    let n = left.min(s.buf.len() as u64) as usize;
                    let out = s.buf.split_to(n).freeze();
                    let left = left - n as u64;
                    s.phase = if left == 0 {
                        Phase::DataEnd
                    } else {
                        Phase::Data(left)
                    };
                    return Ok(Some((out, s)));
                }
                Phase::Size => {
                    if let Some(l) = line(&mut s.buf)? {
                        let text = std::str::from_utf8(&l).map_err(|_| bad("size line"))?;
                        let hex = text.split(';').next().unwrap_or("").trim();
                        let n = u64::from_str_radix(hex, 16).map_err(|_| bad("size"))?;
                        s.phase = if n == 0 {
                            Phase::Trailer
                        } else {
                            Phase::Data(n)
                        };
                        continue;
                    }
                }
                Phase::DataEnd => {
                    if s.buf.len() >= 2 {
                        if &s.buf[..2] != b"\r\n" {
                            return Err(bad("data not followed by CRLF"));
                        }
                        s.buf.advance(2);
                        s.phase = Phase::Size;
                        continue;
                    }
                }
                Phase::Trailer => {
                    if let Some(l) = line(&mut s.buf)? {
                        if l.is_empty() {
                            s.phase = Phase::Done;
                        }
                        continue;
                    }
                }
                Phase::Data(_) => {}
            }
            // More input is needed.
            match s.inner.next().await {
                Some(Ok(b)) => s.buf.extend_from_slice(&b),
                Some(Err(e)) => return Err(e),
                None if matches!(s.phase, Phase::Trailer) && s.buf.is_empty() => {
                    return Ok(None); // no final empty line: tolerated
                }
                None => return Err(bad("the body ended early")),
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(pieces: &[&[u8]]) -> Result<Vec<u8>> {
        let items: Vec<Result<Bytes>> = pieces
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        let mut s = decode(futures::stream::iter(items));
        let mut out = Vec::new();
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn decodes_signed_and_trailer_forms_split_anywhere() {
        let body = b"5;chunk-signature=ab\r\nhello\r\n6;chunk-signature=cd\r\n world\r\n0;chunk-signature=ef\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        for cut in 0..body.len() {
            let got = run(&[&body[..cut], &body[cut..]]).await.unwrap();
            assert_eq!(got, b"hello world", "cut at {cut}");
        }
        assert_eq!(run(&[b"3\r\nabc\r\n0\r\n\r\n"]).await.unwrap(), b"abc");
    }

    #[tokio::test]
    async fn malformed_bodies_are_errors() {
        for body in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabcXX0\r\n\r\n",
            b"5\r\nabc",
        ] {
            assert!(run(&[body]).await.is_err(), "{body:?}");
        }
    }
}
