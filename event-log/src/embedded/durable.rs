//! What makes an embedded commit survive a power loss, not only a crash of the process.
//!
//! sled's `flush` writes the log buffers and calls `sync_file_range`, which starts and waits for
//! writeback of those pages but neither flushes the drive's volatile cache nor makes the file's
//! size durable; and values too large for its log (above 128 KiB) go to files of their own under
//! `blobs/`, written without a sync. So after sled's flush a commit also calls `fdatasync` on
//! sled's data file, `fsync` on every blob file written since the last commit, and `fsync` on the
//! blob directory when it gained files. Only then does `commit` return.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The files a commit must sync, and how far the blob files have been synced.
pub(super) struct Durability {
    data: File,
    blobs: PathBuf,
    /// Names of blob files already synced (sled names them by log sequence number).
    blobs_synced: std::collections::BTreeSet<String>,
}

impl Durability {
    /// For the log in `dir`, whose data file sled has created.
    pub fn open(dir: &Path) -> io::Result<Durability> {
        let blobs = dir.join("blobs");
        Ok(Durability {
            data: File::open(dir.join("db"))?,
            blobs_synced: blob_names(&blobs)?.into_iter().collect(),
            blobs,
        })
    }

    /// Makes everything sled flushed durable: the data file's contents, new blob files and
    /// the directory entries that name them.
    pub fn sync(&mut self) -> io::Result<()> {
        self.data.sync_data()?;
        let mut new = false;
        for name in blob_names(&self.blobs)? {
            if self.blobs_synced.contains(&name) {
                continue;
            }
            File::open(self.blobs.join(&name))?.sync_all()?;
            self.blobs_synced.insert(name);
            new = true;
        }
        if new {
            File::open(&self.blobs)?.sync_all()?;
        }
        Ok(())
    }
}

fn blob_names(blobs: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(blobs) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}
