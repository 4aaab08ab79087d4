//! The input of a validated publish, read twice without being held: a regular file
//! through the same handle (its size and modification time checked between the
//! passes), standard input or a pipe copied, during the first pass, to a temporary file
//! that has no name, so nothing is left behind even if the process is killed.

use super::{validate, Tee, Validation};
use crate::wire::decode::Validator;
use anyhow::{bail, Context as _};
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek as _, Write as _};

/// Read buffer of each pass.
const READ_BUFFER: usize = 256 * 1024;

/// The input of a validated publish, readable a second time.
pub struct Input(Source);

enum Source {
    /// A regular file, read twice through the same handle; its size and modification
    /// time are checked between the passes.
    File {
        name: String,
        file: File,
        seen: (u64, Option<std::time::SystemTime>),
    },
    /// Standard input or a pipe: the first pass copies it here.
    Spool {
        source: Box<dyn std::io::Read>,
        spool: Spool,
    },
}

impl Input {
    /// `-` is standard input; a name that is not a regular file (a pipe) can be read
    /// only once too, so both are spooled.
    pub fn open(name: &str) -> anyhow::Result<Input> {
        let source: Box<dyn std::io::Read> = if name == "-" {
            Box::new(std::io::stdin())
        } else {
            let file = File::open(name).with_context(|| format!("reading {name}"))?;
            let meta = file.metadata().with_context(|| format!("reading {name}"))?;
            if meta.is_file() {
                return Ok(Input(Source::File {
                    name: name.to_string(),
                    file,
                    seen: stamp(&meta),
                }));
            }
            Box::new(file)
        };
        Ok(Input(Source::Spool {
            source,
            spool: Spool::create()?,
        }))
    }

    /// The size in bytes, when known before reading (a regular file).
    pub fn size(&self) -> Option<u64> {
        match &self.0 {
            Source::File { seen, .. } => Some(seen.0),
            Source::Spool { .. } => None,
        }
    }

    /// The validating pass ([`validate`]); `progress` gets bytes read.
    pub fn validate(
        &mut self,
        validator: &Validator,
        now_ms: i64,
        listed: usize,
        progress: impl FnMut(u64),
    ) -> anyhow::Result<Validation> {
        match &mut self.0 {
            Source::File { name, file, .. } => {
                let r = BufReader::with_capacity(READ_BUFFER, &*file);
                validate(validator, now_ms, r, listed, progress)
                    .with_context(|| format!("reading {name}"))
            }
            Source::Spool { source, spool } => {
                let copy = BufWriter::with_capacity(READ_BUFFER, &spool.file);
                let mut r = BufReader::with_capacity(
                    READ_BUFFER,
                    Tee {
                        inner: source,
                        copy,
                    },
                );
                let v = validate(validator, now_ms, &mut r, listed, progress)
                    .context("reading the input, or copying it to a temporary file")?;
                r.into_inner()
                    .copy
                    .flush()
                    .context("copying the input to a temporary file")?;
                Ok(v)
            }
        }
    }

    /// The same bytes again, from the start.
    pub fn rewind(&mut self) -> anyhow::Result<BufReader<&File>> {
        let file = match &mut self.0 {
            Source::File { name, file, seen } => {
                let now = stamp(&file.metadata()?);
                if now != *seen {
                    bail!("{name} changed while it was being validated; nothing was published");
                }
                &*file
            }
            Source::Spool { spool, .. } => &spool.file,
        };
        let mut f = file;
        f.rewind().context("rewinding the input")?;
        Ok(BufReader::with_capacity(READ_BUFFER, f))
    }
}

fn stamp(meta: &std::fs::Metadata) -> (u64, Option<std::time::SystemTime>) {
    (meta.len(), meta.modified().ok())
}

/// A temporary file with no name (unlinked as soon as it is created, on Unix), so
/// nothing is left behind even if the process is killed.
struct Spool {
    file: File,
    path: Option<std::path::PathBuf>,
}

impl Spool {
    fn create() -> anyhow::Result<Spool> {
        let dir = std::env::temp_dir();
        for attempt in 0..100u32 {
            let path = dir.join(format!(
                ".abstraction-tracker-publish-{}-{attempt}",
                std::process::id()
            ));
            let file = match File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating a temporary file in {}", dir.display()))
                }
            };
            // Unix lets an open file lose its name; elsewhere it is removed on drop.
            let path = std::fs::remove_file(&path).is_err().then_some(path);
            return Ok(Spool { file, path });
        }
        bail!("creating a temporary file in {}", dir.display())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reference::Reference;
    use std::io::Read as _;

    #[test]
    fn a_file_is_read_again_from_the_start_unless_it_changed() {
        let v = Validator::new(Reference::west_midlands());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.ndjson");
        std::fs::write(&path, "{not json\n").unwrap();
        let name = path.to_str().unwrap();
        let mut input = Input::open(name).unwrap();
        assert_eq!(input.size(), Some(10));
        let checked = input.validate(&v, 0, 5, |_| {}).unwrap();
        assert_eq!(checked.refused, vec![1]);
        let mut again = String::new();
        input.rewind().unwrap().read_to_string(&mut again).unwrap();
        assert_eq!(again, "{not json\n");

        let mut input = Input::open(name).unwrap();
        input.validate(&v, 0, 5, |_| {}).unwrap();
        std::fs::write(&path, "{not json\n{\"more\":1}\n").unwrap();
        let err = input.rewind().unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
    }
}
