//! The filesystem as the checks see it: directory entries, ELF headers and execute bits.
//! The real one reads the disk; tests use `fake_fs`, built from a list of paths.

use std::fs;
use std::io::Read;
use std::path::Path;

/// What the prerequisite checks need to know about files.
pub trait Listing {
    /// The entries of `dir`, each with whether it is a directory (following symlinks).
    /// Empty when `dir` does not exist or cannot be read.
    fn entries(&self, dir: &Path) -> Vec<(String, bool)>;
    /// The ELF class byte (1: 32-bit, 2: 64-bit) of the file `path` leads to, or `None`
    /// when it is missing, unreadable or not ELF.
    fn elf_class(&self, path: &Path) -> Option<u8>;
    /// Whether `path` leads to an executable regular file.
    fn is_executable(&self, path: &Path) -> bool;
}

/// The real filesystem.
pub struct Disk;

impl Listing for Disk {
    fn entries(&self, dir: &Path) -> Vec<(String, bool)> {
        let Ok(read) = fs::read_dir(dir) else {
            return Vec::new();
        };
        read.filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                // `metadata` follows symlinks, as the globs in clang-sys do.
                let is_dir = fs::metadata(e.path()).map(|m| m.is_dir()).unwrap_or(false);
                Some((name, is_dir))
            })
            .collect()
    }

    fn elf_class(&self, path: &Path) -> Option<u8> {
        let mut header = [0u8; 5];
        fs::File::open(path).ok()?.read_exact(&mut header).ok()?;
        (header[..4] == *b"\x7fELF").then_some(header[4])
    }

    fn is_executable(&self, path: &Path) -> bool {
        let Ok(meta) = fs::metadata(path) else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            meta.is_file() && meta.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        {
            meta.is_file()
        }
    }
}

/// The ELF class of libraries this machine can load: 2 for 64-bit, 1 for 32-bit.
pub fn host_elf_class() -> u8 {
    if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    }
}
