//! A worker's stable identity, kept in its data directory like the Java
//! worker's `worker_identity` file: the first non-blank, non-`#` line is the
//! UUID; a new worker gets a random UUID v4 written there.

use std::path::Path;

use crate::error::{Error, Result};
use crate::protocol::identity::WorkerIdentity;

/// File name inside the worker's data directory.
pub const FILE_NAME: &str = "worker_identity";

/// Reads the identity from `dir`, creating it on first start.
pub fn load_or_create(dir: &Path) -> Result<WorkerIdentity> {
    let path = dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .ok_or_else(|| {
                    Error::InvalidConfig(format!("{} holds no identity", path.display()))
                })?;
            WorkerIdentity::from_uuid_str(line)
                .map_err(|e| Error::InvalidConfig(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut random = [0u8; 16];
            getrandom::fill(&mut random).map_err(|e| Error::Io {
                context: "random worker identity".into(),
                message: e.to_string(),
            })?;
            let id = WorkerIdentity::random_v4(random);
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), &e))?;
            let text = format!("# alluxiofs worker identity (do not edit)\n{id}\n");
            std::fs::write(&path, text)
                .map_err(|e| Error::io(format!("writing {}", path.display()), &e))?;
            Ok(id)
        }
        Err(e) => Err(Error::io(format!("reading {}", path.display()), &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.version(), 1);
        std::fs::write(
            dir.path().join(FILE_NAME),
            "# c\n\n cb157baa-afe0-4b98-8af0-1a4645d38456 \n",
        )
        .unwrap();
        assert_eq!(
            load_or_create(dir.path()).unwrap().to_string(),
            "cb157baa-afe0-4b98-8af0-1a4645d38456"
        );
        std::fs::write(dir.path().join(FILE_NAME), "garbage\n").unwrap();
        assert!(load_or_create(dir.path()).is_err());
    }
}
