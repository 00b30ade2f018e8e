//! `copy`'s pack writer: the packer's parallel sink, [`crate::pack::parallel`]. Copy never
//! assembles packs itself.

pub use crate::pack::parallel::{ParallelPacker as Uploader, UploadStats, CHECKPOINT_PACKS};
