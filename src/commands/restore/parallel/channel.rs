//! The byte channel between a part's decoding thread and its database client.

use crate::error::Error;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a restore error only says the database client stopped reading the stream.
pub fn client_stopped(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Bytes from a restoring thread to a database client; a failed restore surfaces as a read
/// error (never as end of file), so the client is stopped and nothing is committed; so does
/// another part's failure (`abort`). After the end of the stream every read returns 0 again,
/// as files do.
pub struct ChannelReader<'a> {
    rx: crossbeam_channel::Receiver<std::io::Result<Vec<u8>>>,
    abort: Option<&'a AtomicBool>,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl<'a> ChannelReader<'a> {
    /// Reads what a [`ChannelWriter`] on the other end sends.
    pub fn new(
        rx: crossbeam_channel::Receiver<std::io::Result<Vec<u8>>>,
        abort: Option<&'a AtomicBool>,
    ) -> Self {
        ChannelReader {
            rx,
            abort,
            buf: Vec::new(),
            pos: 0,
            ended: false,
        }
    }
}

fn aborted(abort: Option<&AtomicBool>) -> std::io::Result<()> {
    match abort.is_some_and(|a| a.load(Ordering::SeqCst)) {
        true => Err(std::io::Error::other(
            "stopped: another part of the restore failed",
        )),
        false => Ok(()),
    }
}

impl Read for ChannelReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.ended {
                return Ok(0);
            }
            aborted(self.abort)?;
            match self.rx.recv() {
                Ok(Ok(b)) if b.is_empty() => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("restore stopped")),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Sends bytes to a [`ChannelReader`]; fails with a broken pipe once the reader is gone, and
/// with another error once `abort` is set.
pub struct ChannelWriter<'a> {
    tx: crossbeam_channel::Sender<std::io::Result<Vec<u8>>>,
    abort: Option<&'a AtomicBool>,
}

impl<'a> ChannelWriter<'a> {
    /// Sends into `tx`.
    pub fn new(
        tx: crossbeam_channel::Sender<std::io::Result<Vec<u8>>>,
        abort: Option<&'a AtomicBool>,
    ) -> Self {
        ChannelWriter { tx, abort }
    }
}

impl Write for ChannelWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if b.is_empty() {
            return Ok(0);
        }
        aborted(self.abort)?;
        self.tx.send(Ok(b.to_vec())).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "database client stopped")
        })?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
