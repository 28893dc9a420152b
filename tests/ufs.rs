//! Under-storage layer: local directories (tempdirs) and S3 (a real moto
//! server started by the test), with confinement attacks that must be refused
//! without touching anything.

mod common_ufs;

use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use _core::worker::ufs::{S3Options, Ufs, UfsStatus};
use _core::Error;
use bytes::Bytes;
use common_ufs::{snapshot, Moto};

/// A tempdir `base` with the root `base/ds`, a sibling `base/ds2` sharing its
/// name prefix, and `base/outside/secret.txt`.
struct Fx {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    ufs: Ufs,
}

impl Fx {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join("ds");
        for d in ["ds/dir/sub", "ds2", "outside"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("outside/secret.txt"), "SECRET").unwrap();
        std::fs::write(base.join("ds2/x"), "DS2").unwrap();
        std::fs::write(root.join("file.txt"), "hello world").unwrap();
        std::fs::write(root.join("empty.txt"), "").unwrap();
        std::fs::write(root.join("dir/a.txt"), "A").unwrap();
        std::fs::write(root.join("dir/sub/b.txt"), "BB").unwrap();
        let ufs = Ufs::new(&[root.display().to_string()], &S3Options::default()).unwrap();
        Self {
            _tmp: tmp,
            base,
            root,
            ufs,
        }
    }

    /// `file://<root>/<rel>`.
    fn u(&self, rel: &str) -> String {
        format!("file://{}/{rel}", self.root.display())
    }

    /// `file://<base>/<rel>` (outside the root).
    fn out(&self, rel: &str) -> String {
        format!("file://{}/{rel}", self.base.display())
    }
}

fn names(v: &[UfsStatus]) -> Vec<&str> {
    v.iter().map(|s| s.name.as_str()).collect()
}

fn not_found<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
}

fn invalid<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
}

fn is_dir<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::IsADirectory(_))), "{r:?}");
}

fn not_empty<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::NotEmpty(_))), "{r:?}");
}

fn denied<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::PermissionDenied(_))), "{r:?}");
}

#[tokio::test]
async fn local_stat_and_list() {
    let fx = Fx::new();
    let st = fx.ufs.stat(&fx.u("file.txt")).await.unwrap();
    assert_eq!(st.url, fx.u("file.txt"));
    assert_eq!(
        (st.name.as_str(), st.is_dir, st.length),
        ("file.txt", false, 11)
    );
    assert!(st.mtime_ms > 1_600_000_000_000, "{st:?}");
    assert_eq!(st.content_hash, "");
    let dir = fx.ufs.stat(&fx.u("dir/")).await.unwrap();
    assert_eq!((dir.is_dir, dir.length), (true, 0));
    assert_eq!(dir.url, fx.u("dir"));
    assert!(dir.mtime_ms > 0);
    // Plain path and file:/ spellings reach the same file.
    let plain = fx.root.join("file.txt").display().to_string();
    assert_eq!(fx.ufs.stat(&plain).await.unwrap().length, 11);
    let single = format!("file:{plain}");
    assert_eq!(fx.ufs.stat(&single).await.unwrap().length, 11);
    not_found(fx.ufs.stat(&fx.u("missing")).await);
    not_found(fx.ufs.stat(&fx.u("file.txt/below")).await);

    let root = fx.ufs.list(&fx.u("")).await.unwrap();
    assert_eq!(names(&root), ["dir", "empty.txt", "file.txt"]);
    assert!(root[0].is_dir && root[0].length == 0);
    assert_eq!(root[2].url, fx.u("file.txt"));
    assert!(root.iter().all(|s| s.mtime_ms > 0));
    let file = fx.ufs.list(&fx.u("file.txt")).await.unwrap();
    assert_eq!(file, vec![st]);
    not_found(fx.ufs.list(&fx.u("nope")).await);

    let all = fx.ufs.list_files_recursive(&fx.u("")).await.unwrap();
    let urls: Vec<_> = all.iter().map(|s| s.url.clone()).collect();
    assert_eq!(
        urls,
        [
            fx.u("dir/a.txt"),
            fx.u("dir/sub/b.txt"),
            fx.u("empty.txt"),
            fx.u("file.txt")
        ]
    );
    let one = fx
        .ufs
        .list_files_recursive(&fx.u("dir/a.txt"))
        .await
        .unwrap();
    assert_eq!(names(&one), ["a.txt"]);
    not_found(fx.ufs.list_files_recursive(&fx.u("nope")).await);
}

#[tokio::test]
async fn local_read_ranges() {
    let fx = Fx::new();
    let f = fx.u("file.txt");
    let r = |o, l| fx.ufs.read(&f, o, l);
    assert_eq!(r(0, 100).await.unwrap(), "hello world");
    assert_eq!(r(0, 5).await.unwrap(), "hello");
    assert_eq!(r(6, 3).await.unwrap(), "wor");
    assert_eq!(r(6, u64::MAX).await.unwrap(), "world");
    assert_eq!(r(10, 5).await.unwrap(), "d");
    assert_eq!(r(11, 5).await.unwrap(), "");
    assert_eq!(r(500, 5).await.unwrap(), "");
    assert_eq!(r(3, 0).await.unwrap(), "");
    assert_eq!(fx.ufs.read(&fx.u("empty.txt"), 0, 10).await.unwrap(), "");
    not_found(fx.ufs.read(&fx.u("missing"), 0, 10).await);
    is_dir(fx.ufs.read(&fx.u("dir"), 0, 10).await);
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect()
}

#[tokio::test]
async fn local_write_is_atomic() {
    let fx = Fx::new();
    let url = fx.u("new/deep/w.bin");
    fx.ufs.write(&url, Bytes::from_static(b"v1")).await.unwrap();
    let path = fx.root.join("new/deep/w.bin");
    assert_eq!(std::fs::read(&path).unwrap(), b"v1");

    // A reader holding the old file keeps seeing it: the new content arrives
    // as a new inode renamed over the name, never by rewriting in place.
    let old = std::fs::File::open(&path).unwrap();
    let old_ino = old.metadata().unwrap().ino();
    fx.ufs
        .write(&url, Bytes::from_static(b"version 2"))
        .await
        .unwrap();
    let mut held = String::new();
    std::io::Read::read_to_string(&mut &old, &mut held).unwrap();
    assert_eq!(held, "v1");
    assert_ne!(std::fs::metadata(&path).unwrap().ino(), old_ino);
    assert_eq!(fx.ufs.read(&url, 0, 100).await.unwrap(), "version 2");

    // Concurrent readers only ever see whole versions.
    let size = |v: u8| 65_536 * (1 + usize::from(v % 4));
    fx.ufs
        .write(&url, Bytes::from(vec![0u8; size(0)]))
        .await
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (ufs, url, done) = (fx.ufs.clone(), url.clone(), done.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let b = ufs.read(&url, 0, u64::MAX).await.unwrap();
                let v = b[0];
                assert_eq!(b.len(), size(v), "torn read of version {v}");
                assert!(b.iter().all(|&x| x == v), "mixed versions");
                reads += 1;
            }
            reads
        })
    };
    for v in 1..=40u8 {
        fx.ufs
            .write(&url, Bytes::from(vec![v; size(v)]))
            .await
            .unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.await.unwrap() > 0);
    assert!(temp_files(&fx.root.join("new/deep")).is_empty());

    // A name near NAME_MAX still gets a temp name that fits.
    let long = "n".repeat(250);
    fx.ufs
        .write(&fx.u(&long), Bytes::from_static(b"long"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(fx.root.join(&long)).unwrap(), b"long");

    // Temp files orphaned by a crash stay out of listings.
    std::fs::write(fx.root.join(".w.bin.1.2.3.alluxiofs-tmp"), "partial").unwrap();
    let listed = fx.ufs.list(&fx.u("")).await.unwrap();
    assert!(names(&listed).iter().all(|n| !n.contains("alluxiofs-tmp")));
    std::fs::remove_file(fx.root.join(".w.bin.1.2.3.alluxiofs-tmp")).unwrap();

    // A failed write (onto a directory) leaves no temp file either.
    is_dir(fx.ufs.write(&fx.u("dir"), Bytes::from_static(b"x")).await);
    assert!(temp_files(&fx.root).is_empty());
    assert!(fx.root.join("dir/a.txt").exists());
}

#[tokio::test]
async fn local_mkdir_and_touch() {
    let fx = Fx::new();
    fx.ufs.mkdir(&fx.u("m/n/o")).await.unwrap();
    assert!(fx.root.join("m/n/o").is_dir());
    fx.ufs.mkdir(&fx.u("m/n/o")).await.unwrap();
    fx.ufs.mkdir(&fx.u("")).await.unwrap();
    assert!(matches!(
        fx.ufs.mkdir(&fx.u("file.txt")).await,
        Err(Error::AlreadyExists(_))
    ));

    fx.ufs.touch(&fx.u("t/new.txt")).await.unwrap();
    assert_eq!(std::fs::read(fx.root.join("t/new.txt")).unwrap(), b"");
    let f = fx.root.join("file.txt");
    let past = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(past)
        .unwrap();
    fx.ufs.touch(&fx.u("file.txt")).await.unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"hello world");
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    assert!(mtime > past + Duration::from_secs(3000));
    fx.ufs.touch(&fx.u("dir")).await.unwrap();
}

#[tokio::test]
async fn local_remove() {
    let fx = Fx::new();
    not_empty(fx.ufs.remove(&fx.u("dir"), false).await);
    assert!(fx.root.join("dir/sub/b.txt").exists());
    fx.ufs.remove(&fx.u("file.txt"), false).await.unwrap();
    assert!(!fx.root.join("file.txt").exists());
    std::fs::create_dir(fx.root.join("emptydir")).unwrap();
    fx.ufs.remove(&fx.u("emptydir"), false).await.unwrap();
    assert!(!fx.root.join("emptydir").exists());
    fx.ufs.remove(&fx.u("dir"), true).await.unwrap();
    assert!(!fx.root.join("dir").exists());
    not_found(fx.ufs.remove(&fx.u("dir"), true).await);
    denied(fx.ufs.remove(&fx.u(""), true).await);
    assert!(fx.root.join("empty.txt").exists());
}

#[tokio::test]
async fn local_rename() {
    let fx = Fx::new();
    fx.ufs
        .rename(&fx.u("file.txt"), &fx.u("moved/f.txt"))
        .await
        .unwrap();
    assert!(!fx.root.join("file.txt").exists());
    assert_eq!(
        std::fs::read(fx.root.join("moved/f.txt")).unwrap(),
        b"hello world"
    );
    fx.ufs.rename(&fx.u("dir"), &fx.u("dir2")).await.unwrap();
    assert_eq!(
        std::fs::read(fx.root.join("dir2/sub/b.txt")).unwrap(),
        b"BB"
    );
    assert!(matches!(
        fx.ufs
            .rename(&fx.u("empty.txt"), &fx.u("moved/f.txt"))
            .await,
        Err(Error::AlreadyExists(_))
    ));
    not_found(fx.ufs.rename(&fx.u("nope"), &fx.u("nope2")).await);
    invalid(fx.ufs.rename(&fx.u("dir2"), &fx.u("dir2/sub/x")).await);
    denied(fx.ufs.rename(&fx.u(""), &fx.u("x")).await);
}

#[tokio::test]
async fn local_copy() {
    let fx = Fx::new();
    fx.ufs
        .copy(&fx.u("file.txt"), &fx.u("c/f.txt"), false)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(fx.root.join("c/f.txt")).unwrap(),
        b"hello world"
    );
    assert!(fx.root.join("file.txt").exists());
    // Replaces an existing file.
    fx.ufs
        .copy(&fx.u("dir/a.txt"), &fx.u("c/f.txt"), false)
        .await
        .unwrap();
    assert_eq!(std::fs::read(fx.root.join("c/f.txt")).unwrap(), b"A");
    is_dir(fx.ufs.copy(&fx.u("dir"), &fx.u("d2"), false).await);
    fx.ufs.copy(&fx.u("dir"), &fx.u("d2"), true).await.unwrap();
    assert_eq!(std::fs::read(fx.root.join("d2/sub/b.txt")).unwrap(), b"BB");
    assert_eq!(std::fs::read(fx.root.join("d2/a.txt")).unwrap(), b"A");
    invalid(fx.ufs.copy(&fx.u("dir"), &fx.u("dir/sub/x"), true).await);
    is_dir(fx.ufs.copy(&fx.u("file.txt"), &fx.u("dir"), false).await);
    not_found(fx.ufs.copy(&fx.u("nope"), &fx.u("x"), true).await);
    assert!(temp_files(&fx.root.join("c")).is_empty());
}

#[tokio::test]
async fn root_relative_and_roots() {
    let fx = Fx::new();
    assert_eq!(fx.ufs.roots(), [format!("file://{}", fx.root.display())]);
    assert_eq!(fx.ufs.root_relative(&fx.u("")).unwrap(), "/");
    let bare = format!("file://{}", fx.root.display());
    assert_eq!(fx.ufs.root_relative(&bare).unwrap(), "/");
    assert_eq!(fx.ufs.root_relative(&fx.u("x/y")).unwrap(), "/x/y");
    assert_eq!(fx.ufs.root_relative(&fx.u("x//./y/")).unwrap(), "/x/y");
    let plain = fx.root.join("a").display().to_string();
    assert_eq!(fx.ufs.root_relative(&plain).unwrap(), "/a");
    fx.ufs.check(&fx.u("anything")).unwrap();
    denied(fx.ufs.root_relative(&fx.out("ds2/x")));

    // A root configured through a symlinked path: canonical in roots(), both
    // spellings served.
    let alias = fx.base.join("alias");
    symlink(&fx.root, &alias).unwrap();
    let ufs = Ufs::new(
        &[format!("file://{}/", alias.display())],
        &S3Options::default(),
    )
    .unwrap();
    assert_eq!(ufs.roots(), [format!("file://{}", fx.root.display())]);
    let via_alias = format!("file://{}/file.txt", alias.display());
    assert_eq!(ufs.read(&via_alias, 0, 5).await.unwrap(), "hello");
    assert_eq!(ufs.stat(&via_alias).await.unwrap().url, via_alias);
    assert_eq!(ufs.root_relative(&fx.u("file.txt")).unwrap(), "/file.txt");

    let s3 = S3Options {
        endpoint: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    };
    let ufs = Ufs::new(&["s3://b/p/q".into(), "s3://c".into()], &s3).unwrap();
    assert_eq!(ufs.roots(), ["s3://b/p/q", "s3://c"]);
    assert_eq!(ufs.root_relative("s3://b/p/q").unwrap(), "/");
    assert_eq!(ufs.root_relative("s3://b/p/q/x/y.csv").unwrap(), "/x/y.csv");
    assert_eq!(ufs.root_relative("s3://c/k").unwrap(), "/k");
    denied(ufs.root_relative("s3://b/p/q2/x"));
    denied(ufs.root_relative("s3://b/p"));

    for bad in [
        "relative/dir",
        "/does/not/exist/anywhere",
        "http://host/x",
        "/tmp/../etc",
        "s3://",
    ] {
        invalid(Ufs::new(&[bad.to_string()], &S3Options::default()));
    }
    let file_root = fx.root.join("file.txt").display().to_string();
    invalid(Ufs::new(&[file_root], &S3Options::default()));
}

#[tokio::test]
async fn local_odd_names_and_inner_symlinks() {
    let fx = Fx::new();
    // A literal `%2e%2e` is a name, not `..`.
    fx.ufs
        .write(&fx.u("%2e%2e/x.txt"), Bytes::from_static(b"pct"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(fx.root.join("%2e%2e/x.txt")).unwrap(), b"pct");
    assert_eq!(
        fx.ufs.root_relative(&fx.u("%2e%2e/x.txt")).unwrap(),
        "/%2e%2e/x.txt"
    );
    // Symlinks that stay inside the root are followed.
    symlink(fx.root.join("dir"), fx.root.join("link_in")).unwrap();
    symlink(fx.root.join("file.txt"), fx.root.join("flink")).unwrap();
    assert_eq!(
        fx.ufs.read(&fx.u("link_in/a.txt"), 0, 9).await.unwrap(),
        "A"
    );
    assert_eq!(fx.ufs.read(&fx.u("flink"), 0, 5).await.unwrap(), "hello");
    let listed = fx.ufs.list(&fx.u("")).await.unwrap();
    assert!(names(&listed).contains(&"link_in"));
    // Removing a link removes the link, not its target.
    fx.ufs.remove(&fx.u("flink"), false).await.unwrap();
    assert!(fx.root.join("file.txt").exists());
}

/// Every attempt here must be refused and leave `base` (root included) and
/// `/etc` exactly as they were.
#[tokio::test]
async fn local_confinement_attacks_are_refused() {
    let fx = Fx::new();
    symlink("/etc", fx.root.join("link_etc")).unwrap();
    symlink(fx.base.join("outside"), fx.root.join("link_out")).unwrap();
    symlink(
        fx.base.join("outside/secret.txt"),
        fx.root.join("secret_link"),
    )
    .unwrap();
    symlink(fx.base.join("outside/made.txt"), fx.root.join("dangling")).unwrap();
    std::fs::create_dir(fx.root.join("holder")).unwrap();
    symlink(fx.base.join("outside"), fx.root.join("holder/inner")).unwrap();
    let etc_probe = Path::new("/etc/alluxiofs-ufs-test-must-not-exist");
    // A leftover from a failed earlier run would hide a new leak.
    let _ = std::fs::remove_file(etc_probe);
    let before = snapshot(&fx.base);
    let (ufs, u) = (&fx.ufs, |r: &str| fx.u(r));
    let data = || Bytes::from_static(b"PWNED");
    let root = fx.root.display().to_string();
    let nul = format!("{}/file.txt\0.png", root);

    let attempts: Vec<(&str, Result<(), Error>)> = vec![
        (
            "dotdot read",
            ufs.read(&u("../outside/secret.txt"), 0, 9).await.map(drop),
        ),
        (
            "dotdot file:/",
            ufs.read(&format!("file:{root}/../outside/secret.txt"), 0, 9)
                .await
                .map(drop),
        ),
        (
            "dotdot after dot",
            ufs.stat(&u("./../outside")).await.map(drop),
        ),
        (
            "dotdot that would stay inside",
            ufs.stat(&u("dir/../file.txt")).await.map(drop),
        ),
        ("/etc/passwd", ufs.read("/etc/passwd", 0, 9).await.map(drop)),
        (
            "file:///etc/passwd",
            ufs.read("file:///etc/passwd", 0, 9).await.map(drop),
        ),
        (
            "localhost /etc",
            ufs.stat("file://localhost/etc/passwd").await.map(drop),
        ),
        (
            "sibling prefix read",
            ufs.read(&fx.out("ds2/x"), 0, 9).await.map(drop),
        ),
        (
            "sibling prefix write",
            ufs.write(&fx.out("ds2/new"), data()).await,
        ),
        ("parent of root", ufs.list(&fx.out("")).await.map(drop)),
        (
            "read via /etc link",
            ufs.read(&u("link_etc/hostname"), 0, 9).await.map(drop),
        ),
        (
            "write via /etc link",
            ufs.write(&u("link_etc/alluxiofs-ufs-test-must-not-exist"), data())
                .await,
        ),
        (
            "read via dir link",
            ufs.read(&u("link_out/secret.txt"), 0, 9).await.map(drop),
        ),
        (
            "overwrite via dir link",
            ufs.write(&u("link_out/secret.txt"), data()).await,
        ),
        (
            "new file via dir link",
            ufs.write(&u("link_out/new.txt"), data()).await,
        ),
        (
            "new deep file via dir link",
            ufs.write(&u("link_out/a/b/new.txt"), data()).await,
        ),
        (
            "via symlinked parent",
            ufs.write(&u("holder/inner/new.txt"), data()).await,
        ),
        ("mkdir via dir link", ufs.mkdir(&u("link_out/newdir")).await),
        (
            "touch via dir link",
            ufs.touch(&u("link_out/secret.txt")).await,
        ),
        ("stat dir link", ufs.stat(&u("link_out")).await.map(drop)),
        ("list dir link", ufs.list(&u("link_out")).await.map(drop)),
        (
            "recursive list dir link",
            ufs.list_files_recursive(&u("link_out")).await.map(drop),
        ),
        (
            "read file link",
            ufs.read(&u("secret_link"), 0, 9).await.map(drop),
        ),
        (
            "write file link",
            ufs.write(&u("secret_link"), data()).await,
        ),
        ("touch dangling link", ufs.touch(&u("dangling")).await),
        (
            "write dangling link",
            ufs.write(&u("dangling"), data()).await,
        ),
        ("NUL byte", ufs.read(&nul, 0, 9).await.map(drop)),
        (
            "remote host",
            ufs.read(&format!("file://evilhost{root}/file.txt"), 0, 9)
                .await
                .map(drop),
        ),
        (
            "http scheme",
            ufs.read(&format!("http://x{root}/file.txt"), 0, 9)
                .await
                .map(drop),
        ),
        (
            "s3 without s3 roots",
            ufs.write("s3://bucket/k", data()).await,
        ),
        (
            "remove outside",
            ufs.remove(&fx.out("outside/secret.txt"), false).await,
        ),
        (
            "remove via dir link",
            ufs.remove(&u("link_out/secret.txt"), false).await,
        ),
        (
            "remove file link pointing out",
            ufs.remove(&u("secret_link"), false).await,
        ),
        ("remove root", ufs.remove(&u(""), true).await),
        ("remove root plain", ufs.remove(&root, true).await),
        ("rename root", ufs.rename(&u(""), &u("moved")).await),
        (
            "rename to outside",
            ufs.rename(&u("file.txt"), &fx.out("outside/stolen.txt"))
                .await,
        ),
        (
            "rename from outside",
            ufs.rename(&fx.out("outside/secret.txt"), &u("stolen.txt"))
                .await,
        ),
        (
            "rename into dir link",
            ufs.rename(&u("file.txt"), &u("link_out/stolen.txt")).await,
        ),
        (
            "copy to outside",
            ufs.copy(&u("file.txt"), &fx.out("outside/copied.txt"), false)
                .await,
        ),
        (
            "copy from outside",
            ufs.copy(&fx.out("outside/secret.txt"), &u("copied.txt"), false)
                .await,
        ),
        (
            "copy via dir link",
            ufs.copy(&u("link_out/secret.txt"), &u("copied.txt"), false)
                .await,
        ),
        (
            "copy dir into dir link",
            ufs.copy(&u("dir"), &u("link_out/tree"), true).await,
        ),
        ("mkdir outside", ufs.mkdir(&fx.out("outside/newdir")).await),
        ("touch outside", ufs.touch(&fx.out("outside/touched")).await),
    ];
    for (what, r) in &attempts {
        assert!(
            matches!(r, Err(Error::PermissionDenied(_))),
            "{what}: expected PermissionDenied, got {r:?}"
        );
    }
    assert!(attempts.len() >= 40);
    // Malformed rather than foreign: refused as invalid.
    invalid(ufs.read("ds/file.txt", 0, 9).await);
    invalid(ufs.read("", 0, 9).await);

    assert_eq!(
        snapshot(&fx.base),
        before,
        "a refused request changed files"
    );
    assert!(!etc_probe.exists());

    // Listings hide links that leave the root; recursive copies skip them.
    let listed = ufs.list(&u("")).await.unwrap();
    assert_eq!(names(&listed), ["dir", "empty.txt", "file.txt", "holder"]);
    let all = ufs.list_files_recursive(&u("")).await.unwrap();
    assert!(all
        .iter()
        .all(|s| !s.url.contains("link") && !s.url.contains("inner")));
    ufs.copy(&u("holder"), &u("holder_copy"), true)
        .await
        .unwrap();
    assert!(!fx.root.join("holder_copy/inner").exists());
    assert!(fx.root.join("holder_copy").is_dir());
    assert_eq!(
        std::fs::read(fx.base.join("outside/secret.txt")).unwrap(),
        b"SECRET"
    );
}

fn s3_opts(moto: &Moto) -> S3Options {
    S3Options {
        endpoint: Some(moto.endpoint()),
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        session_token: None,
    }
}

/// Every key of a bucket with its content, through an unconfined admin view.
async fn bucket_dump(admin: &Ufs, bucket: &str) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    for f in admin
        .list_files_recursive(&format!("s3://{bucket}"))
        .await
        .unwrap()
    {
        let data = admin.read(&f.url, 0, u64::MAX).await.unwrap();
        out.push((f.url, data));
    }
    out
}

#[tokio::test]
async fn s3_operations_against_moto() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("bucket").await;
    let opts = s3_opts(&moto);
    let ufs = Ufs::new(&["s3://bucket/prefix".into()], &opts).unwrap();
    let u = |k: &str| format!("s3://bucket/prefix/{k}");
    for (k, v) in [
        ("a.csv", "0123456789"),
        ("dir/b.txt", "BB"),
        ("dir/sub/c.txt", "CCC"),
        ("empty", ""),
    ] {
        ufs.write(&u(k), Bytes::from_static(v.as_bytes()))
            .await
            .unwrap();
    }

    let st = ufs.stat(&u("a.csv")).await.unwrap();
    assert_eq!(
        (st.url.as_str(), st.name.as_str()),
        (u("a.csv").as_str(), "a.csv")
    );
    assert_eq!((st.is_dir, st.length), (false, 10));
    assert!(st.mtime_ms > 1_600_000_000_000);
    assert!(!st.content_hash.is_empty() && !st.content_hash.contains('"'));
    let d = ufs.stat(&u("dir/")).await.unwrap();
    assert_eq!(
        (d.is_dir, d.length, d.url.as_str()),
        (true, 0, u("dir").as_str())
    );
    assert!(ufs.stat("s3://bucket/prefix").await.unwrap().is_dir);
    not_found(ufs.stat(&u("nope")).await);
    not_found(ufs.stat(&u("di")).await);

    let root = ufs.list("s3://bucket/prefix").await.unwrap();
    assert_eq!(names(&root), ["a.csv", "dir", "empty"]);
    assert!(root[1].is_dir && root[1].url == u("dir"));
    assert_eq!(root[0].length, 10);
    assert_eq!(names(&ufs.list(&u("dir")).await.unwrap()), ["b.txt", "sub"]);
    assert_eq!(ufs.list(&u("a.csv")).await.unwrap(), vec![st.clone()]);
    not_found(ufs.list(&u("nope")).await);
    let all = ufs.list_files_recursive(&u("")).await.unwrap();
    let urls: Vec<_> = all.iter().map(|s| s.url.clone()).collect();
    assert_eq!(
        urls,
        [u("a.csv"), u("dir/b.txt"), u("dir/sub/c.txt"), u("empty")]
    );
    assert_eq!(
        names(&ufs.list_files_recursive(&u("a.csv")).await.unwrap()),
        ["a.csv"]
    );

    let a = u("a.csv");
    let r = |o, l| ufs.read(&a, o, l);
    assert_eq!(r(0, 100).await.unwrap(), "0123456789");
    assert_eq!(r(2, 3).await.unwrap(), "234");
    assert_eq!(r(8, u64::MAX).await.unwrap(), "89");
    assert_eq!(r(10, 5).await.unwrap(), "");
    assert_eq!(r(99, 5).await.unwrap(), "");
    assert_eq!(r(1, 0).await.unwrap(), "");
    assert_eq!(ufs.read(&u("empty"), 0, 10).await.unwrap(), "");
    not_found(ufs.read(&u("nope"), 0, 10).await);
    not_found(ufs.read(&u("nope"), 0, 0).await);

    ufs.write(&a, Bytes::from_static(b"overwritten"))
        .await
        .unwrap();
    assert_eq!(r(0, 100).await.unwrap(), "overwritten");
    // mkdir writes a `dir/` marker: the empty directory exists.
    ufs.mkdir(&u("newdir/x")).await.unwrap();
    let raw = moto.get("bucket?list-type=2&prefix=prefix/newdir/").await;
    assert!(raw.contains("<Key>prefix/newdir/x/</Key>"), "{raw}");
    assert!(ufs.stat(&u("newdir/x")).await.unwrap().is_dir);
    assert!(ufs.stat(&u("newdir")).await.unwrap().is_dir);
    assert!(ufs.list(&u("newdir/x")).await.unwrap().is_empty());
    assert_eq!(names(&ufs.list(&u("newdir")).await.unwrap()), ["x"]);
    ufs.mkdir(&u("newdir/x")).await.unwrap();
    assert!(matches!(
        ufs.mkdir(&u("a.csv")).await,
        Err(Error::AlreadyExists(_))
    ));
    ufs.touch(&u("t.txt")).await.unwrap();
    assert_eq!(ufs.stat(&u("t.txt")).await.unwrap().length, 0);
    ufs.touch(&u("a.csv")).await.unwrap();
    assert_eq!(r(0, 100).await.unwrap(), "overwritten");

    ufs.copy(&u("a.csv"), &u("copy/a.csv"), false)
        .await
        .unwrap();
    assert_eq!(
        ufs.read(&u("copy/a.csv"), 0, 99).await.unwrap(),
        "overwritten"
    );
    is_dir(ufs.copy(&u("dir"), &u("dir2"), false).await);
    ufs.copy(&u("dir"), &u("dir2"), true).await.unwrap();
    assert_eq!(ufs.read(&u("dir2/sub/c.txt"), 0, 99).await.unwrap(), "CCC");
    invalid(ufs.copy(&u("dir"), &u("dir/sub/again"), true).await);

    ufs.rename(&u("t.txt"), &u("moved/t.txt")).await.unwrap();
    not_found(ufs.stat(&u("t.txt")).await);
    assert_eq!(ufs.stat(&u("moved/t.txt")).await.unwrap().length, 0);
    ufs.rename(&u("dir2"), &u("dir3")).await.unwrap();
    not_found(ufs.stat(&u("dir2")).await);
    assert_eq!(ufs.read(&u("dir3/b.txt"), 0, 9).await.unwrap(), "BB");
    assert!(matches!(
        ufs.rename(&u("a.csv"), &u("dir3")).await,
        Err(Error::AlreadyExists(_))
    ));
    not_found(ufs.rename(&u("nope"), &u("nope2")).await);

    not_empty(ufs.remove(&u("dir"), false).await);
    assert_eq!(ufs.read(&u("dir/b.txt"), 0, 9).await.unwrap(), "BB");
    ufs.remove(&u("dir"), true).await.unwrap();
    not_found(ufs.stat(&u("dir")).await);
    ufs.remove(&u("a.csv"), false).await.unwrap();
    not_found(ufs.stat(&u("a.csv")).await);
    not_found(ufs.remove(&u("a.csv"), false).await);
    denied(ufs.remove("s3://bucket/prefix", true).await);

    // Across backends: local root and S3 root in one Ufs.
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().canonicalize().unwrap();
    let both = Ufs::new(
        &[local.display().to_string(), "s3://bucket/prefix".into()],
        &opts,
    )
    .unwrap();
    let l = |r: &str| format!("file://{}/{r}", local.display());
    both.write(&l("up/x.bin"), Bytes::from_static(b"xyz"))
        .await
        .unwrap();
    both.copy(&l("up"), &u("up"), true).await.unwrap();
    assert_eq!(both.read(&u("up/x.bin"), 0, 9).await.unwrap(), "xyz");
    both.rename(&u("up"), &l("down")).await.unwrap();
    assert_eq!(std::fs::read(local.join("down/x.bin")).unwrap(), b"xyz");
    not_found(both.stat(&u("up")).await);

    // `dir/` marker keys written by other tools: directories, never files.
    moto.put_empty("bucket/prefix/marker/").await;
    moto.put_empty("bucket/prefix/withmarker/").await;
    ufs.write(&u("withmarker/f"), Bytes::from_static(b"F"))
        .await
        .unwrap();
    assert!(ufs.stat(&u("marker")).await.unwrap().is_dir);
    assert!(ufs.list(&u("marker")).await.unwrap().is_empty());
    assert_eq!(names(&ufs.list(&u("withmarker")).await.unwrap()), ["f"]);
    let root = ufs.list(&u("")).await.unwrap();
    let marker = root.iter().find(|s| s.name == "marker").unwrap();
    assert!(marker.is_dir);
    let files = ufs.list_files_recursive(&u("")).await.unwrap();
    let urls: Vec<_> = files.iter().map(|s| s.url.as_str()).collect();
    for dir in ["marker", "withmarker", "newdir", "newdir/x"] {
        assert!(!urls.contains(&u(dir).as_str()), "{dir}: {urls:?}");
    }
    assert!(urls.contains(&u("withmarker/f").as_str()), "{urls:?}");
    // A directory of markers moves and copies with them, and goes away
    // entirely when removed.
    ufs.copy(&u("newdir"), &u("newcopy"), true).await.unwrap();
    assert!(ufs.stat(&u("newcopy/x")).await.unwrap().is_dir);
    ufs.rename(&u("newdir"), &u("renamed")).await.unwrap();
    assert!(ufs.stat(&u("renamed/x")).await.unwrap().is_dir);
    not_found(ufs.stat(&u("newdir")).await);
    not_empty(ufs.remove(&u("renamed"), false).await);
    ufs.remove(&u("renamed/x"), false).await.unwrap();
    not_found(ufs.stat(&u("renamed")).await);
    ufs.remove(&u("marker"), false).await.unwrap();
    not_found(ufs.stat(&u("marker")).await);
    not_empty(ufs.remove(&u("withmarker"), false).await);
    ufs.remove(&u("withmarker"), true).await.unwrap();
    not_found(ufs.stat(&u("withmarker")).await);
    ufs.remove(&u("newcopy"), true).await.unwrap();
    let raw = moto.get("bucket?list-type=2&prefix=prefix/").await;
    for gone in ["newdir", "newcopy", "renamed", "marker"] {
        assert!(!raw.contains(&format!("prefix/{gone}")), "{gone}: {raw}");
    }
}

#[tokio::test]
async fn s3_confinement_attacks_are_refused() {
    let Some(moto) = Moto::start() else { return };
    for b in ["bucket", "other-bucket"] {
        moto.create_bucket(b).await;
    }
    let opts = s3_opts(&moto);
    let admin = Ufs::new(&["s3://bucket".into(), "s3://other-bucket".into()], &opts).unwrap();
    for (k, v) in [
        ("s3://bucket/prefix/in.txt", "IN"),
        ("s3://bucket/secret.txt", "TOP"),
        ("s3://bucket/prefix2/k", "P2"),
        ("s3://other-bucket/k", "OTHER"),
    ] {
        admin
            .write(k, Bytes::from_static(v.as_bytes()))
            .await
            .unwrap();
    }
    let before = (
        bucket_dump(&admin, "bucket").await,
        bucket_dump(&admin, "other-bucket").await,
    );
    let ufs = Ufs::new(&["s3://bucket/prefix".into()], &opts).unwrap();
    let data = || Bytes::from_static(b"PWNED");
    let attempts: Vec<(&str, Result<(), Error>)> = vec![
        (
            "other bucket read",
            ufs.read("s3://other-bucket/k", 0, 9).await.map(drop),
        ),
        (
            "other bucket write",
            ufs.write("s3://other-bucket/k", data()).await,
        ),
        (
            "other bucket list",
            ufs.list("s3://other-bucket").await.map(drop),
        ),
        (
            "sibling prefix read",
            ufs.read("s3://bucket/prefix2/k", 0, 9).await.map(drop),
        ),
        (
            "sibling prefix write",
            ufs.write("s3://bucket/prefix2/k", data()).await,
        ),
        (
            "bucket top read",
            ufs.read("s3://bucket/secret.txt", 0, 9).await.map(drop),
        ),
        ("bucket list", ufs.list("s3://bucket").await.map(drop)),
        (
            "dotdot read",
            ufs.read("s3://bucket/prefix/../secret.txt", 0, 9)
                .await
                .map(drop),
        ),
        (
            "dotdot write",
            ufs.write("s3://bucket/prefix/../secret.txt", data()).await,
        ),
        (
            "dotdot bucket",
            ufs.write("s3://../bucket/secret.txt", data()).await,
        ),
        ("NUL", ufs.write("s3://bucket/prefix/a\0b", data()).await),
        (
            "remove outside",
            ufs.remove("s3://bucket/secret.txt", false).await,
        ),
        ("remove root", ufs.remove("s3://bucket/prefix", true).await),
        (
            "remove root slash",
            ufs.remove("s3://bucket/prefix/", true).await,
        ),
        (
            "rename root",
            ufs.rename("s3://bucket/prefix", "s3://bucket/prefix/x")
                .await,
        ),
        (
            "rename out",
            ufs.rename("s3://bucket/prefix/in.txt", "s3://bucket/out.txt")
                .await,
        ),
        (
            "rename in",
            ufs.rename("s3://bucket/secret.txt", "s3://bucket/prefix/s.txt")
                .await,
        ),
        (
            "copy out",
            ufs.copy("s3://bucket/prefix/in.txt", "s3://other-bucket/in", false)
                .await,
        ),
        (
            "copy in",
            ufs.copy("s3://other-bucket/k", "s3://bucket/prefix/k", false)
                .await,
        ),
        ("mkdir outside", ufs.mkdir("s3://bucket/prefix2/d").await),
        ("touch outside", ufs.touch("s3://bucket/new").await),
        (
            "file scheme",
            ufs.read("file:///etc/passwd", 0, 9).await.map(drop),
        ),
    ];
    for (what, r) in &attempts {
        assert!(
            matches!(r, Err(Error::PermissionDenied(_))),
            "{what}: expected PermissionDenied, got {r:?}"
        );
    }
    let after = (
        bucket_dump(&admin, "bucket").await,
        bucket_dump(&admin, "other-bucket").await,
    );
    assert_eq!(before, after, "a refused request changed the buckets");
    // A literal %2e%2e stays a key inside the prefix.
    ufs.write("s3://bucket/prefix/%2e%2e/x", data())
        .await
        .unwrap();
    assert_eq!(
        admin
            .read("s3://bucket/prefix/%2e%2e/x", 0, 9)
            .await
            .unwrap(),
        "PWNED"
    );
}
