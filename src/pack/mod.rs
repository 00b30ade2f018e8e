//! Pack files: [`packer`] writes sealed blobs into packs (on the calling thread, or on several
//! upload threads with [`parallel`]), [`reader`] reads blobs back out. Blob payloads are
//! encoded and decoded by [`crate::blob::codec`], never here.

pub mod packer;
pub mod parallel;
pub mod reader;
