//! [`FileDisk`]: a node's files in one directory of the real file system.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{Disk, check_name};

/// A directory (`--data-dir`) holding a node's files.
pub struct FileDisk {
    dir: PathBuf,
    /// Files open for appending.
    open: HashMap<String, File>,
}

impl FileDisk {
    /// The disk in `dir`, created if missing.
    pub fn open(dir: &Path) -> io::Result<FileDisk> {
        std::fs::create_dir_all(dir)?;
        Ok(FileDisk {
            dir: dir.to_path_buf(),
            open: HashMap::new(),
        })
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }

    fn appender(&mut self, name: &str) -> io::Result<&mut File> {
        if !self.open.contains_key(name) {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path(name)?)?;
            self.open.insert(name.to_string(), file);
        }
        Ok(self.open.get_mut(name).expect("just opened"))
    }

    /// Syncs the directory, so that a created or renamed file's entry is
    /// durable too.
    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

impl Disk for FileDisk {
    fn read(&mut self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let mut bytes = Vec::new();
        match File::open(self.path(name)?) {
            Ok(mut f) => f.read_to_end(&mut bytes).map(|_| Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let created = !self.open.contains_key(name) && !self.path(name)?.exists();
        self.appender(name)?.write_all(bytes)?;
        if created {
            self.sync_dir()?;
        }
        Ok(())
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        match self.open.get_mut(name) {
            // fdatasync: the data and the length, not the times.
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }

    fn replace(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(name)?;
        let aside = self.dir.join(format!(".{name}.new"));
        {
            let mut f = File::create(&aside)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&aside, &path)?;
        // An appender open on the old file would write to the unlinked one.
        self.open.remove(name);
        self.sync_dir()
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        let path = self.path(name)?;
        self.open.remove(name);
        let f = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && len == 0 => return Ok(()),
            Err(e) => return Err(e),
        };
        f.set_len(len)?;
        f.sync_all()
    }
}
