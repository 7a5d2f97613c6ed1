//! The build's system prerequisites on this machine: looking, reporting, installing.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::compiler::{self, Cxx};
use crate::libclang::{self, Found, SearchInput};
use crate::listing::{Disk, Listing};
use crate::packages::{ForPerson, Manager, Need, Privilege, uid_from_status};

/// What was found on this machine.
pub struct Report {
    libclang_path: Option<PathBuf>,
    libclang: Found,
    cxx: Cxx,
    path_dirs: Vec<PathBuf>,
}

/// A problem no package installs: a variable that points nowhere.
struct Blocker(String);

impl Report {
    /// Looks at this machine now.
    pub fn check() -> Report {
        let disk = Disk;
        let path_dirs: Vec<PathBuf> = env::var_os("PATH")
            .map(|p| env::split_paths(&p).collect())
            .unwrap_or_default();
        let libclang_path = env::var_os("LIBCLANG_PATH")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let input = SearchInput {
            libclang_path: libclang_path.clone(),
            llvm_prefix: llvm_prefix(),
            library_path_dirs: ["LD_LIBRARY_PATH", "LIBRARY_PATH"]
                .iter()
                .filter_map(env::var_os)
                .flat_map(|p| env::split_paths(&p).collect::<Vec<_>>())
                .collect(),
            ldconfig: ldconfig_cache(&disk, &path_dirs),
        };
        Report {
            libclang: libclang::search(&disk, &input),
            libclang_path,
            cxx: compiler::find(&disk, env::var("CXX").ok().as_deref(), &path_dirs),
            path_dirs,
        }
    }

    /// What a package would fix.
    fn needs(&self) -> Vec<Need> {
        let mut needs = Vec::new();
        if !self.libclang.ok()
            && self.libclang.ldconfig_only.is_empty()
            && self.libclang_path.is_none()
        {
            needs.push(Need::Libclang);
        }
        if matches!(&self.cxx, Cxx::Missing { others } if others.is_empty()) {
            needs.push(Need::Cxx);
        }
        needs
    }

    fn blockers(&self) -> Vec<Blocker> {
        let mut out = Vec::new();
        if let (Some(path), false) = (&self.libclang_path, self.libclang.ok()) {
            out.push(Blocker(format!(
                "LIBCLANG_PATH={} holds no libclang.so or libclang-<version>.so, and clang-sys \
                 looks nowhere else when it is set: unset it, or point it at the directory \
                 that holds libclang.so",
                path.display()
            )));
        }
        if let Cxx::EnvMissing(value) = &self.cxx {
            out.push(Blocker(format!(
                "CXX={value} is not an executable on PATH: unset CXX to use c++, or fix it"
            )));
        }
        out
    }

    /// Variables the build needs set to find what is present but off its usual path.
    pub fn build_env(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.libclang.ok() && self.libclang_path.is_none() {
            if let Some(dir) = self.libclang.ldconfig_only.first().and_then(|p| p.parent()) {
                out.push(("LIBCLANG_PATH", dir.display().to_string()));
            }
        }
        if let Cxx::Missing { others } = &self.cxx {
            if let Some(other) = others.first() {
                out.push(("CXX", other.display().to_string()));
            }
        }
        out
    }

    /// Whether the build will get through with `build_env` set.
    pub fn ready(&self) -> bool {
        self.needs().is_empty() && self.blockers().is_empty()
    }

    /// Prints what was found, one line a prerequisite, then what to do.
    pub fn print(&self) {
        self.print_status();
        self.print_advice();
    }

    /// Prints what was found, one line a prerequisite, and what no package fixes.
    fn print_status(&self) {
        println!("meshpay build prerequisites:");
        let found = &self.libclang;
        match (found.linkable.first(), found.ldconfig_only.first()) {
            (Some(first), _) => println!(
                "  libclang      ok       {}{}",
                first.display(),
                more(found.linkable.len())
            ),
            (None, Some(hint)) => println!(
                "  libclang      ok*      {} (known to ldconfig, outside the directories \
                 clang-sys searches: needs LIBCLANG_PATH={})",
                hint.display(),
                hint.parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            (None, None) => {
                println!(
                    "  libclang      MISSING  no libclang.so or libclang-<version>.so where \
                     clang-sys looks ({}); libclang-cpp.so.* is a different library and does \
                     not count",
                    match &self.libclang_path {
                        Some(p) => format!("LIBCLANG_PATH={}", p.display()),
                        None => "llvm-config's prefix, LD_LIBRARY_PATH, LIBRARY_PATH, \
                                 /usr/lib*, /usr/local/lib*"
                            .to_owned(),
                    }
                );
                if !found.runtime_only.is_empty() {
                    println!(
                        "                         present but not linkable (no development \
                         symlink): {}",
                        list(&found.runtime_only)
                    );
                }
            }
        }
        if !found.invalid.is_empty() {
            println!(
                "                         ignored (not a library for this machine): {}",
                list(&found.invalid)
            );
        }
        match &self.cxx {
            Cxx::Found(path) => println!("  C++ compiler  ok       {}", path.display()),
            Cxx::EnvMissing(value) => println!("  C++ compiler  MISSING  CXX={value} not found"),
            Cxx::Missing { others } if others.is_empty() => {
                println!("  C++ compiler  MISSING  no c++ on PATH")
            }
            Cxx::Missing { others } => println!(
                "  C++ compiler  ok*      no c++ on PATH; {} (needs CXX={})",
                others[0].display(),
                others[0].display()
            ),
        }
        for blocker in self.blockers() {
            println!("\n{}", blocker.0);
        }
    }

    /// Prints why each missing piece is needed and the command that installs it.
    fn print_advice(&self) {
        let needs = self.needs();
        if !needs.is_empty() {
            println!();
            for need in &needs {
                println!("{}: {}.", name(*need), need.why());
            }
            match Manager::detect(|p| compiler::resolve(&Disk, p, &self.path_dirs).is_some()) {
                Some(manager) => {
                    let commands = manager.commands(&needs);
                    println!("To install, run:\n");
                    println!(
                        "    {}\n",
                        ForPerson {
                            commands: &commands,
                            root: is_root()
                        }
                    );
                    println!(
                        "or `cargo xtask setup`, which runs it itself as root or with \
                         passwordless sudo."
                    );
                }
                None => println!(
                    "No known package manager (apt-get, dnf, yum, zypper, pacman, apk) here: \
                     install libclang with its development files (libclang.so) and a C++ \
                     compiler, or set LIBCLANG_PATH to the directory holding libclang.so."
                ),
            }
        }
        let vars = self.build_env();
        if self.ready() {
            println!(
                "\nAll set: `cargo xtask demo` and `cargo xtask test` will build{}.",
                if vars.is_empty() {
                    ""
                } else {
                    " (they set the variables above)"
                }
            );
            if !vars.is_empty() {
                let line: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("For plain cargo commands: export {}", line.join(" "));
            }
        }
    }
}

/// Makes sure the build's prerequisites are present, installing what is missing when
/// this process may; returns the variables the build needs, or a message saying what to
/// do.
pub fn ensure() -> Result<Vec<(&'static str, String)>, String> {
    if !cfg!(target_os = "linux") {
        // The checks know Linux's layouts only; elsewhere the build reports for itself.
        return Ok(Vec::new());
    }
    let report = Report::check();
    if report.ready() {
        return Ok(report.build_env());
    }
    if let Some(blocker) = report.blockers().into_iter().next() {
        return Err(blocker.0);
    }
    let needs = report.needs();
    let disk = Disk;
    let Some(manager) =
        Manager::detect(|p| compiler::resolve(&disk, p, &report.path_dirs).is_some())
    else {
        report.print();
        return Err(
            "missing build prerequisites, and no known package manager to install them".into(),
        );
    };
    let commands = manager.commands(&needs);
    let privilege = privilege(&report.path_dirs);
    let for_person = ForPerson {
        commands: &commands,
        root: privilege == Privilege::Root,
    };
    if privilege == Privilege::None {
        report.print_status();
        let why: Vec<String> = needs
            .iter()
            .map(|n| format!("{}: {}.", name(*n), n.why()))
            .collect();
        return Err(format!(
            "missing build prerequisites.\n{}\nInstalling them needs root (or sudo without a \
             password). Run:\n\n    {for_person}\n\nthen run this command again.",
            why.join("\n")
        ));
    }
    for need in &needs {
        eprintln!("meshpay: {} is missing: {}.", name(*need), need.why());
    }
    eprintln!("meshpay: installing with: {for_person}");
    for command in &commands {
        let argv = command.argv_as(privilege);
        eprintln!("meshpay: running {}", argv.join(" "));
        let mut child = Command::new(&argv[0]);
        child.args(&argv[1..]);
        if let Some((k, v)) = command.env {
            child.env(k, v);
        }
        let status = child
            .status()
            .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
        if !status.success() {
            return Err(format!(
                "`{}` failed ({status}); fix what it says, or run yourself:\n\n    {for_person}",
                argv.join(" ")
            ));
        }
    }
    let after = Report::check();
    if !after.ready() {
        after.print_status();
        return Err(
            "the packages were installed but the build's prerequisites are still not found".into(),
        );
    }
    eprintln!("meshpay: build prerequisites installed.");
    Ok(after.build_env())
}

fn name(need: Need) -> &'static str {
    match need {
        Need::Libclang => "libclang",
        Need::Cxx => "A C++ compiler",
    }
}

fn more(n: usize) -> String {
    if n > 1 {
        format!(" (and {} more)", n - 1)
    } else {
        String::new()
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line of `llvm-config --prefix`, as clang-sys runs it.
fn llvm_prefix() -> Option<PathBuf> {
    let program = env::var("LLVM_CONFIG_PATH").unwrap_or_else(|_| "llvm-config".into());
    let output = Command::new(program)
        .arg("--prefix")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .next()
        .map(|l| PathBuf::from(l.trim()))
        .filter(|p| !p.as_os_str().is_empty())
}

/// `ldconfig -p`, looking in /sbin too: a normal user's PATH often lacks it.
fn ldconfig_cache(fs: &dyn Listing, path_dirs: &[PathBuf]) -> String {
    let program = compiler::resolve(fs, "ldconfig", path_dirs).or_else(|| {
        ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
            .map(PathBuf::from)
            .into_iter()
            .find(|p| fs.is_executable(p))
    });
    let Some(program) = program else {
        return String::new();
    };
    Command::new(program)
        .arg("-p")
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| uid_from_status(&s))
        == Some(0)
}

fn privilege(path_dirs: &[PathBuf]) -> Privilege {
    if is_root() {
        return Privilege::Root;
    }
    let Some(sudo) = compiler::resolve(&Disk, "sudo", path_dirs) else {
        return Privilege::None;
    };
    let passwordless = Command::new(sudo)
        .args(["-n", "true"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if passwordless {
        Privilege::Sudo
    } else {
        Privilege::None
    }
}
