//! `cargo xtask dist`: the Debian package (`target/debian/dumpvault_VERSION-1_ARCH.deb`), then
//! its check.
//!
//! The package is staged in a directory and built by `dpkg-deb --build` (dpkg-deb is part of
//! every Debian system), not by cargo-deb, whose `cargo install` takes minutes on a small CI
//! machine. Its fields and file list come from `[package.metadata.deb]` in Cargo.toml (read with
//! `cargo metadata`), so `cargo deb` builds the same package from the same table once this
//! command has generated the assets under `target/assets/`: the man pages (`dumpvault man`, as
//! `cargo xtask man`) and the bash, zsh and fish completions (`dumpvault completions SHELL`).
//!
//! The check lists the package (`dpkg-deb -c`: the binary, man pages, completions, systemd
//! units, docs, every asset of the table, all owned by root), reads its fields (`dpkg-deb -f`),
//! parses the maintainer scripts (`sh -n`), runs the packaged binary, and verifies the units
//! with `systemd-analyze verify` and `systemd-analyze security` on the unpacked tree where
//! systemd-analyze is installed (said in the output when it is not).

use crate::{cargo, root, run, target_dir, write_man_pages};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Files the package must hold whatever the asset table says (issue 18).
const REQUIRED: &[&str] = &[
    "usr/bin/dumpvault",
    "usr/share/man/man1/dumpvault.1.gz",
    "usr/share/man/man1/dumpvault-run.1.gz",
    "usr/share/man/man1/dumpvault-snapshot.1.gz",
    "usr/share/man/man1/dumpvault-restore.1.gz",
    "usr/share/bash-completion/completions/dumpvault",
    "usr/share/zsh/vendor-completions/_dumpvault",
    "usr/share/fish/vendor_completions.d/dumpvault.fish",
    "lib/systemd/system/dumpvault-run.service",
    "lib/systemd/system/dumpvault-run.timer",
    "usr/lib/sysusers.d/dumpvault.conf",
    "usr/share/doc/dumpvault/copyright",
    "usr/share/doc/dumpvault/README.md.gz",
    "usr/share/doc/dumpvault/examples/dumpvault.toml",
];

/// Lines the service must hold: what it runs, as whom, and its sandbox.
const UNIT_SERVICE: &[&str] = &[
    "Type=oneshot",
    "User=dumpvault",
    "ExecStart=/usr/bin/dumpvault run --config /etc/dumpvault/dumpvault.toml",
    "StateDirectory=dumpvault",
    "CacheDirectory=dumpvault",
    "Environment=DUMPVAULT_CACHE_DIR=/var/cache/dumpvault",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "NoNewPrivileges=yes",
];

/// Lines the timer must hold.
const UNIT_TIMER: &[&str] = &[
    "OnCalendar=hourly",
    "RandomizedDelaySec=10min",
    "Persistent=true",
    "WantedBy=timers.target",
];

/// Which build of the binary goes into the package.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Profile {
    /// `cargo build --release`; xz-compressed package.
    Release,
    /// The debug build (the one the tests use); fast gzip compression. For tests only.
    Dev,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "debug",
        }
    }
}

/// What `cargo xtask dist` was asked for.
#[derive(Debug, PartialEq)]
struct Options {
    profile: Profile,
    /// Build the binary first (`--no-build`: package the one in target/PROFILE as it is).
    build: bool,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        profile: Profile::Release,
        build: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-build" => o.build = false,
            "--profile" => {
                o.profile = match it.next().map(String::as_str) {
                    Some("release") => Profile::Release,
                    Some("dev") => Profile::Dev,
                    other => bail!("--profile takes release or dev, not {other:?}"),
                }
            }
            other => bail!(
                "unknown argument {other:?}; usage: cargo xtask dist [--profile release|dev] [--no-build]"
            ),
        }
    }
    Ok(o)
}

/// `cargo xtask dist [--profile release|dev] [--no-build]`: builds the binary, generates the
/// assets, builds the package and checks it; prints the package's path.
pub fn main(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    if o.build {
        match o.profile {
            Profile::Release => {
                println!("--- building the release binary (first time: several minutes)");
                run(cargo().args(["build", "--release", "--bin", "dumpvault"]))?;
            }
            Profile::Dev => {
                println!("--- building the debug binary (first time: several minutes)");
                run(cargo().args(["build", "--bin", "dumpvault"]))?;
            }
        }
    }
    let (deb, staged) = package(o.profile)?;
    check(&deb, &staged)?;
    println!("package: {}", deb.display());
    Ok(())
}

/// The packaging step of `cargo xtask test`: packages the debug binary as the test suite
/// built it (with the test hooks; `cargo test --workspace --no-run` is then a no-op, so CI
/// compiles nothing more), checks the package and says how long it took.
pub fn test() -> Result<()> {
    let t = Instant::now();
    println!("--- packaging check: the debug binary in a .deb, listed, unpacked and verified");
    run(cargo().args(["test", "--workspace", "--no-run", "--quiet"]))?;
    let (deb, staged) = package(Profile::Dev)?;
    check(&deb, &staged)?;
    println!(
        "packaging check ok ({:.1} s): {}",
        t.elapsed().as_secs_f64(),
        deb.display()
    );
    Ok(())
}

/// The package's fields and assets, from `cargo metadata`.
struct Meta {
    name: String,
    version: String,
    description: String,
    license: String,
    deb: Value,
}

impl Meta {
    fn load() -> Result<Meta> {
        let out = cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .context("cannot run cargo metadata")?;
        ensure!(
            out.status.success(),
            "cargo metadata failed ({})",
            out.status
        );
        let v: Value = serde_json::from_slice(&out.stdout)?;
        let pkg = v["packages"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "dumpvault"))
            .context("cargo metadata: no package dumpvault")?;
        let s = |k: &str| pkg[k].as_str().unwrap_or_default().to_string();
        let deb = pkg["metadata"]["deb"].clone();
        ensure!(deb.is_object(), "Cargo.toml has no [package.metadata.deb]");
        Ok(Meta {
            name: s("name"),
            version: s("version"),
            description: s("description"),
            license: s("license"),
            deb,
        })
    }

    fn field(&self, key: &str) -> Option<&str> {
        self.deb[key].as_str()
    }

    /// Debian version: the crate's, then `-` and the revision (default 1).
    fn deb_version(&self) -> String {
        match self.field("revision").unwrap_or("1") {
            "" => self.version.clone(),
            r => format!("{}-{r}", self.version),
        }
    }

    /// `(source, dest, mode)` of each asset, as written in the table.
    fn assets(&self) -> Result<Vec<(String, String, u32)>> {
        let list = self.deb["assets"]
            .as_array()
            .context("[package.metadata.deb] has no assets")?;
        list.iter()
            .map(|a| {
                let f = |i: usize| a[i].as_str().map(str::to_string);
                match (f(0), f(1), f(2)) {
                    (Some(s), Some(d), Some(m)) => Ok((s, d, u32::from_str_radix(&m, 8)?)),
                    _ => bail!("asset {a} is not [source, dest, mode]"),
                }
            })
            .collect()
    }
}

/// The Debian architecture of this machine (`dpkg --print-architecture`).
fn architecture() -> Result<String> {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .context("cannot run dpkg --print-architecture (is this Debian?)")?;
    ensure!(out.status.success(), "dpkg --print-architecture failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Output of a command that must succeed, as text.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes the generated assets into `target/assets`: gzipped man pages in `man/` and the
/// completion scripts in `completions/`, all from the binary `bin`.
fn generate_assets(bin: &Path) -> Result<()> {
    let dir = target_dir().join("assets");
    let _ = fs::remove_dir_all(&dir);
    let man = dir.join("man");
    write_man_pages(bin, &man)?;
    let pages = fs::read_dir(&man)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    output(Command::new("gzip").arg("-9nf").args(pages))?;
    let comp = dir.join("completions");
    fs::create_dir_all(&comp)?;
    for (shell, file) in [
        ("bash", "dumpvault.bash"),
        ("zsh", "_dumpvault"),
        ("fish", "dumpvault.fish"),
    ] {
        let script = output(Command::new(bin).args(["completions", shell]))?;
        ensure!(!script.is_empty(), "empty {shell} completion script");
        fs::write(comp.join(file), script)?;
    }
    Ok(())
}

/// The files an asset source names: itself, or with a `*` in its file name, the matching files
/// of its directory (sorted). `target/release/` stands for the profile's directory.
fn expand(source: &str, profile: Profile) -> Result<Vec<PathBuf>> {
    // `target/` is Cargo's target directory wherever `CARGO_TARGET_DIR` puts it.
    let path = match source.strip_prefix("target/") {
        Some(rest) => match rest.strip_prefix("release/") {
            Some(file) => target_dir().join(profile.dir()).join(file),
            None => target_dir().join(rest),
        },
        None => root().join(source),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some((prefix, suffix)) = name.split_once('*') else {
        ensure!(path.is_file(), "asset {source} does not exist");
        return Ok(vec![path]);
    };
    let dir = path.parent().context("asset without a directory")?;
    let mut found = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("asset {source}"))? {
        let p = e?.path();
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if n.starts_with(prefix) && n.ends_with(suffix) && n.len() >= name.len() - 1 {
            found.push(p);
        }
    }
    ensure!(!found.is_empty(), "asset {source} matches no file");
    found.sort();
    Ok(found)
}

/// Where `file` goes for an asset `dest`: into it when it ends with `/`, else `dest` itself.
fn destination(dest: &str, file: &Path) -> String {
    match dest.strip_suffix('/') {
        Some(dir) => format!(
            "{dir}/{}",
            file.file_name().unwrap_or_default().to_string_lossy()
        ),
        None => dest.to_string(),
    }
}

/// Whether a staged file is gzipped as Debian policy asks (12.3): docs over 4 KiB, except the
/// copyright file and examples.
fn compress_doc(dest: &str, len: u64, pkg: &str) -> bool {
    let doc = format!("usr/share/doc/{pkg}/");
    dest.starts_with(&doc)
        && len > 4096
        && !dest.ends_with(".gz")
        && !dest.contains("/examples/")
        && !dest.ends_with("/copyright")
}

/// Copies every asset into `stage` with its mode: binaries stripped, large docs gzipped.
/// Returns the package's paths (relative, without `./`).
fn stage_assets(meta: &Meta, profile: Profile, stage: &Path) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for (source, dest, mode) in meta.assets()? {
        for file in expand(&source, profile)? {
            let mut rel = destination(&dest, &file);
            let target = stage.join(&rel);
            fs::create_dir_all(target.parent().context("asset at the root")?)?;
            if rel.starts_with("usr/bin/") {
                output(
                    Command::new("strip")
                        .args(["--strip-unneeded", "-o"])
                        .arg(&target)
                        .arg(&file),
                )?;
            } else {
                fs::copy(&file, &target).with_context(|| format!("copying {}", file.display()))?;
            }
            if compress_doc(&rel, fs::metadata(&target)?.len(), &meta.name) {
                output(Command::new("gzip").arg("-9nf").arg(&target))?;
                rel.push_str(".gz");
            }
            fs::set_permissions(stage.join(&rel), fs::Permissions::from_mode(mode))?;
            paths.push(rel);
        }
    }
    let copyright = format!("usr/share/doc/{}/copyright", meta.name);
    fs::create_dir_all(stage.join(&copyright).parent().unwrap_or(stage))?;
    fs::write(stage.join(&copyright), copyright_text(meta))?;
    fs::set_permissions(stage.join(&copyright), fs::Permissions::from_mode(0o644))?;
    paths.push(copyright);
    Ok(paths)
}

/// The machine-readable copyright file (DEP-5) from the table and the crate's licence.
fn copyright_text(meta: &Meta) -> String {
    let who = meta
        .field("copyright")
        .unwrap_or("the dumpvault developers");
    let license = meta.license.replace(" OR ", " or ");
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {}\n\n\
         Files: *\nCopyright: {who}\nLicense: {license}\n \
         Apache-2.0: see /usr/share/common-licenses/Apache-2.0.\n .\n \
         MIT: Permission is hereby granted, free of charge, to any person obtaining a copy of\n \
         this software and associated documentation files, to deal in the Software without\n \
         restriction, including the rights to use, copy, modify, merge, publish, distribute,\n \
         sublicense, and/or sell copies of it, subject to including the above copyright notice\n \
         and this permission notice in all copies. THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT\n \
         WARRANTY OF ANY KIND.\n",
        meta.name
    )
}

/// The `Depends` value: the table's, with `$auto` replaced by the shared libraries' packages
/// (`dpkg-shlibdeps` on the binary; `libc6` with a warning when dpkg-dev is missing).
fn depends(meta: &Meta, bin: &Path) -> Result<String> {
    let wanted = meta.field("depends").unwrap_or("$auto");
    if !wanted.contains("$auto") {
        return Ok(wanted.to_string());
    }
    let tmp = target_dir().join("debian/shlibdeps");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(tmp.join("debian"))?;
    fs::write(
        tmp.join("debian/control"),
        "Source: dumpvault\n\nPackage: dumpvault\nArchitecture: any\n",
    )?;
    let auto = match Command::new("dpkg-shlibdeps")
        .arg("-O")
        .arg(format!("-e{}", bin.display()))
        .current_dir(&tmp)
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("shlibs:Depends="))
            .map(str::to_string)
            .context("dpkg-shlibdeps printed no shlibs:Depends")?,
        _ => {
            eprintln!("warning: dpkg-shlibdeps (dpkg-dev) failed or is missing: Depends: libc6");
            "libc6".to_string()
        }
    };
    Ok(wanted.replace("$auto", &auto))
}

/// The control file's text.
fn control(meta: &Meta, arch: &str, installed_kib: u64, depends: &str) -> String {
    let mut c = format!(
        "Package: {}\nVersion: {}\nArchitecture: {arch}\nMaintainer: {}\nInstalled-Size: {installed_kib}\n",
        meta.name,
        meta.deb_version(),
        meta.field("maintainer").unwrap_or("dumpvault developers"),
    );
    c.push_str(&format!("Depends: {depends}\n"));
    for (key, field) in [
        ("recommends", "Recommends"),
        ("suggests", "Suggests"),
        ("section", "Section"),
        ("priority", "Priority"),
    ] {
        if let Some(v) = meta.field(key) {
            c.push_str(&format!("{field}: {v}\n"));
        }
    }
    c.push_str(&format!("Description: {}\n", meta.description));
    if let Some(ext) = meta.field("extended-description") {
        for line in wrap(ext, 78) {
            c.push_str(&format!(" {line}\n"));
        }
    }
    c
}

/// Words of `text` in lines of at most `width` characters (longer words alone on a line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for w in text.split_whitespace() {
        let last = lines.last_mut().expect("one line at least");
        if last.is_empty() {
            last.push_str(w);
        } else if last.len() + 1 + w.len() <= width {
            last.push(' ');
            last.push_str(w);
        } else {
            lines.push(w.to_string());
        }
    }
    lines
}

/// Stages the package tree and builds the .deb from it; returns its path and the paths of the
/// files it holds (relative, without the control files).
fn package(profile: Profile) -> Result<(PathBuf, Vec<String>)> {
    let meta = Meta::load()?;
    let arch = architecture()?;
    let bin = target_dir().join(profile.dir()).join("dumpvault");
    ensure!(
        bin.is_file(),
        "{} is missing: build it first (without --no-build)",
        bin.display()
    );
    println!("--- generating man pages and completions into target/assets");
    generate_assets(&bin)?;
    let out = target_dir().join(match profile {
        Profile::Release => "debian",
        Profile::Dev => "debian-dev",
    });
    let name = format!("{}_{}_{arch}", meta.name, meta.deb_version());
    let stage = out.join(&name);
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(&stage)?;
    println!("--- staging {}", stage.display());
    let paths = stage_assets(&meta, profile, &stage)?;
    let installed_kib: u64 = paths
        .iter()
        .map(|p| fs::metadata(stage.join(p)).map(|m| m.len().div_ceil(1024)))
        .sum::<std::io::Result<u64>>()?;
    let control_dir = stage.join("DEBIAN");
    fs::create_dir_all(&control_dir)?;
    let deps = depends(&meta, &bin)?;
    fs::write(
        control_dir.join("control"),
        control(&meta, &arch, installed_kib, &deps),
    )?;
    let sums = output(Command::new("md5sum").args(&paths).current_dir(&stage))?;
    fs::write(control_dir.join("md5sums"), sums)?;
    let scripts = root().join(
        meta.field("maintainer-scripts")
            .unwrap_or("packaging/debian"),
    );
    for s in ["preinst", "postinst", "prerm", "postrm"] {
        if scripts.join(s).is_file() {
            fs::copy(scripts.join(s), control_dir.join(s))?;
            fs::set_permissions(control_dir.join(s), fs::Permissions::from_mode(0o755))?;
        }
    }
    set_dir_modes(&stage)?;
    let deb = out.join(format!("{name}.deb"));
    let compression: &[&str] = match profile {
        Profile::Release => &["-Zxz"],
        Profile::Dev => &["-Zgzip", "-z1"],
    };
    println!("--- building {}", deb.display());
    run(Command::new("dpkg-deb")
        .arg("--root-owner-group")
        .args(compression)
        .arg("--build")
        .arg(&stage)
        .arg(&deb))?;
    Ok((deb, paths))
}

/// Sets every directory under `dir` (and itself) to 0755, whatever the umask was.
fn set_dir_modes(dir: &Path) -> Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            set_dir_modes(&e.path())?;
        }
    }
    Ok(())
}

/// `dpkg-deb -c` output as path (without `./`) to (mode string, owner).
fn listing(deb: &Path) -> Result<BTreeMap<String, (String, String)>> {
    let text = output(Command::new("dpkg-deb").arg("-c").arg(deb))?;
    let mut files = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        ensure!(f.len() >= 6, "unexpected dpkg-deb -c line: {line}");
        let path = f[5].trim_start_matches("./").trim_end_matches('/');
        if !path.is_empty() {
            files.insert(path.to_string(), (f[0].to_string(), f[1].to_string()));
        }
    }
    Ok(files)
}

/// Checks the package at `deb`, which should hold `staged` (paths without `./`) and
/// [`REQUIRED`] (see the module documentation); fails on the first problem.
fn check(deb: &Path, staged: &[String]) -> Result<()> {
    let meta = Meta::load()?;
    println!("--- checking {}", deb.display());
    let files = listing(deb)?;
    for p in REQUIRED
        .iter()
        .copied()
        .chain(staged.iter().map(String::as_str))
    {
        ensure!(files.contains_key(p), "the package lacks /{p}");
    }
    for (p, (mode, owner)) in &files {
        ensure!(
            owner == "root/root",
            "/{p} is owned by {owner}, not root/root"
        );
        let m = mode.as_bytes();
        ensure!(
            m.len() == 10 && m[5] != b'w' && m[8] != b'w',
            "/{p} is writable by group or others ({mode})"
        );
    }
    ensure!(
        files["usr/bin/dumpvault"].0 == "-rwxr-xr-x",
        "/usr/bin/dumpvault has mode {}",
        files["usr/bin/dumpvault"].0
    );
    let pages = files
        .keys()
        .filter(|p| p.starts_with("usr/share/man/man1/") && p.ends_with(".1.gz"))
        .count();
    ensure!(pages >= 20, "only {pages} man pages");
    check_fields(&meta, deb)?;
    let unpacked = deb.with_extension("unpacked");
    let _ = fs::remove_dir_all(&unpacked);
    output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&unpacked))?;
    check_contents(&meta, &unpacked)?;
    check_units(&unpacked)?;
    println!(
        "package ok: {} files ({pages} man pages), fields, scripts and binary checked",
        files.len()
    );
    Ok(())
}

/// Checks the control fields (`dpkg-deb -f`) and the maintainer scripts (`dpkg-deb -I`,
/// `sh -n`).
fn check_fields(meta: &Meta, deb: &Path) -> Result<()> {
    let f = |name: &str| -> Result<String> {
        Ok(
            output(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name))?
                .trim()
                .to_string(),
        )
    };
    ensure!(f("Package")? == meta.name, "Package field");
    ensure!(f("Version")? == meta.deb_version(), "Version field");
    ensure!(f("Architecture")? == architecture()?, "Architecture field");
    ensure!(
        f("Maintainer")?.contains('@'),
        "Maintainer field lacks an address"
    );
    ensure!(f("Depends")?.contains("libc6"), "Depends lacks libc6");
    ensure!(f("Section")? == "admin", "Section field");
    let size: u64 = f("Installed-Size")?.parse().context("Installed-Size")?;
    ensure!(size > 1000, "Installed-Size {size} KiB is too small");
    ensure!(
        f("Description")?.starts_with(&meta.description),
        "Description field"
    );
    let info = output(Command::new("dpkg-deb").arg("-I").arg(deb))?;
    let control = deb.with_extension("control");
    let _ = fs::remove_dir_all(&control);
    output(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control))?;
    for s in ["postinst", "prerm", "postrm", "md5sums"] {
        ensure!(info.contains(s), "dpkg-deb -I shows no {s}");
    }
    for s in ["postinst", "prerm", "postrm"] {
        output(Command::new("sh").arg("-n").arg(control.join(s)))?;
    }
    Ok(())
}

/// Runs the unpacked binary and checks the man pages and completion scripts.
fn check_contents(meta: &Meta, dir: &Path) -> Result<()> {
    let version = output(Command::new(dir.join("usr/bin/dumpvault")).arg("--version"))?;
    ensure!(
        version.trim() == format!("dumpvault {}", meta.version),
        "the packaged binary says {version:?}"
    );
    let man = dir.join("usr/share/man/man1");
    output(
        Command::new("gzip")
            .arg("-t")
            .arg(man.join("dumpvault.1.gz"))
            .arg(man.join("dumpvault-run.1.gz")),
    )?;
    let bash = dir.join("usr/share/bash-completion/completions/dumpvault");
    let script = format!("source '{}' && complete -p dumpvault", bash.display());
    let out = output(Command::new("bash").args(["--norc", "-c", &script]))?;
    ensure!(
        out.contains("dumpvault"),
        "bash completion not registered: {out}"
    );
    let zsh = fs::read_to_string(dir.join("usr/share/zsh/vendor-completions/_dumpvault"))?;
    ensure!(
        zsh.starts_with("#compdef dumpvault"),
        "zsh completion header"
    );
    let fish = fs::read_to_string(dir.join("usr/share/fish/vendor_completions.d/dumpvault.fish"))?;
    ensure!(fish.contains("complete -c dumpvault"), "fish completion");
    let units = dir.join("lib/systemd/system");
    for (unit, lines) in [
        ("dumpvault-run.service", UNIT_SERVICE),
        ("dumpvault-run.timer", UNIT_TIMER),
    ] {
        let text = fs::read_to_string(units.join(unit))?;
        for want in lines {
            ensure!(
                text.lines().any(|l| l.trim() == *want),
                "{unit} lacks the line {want}"
            );
        }
    }
    Ok(())
}

/// `systemd-analyze verify` of the units in the unpacked tree `dir` (as the root, so
/// `ExecStart=` must name the packaged binary and `Documentation=` its man pages), then
/// `systemd-analyze security` (exposure at most 3.0). Skipped, and said, without systemd-analyze.
fn check_units(dir: &Path) -> Result<()> {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("systemd-analyze is not installed: the unit files were NOT verified");
        return Ok(());
    }
    // The targets the units depend on (sysinit.target…) come from this machine.
    let host = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("sysinit.target").exists())
        .context("systemd-analyze is installed but sysinit.target is not")?;
    let targets = dir.join("usr/lib/systemd/system");
    fs::create_dir_all(&targets)?;
    for e in fs::read_dir(host)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "target") && p.is_file() {
            fs::copy(&p, targets.join(p.file_name().unwrap_or_default()))?;
        }
    }
    let units = [
        "/lib/systemd/system/dumpvault-run.service",
        "/lib/systemd/system/dumpvault-run.timer",
    ];
    let man = Command::new("man").arg("--version").output().is_ok();
    if !man {
        println!("man is not installed: the units' Documentation= pages were NOT checked");
    }
    let mut verify = Command::new("systemd-analyze");
    verify
        .arg("verify")
        .arg(format!("--man={man}"))
        .arg(format!("--root={}", dir.display()))
        .args(units)
        .env("MANPATH", dir.join("usr/share/man"));
    let out = verify
        .output()
        .context("cannot run systemd-analyze verify")?;
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string()
        + String::from_utf8_lossy(&out.stdout).trim();
    ensure!(
        out.status.success() && said.is_empty(),
        "systemd-analyze verify of the units failed ({}):\n{said}",
        out.status
    );
    let security = output(
        Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=30", "--no-pager"])
            .arg(format!("--root={}", dir.display()))
            .arg(units[0]),
    )
    .context("dumpvault-run.service's exposure is above 3.0: keep its hardening")?;
    let score = security.lines().last().unwrap_or_default().trim();
    println!("systemd-analyze verify: units ok; security: {score}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            a(&[]).unwrap(),
            Options {
                profile: Profile::Release,
                build: true
            }
        );
        assert_eq!(
            a(&["--profile", "dev", "--no-build"]).unwrap(),
            Options {
                profile: Profile::Dev,
                build: false
            }
        );
        assert!(a(&["--profile"]).is_err());
        assert!(a(&["--profile", "debug"]).is_err());
        assert!(a(&["--release"]).is_err());
    }

    #[test]
    fn destinations_and_docs() {
        let f = Path::new("/x/target/assets/man/dumpvault.1.gz");
        assert_eq!(
            destination("usr/share/man/man1/", f),
            "usr/share/man/man1/dumpvault.1.gz"
        );
        assert_eq!(destination("usr/lib/x.conf", f), "usr/lib/x.conf");
        assert!(compress_doc("usr/share/doc/dv/README.md", 5000, "dv"));
        assert!(!compress_doc("usr/share/doc/dv/README.md", 4000, "dv"));
        assert!(!compress_doc(
            "usr/share/doc/dv/examples/a.toml",
            9000,
            "dv"
        ));
        assert!(!compress_doc("usr/share/doc/dv/copyright", 9000, "dv"));
        assert!(!compress_doc("usr/share/man/man1/a.1", 9000, "dv"));
    }

    #[test]
    fn wrapped_description() {
        let w = wrap("aaa bbb ccc dddddddddd e", 7);
        assert_eq!(w, ["aaa bbb", "ccc", "dddddddddd", "e"]);
        assert!(wrap(&"word ".repeat(100), 78).iter().all(|l| l.len() <= 78));
    }
}
