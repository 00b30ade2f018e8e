//! A dump read from standard input (or any reader): complete when the reader reaches end of
//! file without an error.

use super::{DumpSource, SourceError, SourceInfo};
use std::io::Read;

/// A dump from a reader, e.g. standard input.
pub struct ReaderSource<R> {
    reader: R,
    database: Option<String>,
}

impl<R: Read + Send> ReaderSource<R> {
    /// Wraps `reader`.
    pub fn new(reader: R) -> Self {
        ReaderSource {
            reader,
            database: None,
        }
    }

    /// Records `database` as the database this dump is of (`--database`, or the stream name
    /// without extension), so that retention, `--database` and reports tell it apart.
    pub fn with_database(mut self, database: String) -> Self {
        self.database = Some(database);
        self
    }
}

impl<R: Read + Send> Read for ReaderSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

impl<R: Read + Send> DumpSource for ReaderSource<R> {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "stdin".into(),
            database: self.database.clone(),
            ..Default::default()
        }
    }

    fn finish(self: Box<Self>) -> Result<SourceInfo, SourceError> {
        Ok(self.info())
    }
}
