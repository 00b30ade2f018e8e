//! Running a command and measuring it: wall time, user and system CPU seconds and peak RSS,
//! from `/usr/bin/time -v` when present, else from /proc (VmHWM polled while the child runs,
//! and the children's CPU times of this process from /proc/self/stat after it is reaped).
//! Every run starts after `sync`.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    pub wall: f64,
    pub user: f64,
    pub sys: f64,
    pub rss_kib: u64,
}

impl Cost {
    pub fn cpu(&self) -> f64 {
        self.user + self.sys
    }
    pub fn json(&self) -> Value {
        json!({"wall_s": round3(self.wall), "user_s": round3(self.user), "sys_s": round3(self.sys),
            "cpu_s": round3(self.cpu()), "peak_rss_kib": self.rss_kib})
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A finished run: its cost and its standard output (when not sent to a file).
pub struct Ran {
    pub cost: Cost,
    pub stdout: String,
}

/// How costs are measured on this machine.
pub fn method() -> &'static str {
    if Path::new("/usr/bin/time").exists() {
        "/usr/bin/time -v"
    } else {
        "/proc polling (VmHWM of the direct child) and /proc/self/stat children CPU"
    }
}

/// Runs `cmd` with stdin from `stdin` (else /dev/null) and stdout to `stdout` (else captured);
/// fails with the command's stderr when it exits non-zero.
pub fn run(
    cmd: &Command,
    stdin: Option<&Path>,
    stdout: Option<&Path>,
    scratch: &Path,
) -> Result<Ran> {
    std::fs::create_dir_all(scratch)?;
    let out_path: PathBuf = stdout.map_or_else(|| scratch.join("stdout"), Path::to_path_buf);
    let err_path = scratch.join("stderr");
    let time_path = scratch.join("time");
    let use_time = Path::new("/usr/bin/time").exists();
    let mut c = if use_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-v").arg("-o").arg(&time_path).arg(cmd.get_program());
        c
    } else {
        Command::new(cmd.get_program())
    };
    c.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    c.stdin(match stdin {
        Some(p) => {
            Stdio::from(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        None => Stdio::null(),
    });
    c.stdout(Stdio::from(std::fs::File::create(&out_path)?));
    c.stderr(Stdio::from(std::fs::File::create(&err_path)?));
    // Flush dirty pages first (generated dumps, restored files, other tools' repositories),
    // so that no run pays for an earlier one's writeback.
    let _ = Command::new("sync").status();
    let before = children_cpu();
    let started = Instant::now();
    let mut child = c.spawn().with_context(|| format!("cannot start {cmd:?}"))?;
    let mut hwm = 0u64;
    let status = if use_time {
        child.wait()?
    } else {
        loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            hwm = hwm.max(vm_hwm(child.id()).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let wall = started.elapsed().as_secs_f64();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if !status.success() {
        let tail: String = {
            let lines: Vec<&str> = stderr.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        bail!("{cmd:?} failed ({status}):\n{tail}");
    }
    let cost = if use_time {
        let t = std::fs::read_to_string(&time_path)?;
        let field = |name: &str| -> f64 {
            t.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        Cost {
            wall,
            user: field("User time (seconds):"),
            sys: field("System time (seconds):"),
            rss_kib: field("Maximum resident set size (kbytes):") as u64,
        }
    } else {
        let after = children_cpu();
        Cost {
            wall,
            user: after.0 - before.0,
            sys: after.1 - before.1,
            rss_kib: hwm,
        }
    };
    let stdout = if stdout.is_none() {
        std::fs::read_to_string(&out_path).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(Ran { cost, stdout })
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// (user, sys) seconds of this process's reaped children, from /proc/self/stat.
fn children_cpu() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); cutime and cstime are fields 16 and 17.
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (get(16) / 100.0, get(17) / 100.0)
}

/// (user, sys) CPU seconds of this process itself, from /proc/self/stat.
pub fn self_cpu() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (get(14) / 100.0, get(15) / 100.0)
}

/// Total size of the files under `dir` (apparent size).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// First line of `prog ARGS` output, or None when it cannot run.
pub fn version(prog: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(prog).args(args).output().ok()?;
    let text = if o.stdout.is_empty() {
        o.stderr
    } else {
        o.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// Whether `prog` is on PATH (or a path that exists).
pub fn which(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return p.exists().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Single-quotes `s` for sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
