//! The storage engine seam (contract v3 section 11): the few calls the store makes of
//! an ordered key-value engine, one adapter per engine ([`sled`](self::sled) and
//! [`fjall`](self::fjall)), and the record of which engine a data directory was created
//! with.
//!
//! What the store needs, and nothing more: a point read, an ordered scan of the keys
//! that share a prefix (from a given key on), one batch of puts and deletes applied
//! atomically (durable before it returns when asked), a flush, and the bytes on disk.
//! Everything above (key families, `Kv`, `Commit`, integrity checks, Bloom filters) is
//! engine-agnostic; an engine's quirks and their workarounds stay in its adapter (sled's
//! recursive lock, its recovery-snapshot re-open and its damage checks, all in `sled.rs`).
//!
//! The engine is recorded in the directory at creation, in the file `engine` (one line,
//! `sled` or `fjall`), written before any engine file so it can be read without opening
//! one. A directory without it that holds sled's files (`conf`, `db`) was created by a
//! version before the choice existed, with sled.

pub(crate) mod fjall;
pub(crate) mod sled;

use super::StoreError;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which engine a data directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EngineKind {
    /// sled 0.34: the card's engine, the default.
    #[default]
    Sled,
    /// fjall 3: an LSM tree, for stores that outgrow sled.
    Fjall,
}

impl EngineKind {
    pub const ALL: [EngineKind; 2] = [EngineKind::Sled, EngineKind::Fjall];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Sled => "sled",
            EngineKind::Fjall => "fjall",
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "sled" => Ok(EngineKind::Sled),
            "fjall" => Ok(EngineKind::Fjall),
            other => Err(format!("unknown storage engine {other:?} (sled or fjall)")),
        }
    }
}

/// A stored key or value, borrowed from the engine without a copy.
#[derive(Clone)]
pub enum Bytes {
    Sled(::sled::IVec),
    Fjall(::fjall::Slice),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Sled(v) => v,
            Bytes::Fjall(v) => v,
        }
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// A key and its value, from a scan.
pub type Entry = (Bytes, Bytes);
/// A scan's entries in key order; the engine stays borrowed while it lives.
pub type Entries<'a> = Box<dyn Iterator<Item = Result<Entry, StoreError>> + 'a>;
/// One batch: puts (`Some`) and deletes (`None`), applied together or not at all.
pub type Batch = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// What the store asks of an engine.
pub trait Engine: Send + Sync {
    fn kind(&self) -> EngineKind;
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StoreError>;
    /// Every key that starts with `prefix` and is not before `from`, in key order.
    fn scan(&self, prefix: &[u8], from: &[u8]) -> Entries<'_>;
    /// Every key of the store (for `convert`): in key order within each of the
    /// engine's trees, the trees one after another.
    fn scan_all(&self) -> Entries<'_>;
    /// Applies `batch` atomically: after a crash at any instant either all of it or
    /// none of it is there. With `durable`, returns only once it is on disk.
    fn write(&self, batch: Batch, durable: bool) -> Result<(), StoreError>;
    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    fn is_empty(&self) -> Result<bool, StoreError>;
    fn size_on_disk(&self) -> u64;
    /// Engines that must be closed and re-opened now and then to bound their next
    /// open (sled: its recovery snapshot) do so here, returning how long it took;
    /// `None` from an engine that needs none (fjall).
    fn reopen(&self) -> Result<Option<Duration>, StoreError> {
        Ok(None)
    }
    /// The event count at the last [`Engine::reopen`] (or open); `None` when the
    /// engine needs no re-opens.
    fn reopened_at(&self) -> Option<u64> {
        None
    }
}

/// How long `open` waits for a lock that is being released.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The file that records a directory's engine.
const MARKER: &str = "engine";

/// The engine recorded in `dir`: its marker, else sled's files (a directory written
/// before the choice existed); `None` for a directory that holds no store.
pub fn recorded(dir: &Path) -> Result<Option<EngineKind>, StoreError> {
    match std::fs::read_to_string(dir.join(MARKER)) {
        Ok(s) => s.parse().map(Some).map_err(|e| StoreError::Open {
            dir: dir.display().to_string(),
            detail: format!("its file `{MARKER}`: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join("conf").exists() || dir.join("db").exists() {
                Ok(Some(EngineKind::Sled))
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(StoreError::Open {
            dir: dir.display().to_string(),
            detail: format!("reading its file `{MARKER}`: {e}"),
        }),
    }
}

/// Opens the engine of `dir`, creating the directory and recording `asked` (default
/// sled) when it holds no store. An existing store is opened with the engine that
/// created it; an `asked` engine that disagrees is refused.
pub(super) fn open(dir: &Path, asked: Option<EngineKind>) -> Result<Arc<dyn Engine>, StoreError> {
    let d = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
        dir: d.clone(),
        detail: e.to_string(),
    })?;
    let kind = match (recorded(dir)?, asked) {
        (Some(r), Some(a)) if r != a => {
            return Err(StoreError::EngineMismatch {
                dir: d,
                recorded: r,
                asked: a,
            })
        }
        (Some(r), _) => r,
        (None, a) => {
            let kind = a.unwrap_or_default();
            write_marker(dir, kind).map_err(|e| StoreError::Open {
                dir: d.clone(),
                detail: format!("recording its engine: {e}"),
            })?;
            kind
        }
    };
    Ok(match kind {
        EngineKind::Sled => Arc::new(self::sled::SledEngine::open(dir)?),
        EngineKind::Fjall => Arc::new(self::fjall::FjallEngine::open(dir)?),
    })
}

/// Writes the marker durably (file and directory entry) before any engine file.
fn write_marker(dir: &Path, kind: EngineKind) -> std::io::Result<()> {
    let tmp = dir.join(format!("{MARKER}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, format!("{kind}\n").as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(MARKER))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Runs `open` with a panic of the engine's caught as its message: sled 0.34 panics
/// on some damaged files (see `sled.rs`), and an engine's panic on opening a store is
/// damage to report in one line, not a crash. That panic is not printed, since the
/// caller reports it; one on another thread meanwhile still is.
pub(super) fn catching_panics<T>(open: impl FnOnce() -> T) -> Result<T, String> {
    static SWAPPING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SWAPPING.lock().unwrap_or_else(|e| e.into_inner());
    let opener = std::thread::current().id();
    let previous = Arc::new(std::panic::take_hook());
    let caught: Arc<Mutex<String>> = Arc::default();
    {
        let (previous, caught) = (previous.clone(), caught.clone());
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() != opener {
                return previous(info);
            }
            let payload = info.payload();
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            *caught.lock().unwrap_or_else(|e| e.into_inner()) = what;
        }));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open));
    drop(std::panic::take_hook());
    match Arc::try_unwrap(previous) {
        Ok(hook) => std::panic::set_hook(hook),
        Err(shared) => std::panic::set_hook(Box::new(move |info| shared(info))),
    }
    result.map_err(|_| caught.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

/// The conformance suite's runner: each named test body, a `fn(EngineKind)`, runs once
/// per engine, as `on_sled::<name>` and `on_fjall::<name>` (Garage's `db/test.rs` runs
/// one body per adapter the same way).
#[cfg(test)]
macro_rules! each_engine {
    ($($name:ident),* $(,)?) => {
        mod on_sled {
            $( #[test] fn $name() { super::$name($crate::store::EngineKind::Sled) } )*
        }
        mod on_fjall {
            $( #[test] fn $name() { super::$name($crate::store::EngineKind::Fjall) } )*
        }
    };
}
#[cfg(test)]
pub(crate) use each_engine;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_records_its_engine_and_refuses_another() {
        for kind in EngineKind::ALL {
            let dir = tempfile::tempdir().unwrap();
            assert_eq!(recorded(dir.path()).unwrap(), None);
            drop(open(dir.path(), Some(kind)).unwrap());
            assert_eq!(recorded(dir.path()).unwrap(), Some(kind));
            let other = EngineKind::ALL.into_iter().find(|k| *k != kind).unwrap();
            let err = open(dir.path(), Some(other)).err().unwrap().to_string();
            assert!(
                err.contains(&format!("created with the {kind} engine"))
                    && err.contains("abstraction-tracker convert")
                    && !err.contains('\n'),
                "{err}"
            );
            // No --engine: the recorded one.
            assert_eq!(open(dir.path(), None).unwrap().kind(), kind);
        }
    }

    #[test]
    fn a_directory_with_sleds_files_and_no_marker_is_sled() {
        let dir = tempfile::tempdir().unwrap();
        drop(::sled::open(dir.path()).unwrap());
        assert_eq!(recorded(dir.path()).unwrap(), Some(EngineKind::Sled));
        let err = open(dir.path(), Some(EngineKind::Fjall)).err().unwrap();
        assert!(matches!(err, StoreError::EngineMismatch { .. }), "{err}");
    }
}
