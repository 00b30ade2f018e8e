//! The hot-spot model (the bench's original series): ten similar `orders_NN` tables; every
//! hour 0.5% of the rows are updated (80% of the updates among the newest 5% of rows), 0.3%
//! inserted (new, highest keys) and 0.1% deleted.

use super::tables::{push_2, push_time, push_u64, push_words, Change, Def, Rng, Schema};

/// Tables in the dump.
pub const TABLES: usize = 10;
/// Share of rows updated, inserted and deleted per hour.
const UPDATE: f64 = 0.005;
const INSERT: f64 = 0.003;
const DELETE: f64 = 0.001;
/// Share of updates among the newest rows, and how many rows count as newest.
const HOT_UPDATES: u64 = 80;
const HOT_SHARE: u64 = 20; // the newest 1/20 = 5% of rows

pub const DESCRIPTION: &str = "10 orders tables; per hour 0.5% of rows updated (80% of them \
among the newest 5%), 0.3% inserted, 0.1% deleted";

/// Name of table `t` in the dump.
pub fn table_name(t: usize) -> String {
    format!("orders_{t:02}")
}

pub const WORDS: [&str; 48] = [
    "express",
    "standard",
    "gift",
    "fragile",
    "return",
    "priority",
    "customer",
    "called",
    "about",
    "delivery",
    "window",
    "leave",
    "at",
    "door",
    "reception",
    "please",
    "ring",
    "twice",
    "invoice",
    "company",
    "address",
    "changed",
    "second",
    "floor",
    "warehouse",
    "backorder",
    "partial",
    "shipment",
    "discount",
    "applied",
    "coupon",
    "loyalty",
    "member",
    "wrapping",
    "note",
    "card",
    "birthday",
    "urgent",
    "weekend",
    "evening",
    "morning",
    "pickup",
    "locker",
    "signature",
    "required",
    "insured",
    "oversize",
    "pallet",
];
pub const NAMES: [&str; 16] = [
    "anna", "ben", "chloe", "david", "emma", "felix", "grace", "henry", "iris", "jonas", "kara",
    "liam", "mia", "noah", "olivia", "paul",
];
pub const STATUS: [&str; 6] = [
    "pending",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
];
pub const CURRENCY: [&str; 4] = ["EUR", "USD", "GBP", "CHF"];
pub const EPOCH: u64 = 1_767_225_600; // 2026-01-01

/// One COPY line of table `t`: the stable columns come from (seed, table, id), the mutable
/// ones from (seed, table, id, version).
fn row(out: &mut Vec<u8>, seed: u64, t: usize, id: u64, ver: u32, _epoch: u32) {
    let mut fixed = Rng::new(&[seed, t as u64, id]);
    let mut var = Rng::new(&[seed, t as u64, id, u64::from(ver) + 1]);
    let customer = fixed.below(200_000) + 1;
    let created = EPOCH + id * 3 + fixed.below(3);
    push_u64(out, id);
    out.push(b'\t');
    push_u64(out, customer);
    out.push(b'\t');
    push_time(out, created);
    out.push(b'\t');
    push_time(out, created + u64::from(ver) * 3600 + var.below(3600));
    out.push(b'\t');
    let status = (u64::from(ver) + var.below(2)).min(STATUS.len() as u64 - 1);
    out.extend_from_slice(STATUS[status as usize].as_bytes());
    out.push(b'\t');
    let cents = var.below(50_000) + 99;
    push_u64(out, cents / 100);
    out.push(b'.');
    push_2(out, cents % 100);
    out.push(b'\t');
    out.extend_from_slice(CURRENCY[fixed.below(4) as usize].as_bytes());
    out.push(b'\t');
    out.extend_from_slice(NAMES[(customer % 16) as usize].as_bytes());
    out.push(b'.');
    push_u64(out, customer);
    out.extend_from_slice(b"@example.com\t");
    let words = 3 + var.below(9);
    push_words(out, &mut var, &WORDS, words);
}

pub fn schema(seed: u64, size: u64) -> Schema {
    let defs = (0..TABLES)
        .map(|t| Def {
            name: table_name(t),
            columns: vec![
                ("id", "bigint NOT NULL"),
                ("customer_id", "bigint NOT NULL"),
                ("created_at", "timestamp without time zone NOT NULL"),
                ("updated_at", "timestamp without time zone NOT NULL"),
                ("status", "text NOT NULL"),
                ("amount", "numeric(12,2) NOT NULL"),
                ("currency", "character(3) NOT NULL"),
                ("email", "text NOT NULL"),
                ("note", "text"),
            ],
            row,
            share: 1,
            fks: Vec::new(),
        })
        .collect();
    Schema::new(seed, size, defs)
}

pub fn changes(s: &Schema, hour: u64) -> Vec<Change> {
    (s.tables.iter().enumerate())
        .map(|(t, table)| {
            let mut rng = Rng::new(&[s.seed, t as u64, hour, 0x5eed]);
            let n = table.rows.len() as u64;
            let updates = (n as f64 * UPDATE).round() as u64;
            let inserts = (n as f64 * INSERT).round() as u64;
            let deletes = (n as f64 * DELETE).round() as u64;
            let mark = Schema::marks(n as usize, updates, deletes, |update| {
                if update && rng.below(100) < HOT_UPDATES {
                    n - 1 - rng.below(n / HOT_SHARE)
                } else {
                    rng.below(n)
                }
            });
            Change {
                mark,
                inserts,
                ..Default::default()
            }
        })
        .collect()
}
