//! Finding libclang where clang-sys (under bindgen, under librocksdb-sys) will look for it.
//!
//! The node builds rocksdb without bindgen's `runtime` feature, so clang-sys links
//! libclang at build time and accepts only `libclang.so` or `libclang-*.so`: the
//! versioned `libclang.so.1` that a runtime-only package ships is not enough, and
//! `libclang-cpp.so.*` (the C++ library) never counts.

use std::path::{Path, PathBuf};

use crate::listing::{Listing, host_elf_class};

/// The directory patterns clang-sys searches on Linux, in its order (matched
/// case-insensitively, each `*` within one path component).
pub const SEARCHED_DIRECTORIES: &[&str] = &[
    "/usr/local/llvm*/lib*",
    "/usr/local/lib*/*/*",
    "/usr/local/lib*/*",
    "/usr/local/lib*",
    "/usr/lib*/*/*",
    "/usr/lib*/*",
    "/usr/lib*",
];

/// What the search starts from besides the disk: the environment and the output of
/// two commands.
#[derive(Default, Debug)]
pub struct SearchInput {
    /// `LIBCLANG_PATH`: when set, clang-sys looks there and nowhere else.
    pub libclang_path: Option<PathBuf>,
    /// `llvm-config --prefix` (or `$LLVM_CONFIG_PATH --prefix`), first line.
    pub llvm_prefix: Option<PathBuf>,
    /// The directories of `LD_LIBRARY_PATH`, then of `LIBRARY_PATH`.
    pub library_path_dirs: Vec<PathBuf>,
    /// The output of `ldconfig -p`, empty if it could not run.
    pub ldconfig: String,
}

/// How a file name counts for clang-sys.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum NameKind {
    /// `libclang.so`, `libclang-14.so`: the linker can use it.
    Linkable,
    /// `libclang.so.1`, `libclang-14.so.1`: loadable, not linkable.
    RuntimeOnly,
}

/// Classifies a file name as clang-sys's globs do; `None` when it is not libclang
/// (including `libclang-cpp.so.14`, the C++ library, which clang-sys skips).
pub fn classify(name: &str) -> Option<NameKind> {
    if name.contains("-cpp.") {
        return None;
    }
    if name == "libclang.so" {
        return Some(NameKind::Linkable);
    }
    if name.starts_with("libclang.so.") {
        return Some(NameKind::RuntimeOnly);
    }
    let rest = name.strip_prefix("libclang-")?;
    if rest.ends_with(".so") {
        Some(NameKind::Linkable)
    } else if rest.contains(".so.") {
        Some(NameKind::RuntimeOnly)
    } else {
        None
    }
}

/// What the search found.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Found {
    /// Libraries clang-sys would accept, in its order of preference.
    pub linkable: Vec<PathBuf>,
    /// Libraries that can be loaded but not linked (no `.so` development symlink).
    pub runtime_only: Vec<PathBuf>,
    /// Libraries listed by `ldconfig -p` that exist, are linkable and lie outside the
    /// directories clang-sys searches: `LIBCLANG_PATH` set to their directory helps.
    pub ldconfig_only: Vec<PathBuf>,
    /// Matching names that are not libraries for this machine (wrong word size, a
    /// dangling symlink, a linker script).
    pub invalid: Vec<PathBuf>,
}

impl Found {
    /// Whether the build will find libclang as things stand.
    pub fn ok(&self) -> bool {
        !self.linkable.is_empty()
    }
}

/// Searches for libclang as clang-sys does, plus `ldconfig -p` for hints.
pub fn search(fs: &dyn Listing, input: &SearchInput) -> Found {
    let mut found = Found::default();
    let mut seen = Vec::new();

    let mut dirs = Vec::new();
    if let Some(path) = &input.libclang_path {
        // clang-sys accepts LIBCLANG_PATH naming the library itself, else a directory.
        if let (Some(parent), Some(name)) = (path.parent(), path.file_name()) {
            let name = name.to_string_lossy();
            if classify(&name).is_some() && fs.entries(parent).iter().any(|(n, _)| *n == name) {
                record(fs, &mut found, &mut seen, parent, &name);
                return found;
            }
        }
        dirs.push(path.clone());
    } else {
        if let Some(prefix) = &input.llvm_prefix {
            for sub in ["bin", "lib", "lib64"] {
                dirs.push(prefix.join(sub));
            }
        }
        dirs.extend(input.library_path_dirs.iter().cloned());
        for pattern in SEARCHED_DIRECTORIES {
            dirs.extend(expand(fs, pattern));
        }
    }

    for dir in &dirs {
        let mut names: Vec<String> = fs.entries(dir).into_iter().map(|(n, _)| n).collect();
        names.sort();
        for name in names {
            record(fs, &mut found, &mut seen, dir, &name);
        }
    }

    // ldconfig knows libraries that the globs miss on systems where /lib is not a
    // symlink to /usr/lib, or with a custom ld.so.conf.
    if input.libclang_path.is_none() {
        for path in ldconfig_paths(&input.ldconfig) {
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            if classify(&name) == Some(NameKind::Linkable)
                && !dirs.iter().any(|d| d == dir)
                && fs.elf_class(&path) == Some(host_elf_class())
                && !found.ldconfig_only.contains(&path)
            {
                found.ldconfig_only.push(path);
            }
        }
    }
    found
}

fn record(fs: &dyn Listing, found: &mut Found, seen: &mut Vec<PathBuf>, dir: &Path, name: &str) {
    let Some(kind) = classify(name) else {
        return;
    };
    let path = dir.join(name);
    if seen.contains(&path) {
        return;
    }
    seen.push(path.clone());
    if fs.elf_class(&path) != Some(host_elf_class()) {
        found.invalid.push(path);
    } else if kind == NameKind::Linkable {
        found.linkable.push(path);
    } else {
        found.runtime_only.push(path);
    }
}

/// The library paths in `ldconfig -p` output whose names look like libclang.
pub fn ldconfig_paths(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| {
            let name = line.split_whitespace().next()?;
            classify(name)?;
            let (_, path) = line.rsplit_once(" => ")?;
            Some(PathBuf::from(path.trim()))
        })
        .collect()
}

/// The directories a pattern such as `/usr/lib*/*/*` names on `fs`, sorted.
pub fn expand(fs: &dyn Listing, pattern: &str) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::from("/")];
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for dir in &current {
            let mut matched: Vec<PathBuf> = fs
                .entries(dir)
                .into_iter()
                .filter(|(name, is_dir)| *is_dir && wildcard_match(component, name))
                .map(|(name, _)| dir.join(name))
                .collect();
            matched.sort();
            next.extend(matched);
        }
        current = next;
    }
    current
}

/// Case-insensitive match of `name` against `pattern`, where `*` is any run of characters.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    // Greedy matcher with backtracking to the last star.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_fs::Fake;

    /// Debian 12 after `apt-get install libclang-dev`.
    fn debian_with_dev() -> Fake {
        Fake::default()
            .lib("/usr/lib/x86_64-linux-gnu/libclang-14.so.14.0.6")
            .lib("/usr/lib/x86_64-linux-gnu/libclang-14.so.13")
            .lib("/usr/lib/x86_64-linux-gnu/libclang-14.so.1")
            .lib("/usr/lib/x86_64-linux-gnu/libclang-14.so")
            .lib("/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14")
            .lib("/usr/lib/llvm-14/lib/libclang.so")
            .lib("/usr/lib/llvm-14/lib/libclang-14.so")
            .lib("/usr/lib/llvm-14/lib/libclang-cpp.so.14")
            .text("/usr/lib/llvm-14/lib/libclangBasic.a")
    }

    /// A fresh Debian 12 with only the C++ library (pulled in by other packages).
    fn debian_fresh() -> Fake {
        Fake::default()
            .lib("/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14")
            .lib("/usr/lib/llvm-14/lib/libclang-cpp.so.14")
            .lib("/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1")
    }

    const LDCONFIG_FRESH: &str = "\
1234 libs found in cache `/etc/ld.so.cache'
\tlibclang-cpp.so.14 (libc6,x86-64) => /lib/x86_64-linux-gnu/libclang-cpp.so.14
\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6
";

    #[test]
    fn names_classified_as_clang_sys_globs_do() {
        assert_eq!(classify("libclang.so"), Some(NameKind::Linkable));
        assert_eq!(classify("libclang-14.so"), Some(NameKind::Linkable));
        assert_eq!(classify("libclang-14.0.6.so"), Some(NameKind::Linkable));
        assert_eq!(classify("libclang.so.1"), Some(NameKind::RuntimeOnly));
        assert_eq!(classify("libclang-14.so.13"), Some(NameKind::RuntimeOnly));
        assert_eq!(classify("libclang-cpp.so.14"), None);
        assert_eq!(classify("libclang-cpp.so"), None);
        assert_eq!(classify("libclangBasic.a"), None);
        assert_eq!(classify("libclang.a"), None);
        assert_eq!(classify("libclang-14.a"), None);
    }

    #[test]
    fn fresh_machine_with_only_libclang_cpp_is_missing() {
        let input = SearchInput {
            ldconfig: LDCONFIG_FRESH.into(),
            ..Default::default()
        };
        let found = search(&debian_fresh(), &input);
        assert!(!found.ok());
        assert_eq!(found, Found::default());
    }

    #[test]
    fn ldconfig_line_for_libclang_cpp_is_not_libclang() {
        assert!(ldconfig_paths(LDCONFIG_FRESH).is_empty());
    }

    #[test]
    fn debian_with_dev_package_is_found_in_both_directories() {
        let found = search(&debian_with_dev(), &SearchInput::default());
        assert!(found.ok());
        assert!(
            found
                .linkable
                .contains(&"/usr/lib/llvm-14/lib/libclang.so".into())
        );
        assert!(
            found
                .linkable
                .contains(&"/usr/lib/x86_64-linux-gnu/libclang-14.so".into())
        );
        assert!(
            found
                .runtime_only
                .contains(&"/usr/lib/x86_64-linux-gnu/libclang-14.so.1".into())
        );
        assert!(found.invalid.is_empty());
    }

    #[test]
    fn runtime_library_without_dev_symlink_is_not_enough() {
        let fs = Fake::default()
            .lib("/usr/lib/x86_64-linux-gnu/libclang-14.so.1")
            .lib("/usr/lib/llvm-14/lib/libclang.so.1");
        let found = search(&fs, &SearchInput::default());
        assert!(!found.ok());
        assert_eq!(found.runtime_only.len(), 2);
    }

    #[test]
    fn llvm_config_prefix_is_searched() {
        let fs = Fake::default().lib("/opt/llvm-18/lib/libclang.so");
        let input = SearchInput {
            llvm_prefix: Some("/opt/llvm-18".into()),
            ..Default::default()
        };
        let found = search(&fs, &input);
        assert_eq!(
            found.linkable,
            vec![PathBuf::from("/opt/llvm-18/lib/libclang.so")]
        );
    }

    #[test]
    fn other_distributions_directories_are_searched() {
        for path in [
            "/usr/lib64/libclang.so",                    // Fedora, openSUSE
            "/usr/lib/libclang.so",                      // Arch, Alpine
            "/usr/local/lib/libclang.so",                // built from source
            "/usr/local/llvm17/lib/libclang.so",         // FreeBSD-style prefix
            "/usr/lib/aarch64-linux-gnu/libclang-16.so", // another multiarch directory
        ] {
            let found = search(&Fake::default().lib(path), &SearchInput::default());
            assert_eq!(found.linkable, vec![PathBuf::from(path)], "{path}");
        }
    }

    #[test]
    fn libclang_path_is_the_only_place_searched() {
        let input = SearchInput {
            libclang_path: Some("/opt/empty".into()),
            ..Default::default()
        };
        let fs = debian_with_dev().text("/opt/empty/README");
        assert!(!search(&fs, &input).ok());

        let input = SearchInput {
            libclang_path: Some("/usr/lib/llvm-14/lib/libclang.so".into()),
            ..Default::default()
        };
        let found = search(&debian_with_dev(), &input);
        assert_eq!(
            found.linkable,
            vec![PathBuf::from("/usr/lib/llvm-14/lib/libclang.so")]
        );
    }

    #[test]
    fn library_of_the_wrong_word_size_or_not_elf_is_invalid() {
        let fs = Fake::default()
            .foreign_lib("/usr/lib32/libclang.so")
            .text("/usr/lib/libclang.so");
        let found = search(&fs, &SearchInput::default());
        assert!(!found.ok());
        assert_eq!(found.invalid.len(), 2);
    }

    #[test]
    fn ldconfig_entry_outside_the_searched_directories_is_a_hint() {
        let fs = Fake::default().lib("/lib/x86_64-linux-gnu/libclang-14.so");
        let input = SearchInput {
            ldconfig: "\tlibclang-14.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libclang-14.so\n"
                .into(),
            ..Default::default()
        };
        let found = search(&fs, &input);
        assert!(!found.ok());
        assert_eq!(
            found.ldconfig_only,
            vec![PathBuf::from("/lib/x86_64-linux-gnu/libclang-14.so")]
        );
    }

    #[test]
    fn stale_ldconfig_entry_for_a_removed_file_is_ignored() {
        let input = SearchInput {
            ldconfig: "\tlibclang-14.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libclang-14.so\n"
                .into(),
            ..Default::default()
        };
        assert_eq!(search(&Fake::default(), &input), Found::default());
    }

    #[test]
    fn directory_patterns_expand_one_component_per_star() {
        let fs = debian_with_dev().text("/usr/lib/os-release");
        let dirs = expand(&fs, "/usr/lib*/*/*");
        assert_eq!(dirs, vec![PathBuf::from("/usr/lib/llvm-14/lib")]);
        let dirs = expand(&fs, "/usr/lib*/*");
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/usr/lib/llvm-14"),
                PathBuf::from("/usr/lib/x86_64-linux-gnu")
            ]
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("lib*", "lib64"));
        assert!(wildcard_match("lib*", "lib"));
        assert!(wildcard_match("llvm*", "LLVM-17"));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(!wildcard_match("lib*", "share"));
    }
}
