//! The pipes a dump flows through (a dump tool's stdout, the in-process dump thread's pipe,
//! stdin when it is a pipe, a restore's client's stdin): widened to [`PIPE_BYTES`].
//!
//! A Linux pipe holds 64 KiB by default, so a writer producing faster than the reader drains
//! (or the other way round) wakes the other side every 64 KiB at most. On a later snapshot of
//! a pgbench database (280 MB), the dump thread's pipe writes and the chunker's pipe reads
//! were 39% of the process's 44 000 context switches (docs/bench.md, "Later snapshots in
//! steady state"). `fcntl(F_SETPIPE_SZ)` (pipe(7)).

use std::os::fd::AsFd;

/// The pipe capacity asked for, in bytes: 1 MiB, the most an unprivileged process may set
/// unless the administrator changed `/proc/sys/fs/pipe-max-size`.
pub const PIPE_BYTES: usize = 1 << 20;

/// Widens pipe `fd` to [`PIPE_BYTES`]; returns the capacity it now has. Best effort: a file
/// or terminal (not a pipe), a capacity limit lower than asked, or a user over their pipe
/// quota leaves it as it was, and the error is only logged (a pipe works at any size).
pub fn widen(fd: impl AsFd) -> Option<usize> {
    match rustix::pipe::fcntl_setpipe_size(fd, PIPE_BYTES) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::debug!(error = %e, "pipe capacity left as it was");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe gets 1 MiB (the default limit); a file is left alone without an error.
    #[test]
    fn a_pipe_is_widened_and_a_file_left_alone() {
        let (reader, writer) = std::io::pipe().unwrap();
        assert_eq!(rustix::pipe::fcntl_getpipe_size(&reader).unwrap(), 64 << 10);
        assert_eq!(widen(&writer), Some(PIPE_BYTES));
        assert_eq!(
            rustix::pipe::fcntl_getpipe_size(&reader).unwrap(),
            PIPE_BYTES
        );
        let file = tempfile::tempfile().unwrap();
        assert_eq!(widen(&file), None);
    }
}
