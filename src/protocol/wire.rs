//! Protocol extensions of this project's worker that clients may rely on when
//! present (a Java worker never sends them; clients fall back to `/v1/info`).

/// Response header of `GET /v1/range`: the file's size in bytes at the time of
/// the read. It lets a client that does not know the size yet read "up to"
/// an end and still tell end of file (a short body that matches the size)
/// from a faulty answer (any other length), without asking `/v1/info` first.
pub const FILE_SIZE_HEADER: &str = "x-alluxio-file-size";
