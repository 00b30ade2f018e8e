//! The mixed model: the uniform model's hourly churn plus one event per hour, in turn: 5% of
//! every table's rows deleted (scattered), a column added to `customers` (every row gains a
//! value), `orders` rewritten (19% VAT on every total), an index created on `order_items`.

use super::tables::{Change, Schema};
use super::uniform;

pub const DESCRIPTION: &str = "the uniform churn plus, in turn per hour: 5% of rows deleted \
(scattered), a column added, a table rewritten (orders), an index created";

pub fn changes(s: &Schema, hour: u64) -> (Vec<Change>, String) {
    let event = (hour - 1) % 4;
    let delete = if event == 0 { 0.05 } else { 0.001 };
    let mut ch = uniform::scattered(s, hour, 0x0a1f, 0.005, delete);
    let round = (hour - 1) / 4 + 1;
    let find = |name: &str| s.tables.iter().position(|t| t.def.name == name);
    let text = match event {
        0 => "5% of rows deleted".to_string(),
        1 => {
            if let Some(i) = find("customers") {
                ch[i].add_column = Some((
                    format!("marketing_opt_in_{round}"),
                    "boolean DEFAULT false NOT NULL".into(),
                    "f".into(),
                ));
            }
            "column added to customers".into()
        }
        2 => {
            if let Some(i) = find("orders") {
                ch[i].rewrite = true;
            }
            "orders rewritten".into()
        }
        _ => {
            if let Some(i) = find("order_items") {
                let col =
                    ["product_id", "order_id", "quantity", "discount"][(round as usize - 1) % 4];
                ch[i].index = Some((format!("order_items_{col}_idx{round}"), col.into()));
            }
            "index created on order_items".into()
        }
    };
    (ch, text)
}
