//! Finding the C++ compiler that the `cc` crate will call to build rocksdb.
//!
//! `cc` takes `$CXX` when set (its first word; the rest may be a wrapper's arguments)
//! and `c++` otherwise, so those are what must resolve on `PATH`.

use std::path::{Path, PathBuf};

use crate::listing::Listing;

/// The outcome of looking for the C++ compiler.
#[derive(Debug, PartialEq, Eq)]
pub enum Cxx {
    /// The compiler the build will use.
    Found(PathBuf),
    /// `$CXX` names a program that is not there.
    EnvMissing(String),
    /// No `c++`; `others` lists any `g++`/`clang++` found, usable through `CXX=`.
    Missing { others: Vec<PathBuf> },
}

/// Looks for the C++ compiler given `$CXX` and the directories of `$PATH`.
pub fn find(fs: &dyn Listing, cxx_env: Option<&str>, path_dirs: &[PathBuf]) -> Cxx {
    if let Some(value) = cxx_env.map(str::trim).filter(|v| !v.is_empty()) {
        let program = value.split_whitespace().next().unwrap_or(value);
        return match resolve(fs, program, path_dirs) {
            Some(path) => Cxx::Found(path),
            None => Cxx::EnvMissing(value.to_owned()),
        };
    }
    if let Some(path) = resolve(fs, "c++", path_dirs) {
        return Cxx::Found(path);
    }
    let others = ["g++", "clang++"]
        .iter()
        .filter_map(|p| resolve(fs, p, path_dirs))
        .collect();
    Cxx::Missing { others }
}

/// The executable `program` names: itself when it holds a `/`, else the first on `PATH`.
pub fn resolve(fs: &dyn Listing, program: &str, path_dirs: &[PathBuf]) -> Option<PathBuf> {
    if program.contains('/') {
        let path = Path::new(program);
        return fs.is_executable(path).then(|| path.to_path_buf());
    }
    path_dirs
        .iter()
        .map(|d| d.join(program))
        .find(|p| fs.is_executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_fs::Fake;

    fn path() -> Vec<PathBuf> {
        vec!["/usr/local/bin".into(), "/usr/bin".into()]
    }

    #[test]
    fn debian_with_g_plus_plus_has_c_plus_plus() {
        let fs = Fake::default().exe("/usr/bin/c++").exe("/usr/bin/g++");
        assert_eq!(find(&fs, None, &path()), Cxx::Found("/usr/bin/c++".into()));
    }

    #[test]
    fn fresh_machine_has_none() {
        let fs = Fake::default().exe("/usr/bin/cc").exe("/usr/bin/gcc");
        assert_eq!(find(&fs, None, &path()), Cxx::Missing { others: vec![] });
    }

    #[test]
    fn a_non_executable_file_does_not_count() {
        let fs = Fake::default().text("/usr/bin/c++");
        assert_eq!(find(&fs, None, &path()), Cxx::Missing { others: vec![] });
    }

    #[test]
    fn clang_plus_plus_alone_is_offered_through_cxx() {
        let fs = Fake::default().exe("/usr/bin/clang++");
        assert_eq!(
            find(&fs, None, &path()),
            Cxx::Missing {
                others: vec!["/usr/bin/clang++".into()]
            }
        );
        assert_eq!(
            find(&fs, Some("clang++"), &path()),
            Cxx::Found("/usr/bin/clang++".into())
        );
    }

    #[test]
    fn cxx_is_taken_first_word_and_must_exist() {
        let fs = Fake::default()
            .exe("/usr/bin/c++")
            .exe("/usr/local/bin/ccache");
        assert_eq!(
            find(&fs, Some("ccache g++"), &path()),
            Cxx::Found("/usr/local/bin/ccache".into())
        );
        assert_eq!(
            find(&fs, Some("/opt/gcc/bin/g++"), &path()),
            Cxx::EnvMissing("/opt/gcc/bin/g++".into())
        );
        assert_eq!(
            find(&fs, Some("  "), &path()),
            Cxx::Found("/usr/bin/c++".into())
        );
    }
}
