//! Pack files: [`packer`] writes sealed blobs into packs, [`reader`] reads blobs back out.

pub mod packer;
pub mod reader;
