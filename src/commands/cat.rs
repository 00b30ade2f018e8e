//! `cat`: decrypted repository objects as JSON, for debugging.

use crate::error::{Error, Result};
use crate::format::decode_json;
use crate::format::pack::{decode_header, split_trailer};
use crate::id::Id;
use crate::repository::{FileKind, Repository, CONFIG_PATH};
use serde_json::{json, Value};

fn hex_ids(v: Value) -> Value {
    // 32-number arrays are ids: show them as hex.
    match v {
        Value::Array(a)
            if a.len() == 32 && a.iter().all(|x| x.as_u64().is_some_and(|n| n < 256)) =>
        {
            let bytes: Vec<u8> = a.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect();
            Value::String(hex::encode(bytes))
        }
        Value::Array(a) => Value::Array(a.into_iter().map(hex_ids).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, hex_ids(v))).collect()),
        v => v,
    }
}

/// Returns object `what` (`config`, `index`, `snapshot`, `pack`) with id `id` as JSON.
pub fn run(repo: &Repository, what: &str, id: Option<&str>) -> Result<Value> {
    let need_id = || -> Result<Id> {
        let s = id.ok_or_else(|| Error::Invalid(format!("`cat {what}` needs an id")))?;
        Id::from_hex(s).map_err(Error::Invalid)
    };
    let v = match what {
        "config" => {
            let sealed = repo.backend().read(CONFIG_PATH)?;
            let plain = repo
                .key()
                .open(&sealed)
                .map_err(|e| Error::corrupt("config", e))?;
            decode_json::<Value>(&plain).map_err(|e| Error::corrupt("config", e))?
        }
        "index" => serde_json::to_value(repo.load_index_file(&need_id()?)?).unwrap_or_default(),
        "snapshot" => {
            let e = crate::commands::snapshots::find(
                repo,
                id.unwrap_or("latest"),
                &Default::default(),
            )?;
            json!({"id": e.id.to_hex(), "manifest": e.manifest})
        }
        "pack" => {
            let pid = need_id()?;
            let path = FileKind::Pack.path(&pid);
            let bytes = repo.backend().read(&path)?;
            let what = format!("pack {path}");
            let (_, h) = split_trailer(&bytes).map_err(|e| Error::corrupt(what.clone(), e))?;
            let plain = repo
                .key()
                .open(h)
                .map_err(|e| Error::corrupt(what.clone(), e))?;
            let blobs = decode_header(&plain).map_err(|e| Error::corrupt(what, e))?;
            json!({"id": pid.to_hex(), "size": bytes.len(), "blobs": blobs})
        }
        other => {
            return Err(Error::Invalid(format!(
                "cannot cat {other:?}: use config, index, snapshot or pack"
            )))
        }
    };
    Ok(hex_ids(v))
}
