//! The uniform model: an e-commerce schema (customers, products, orders, order items, payments
//! and a quoted `"Product Reviews"` table, with foreign keys); every hour 0.5% of each table's
//! rows are updated and 0.1% deleted, both scattered uniformly over the table, and 0.3%
//! inserted with new, highest keys.

use super::hotspot::{CURRENCY, EPOCH, NAMES, STATUS, WORDS};
use super::tables::{push_money, push_time, push_u64, push_words, Change, Def, Rng, Schema};

const UPDATE: f64 = 0.005;
const INSERT: f64 = 0.003;
const DELETE: f64 = 0.001;

pub const DESCRIPTION: &str = "e-commerce schema, 6 tables with foreign keys and a quoted \
name; per hour 0.5% of rows updated and 0.1% deleted uniformly over every table, 0.3% inserted";

const CITIES: [&str; 8] = [
    "Berlin", "Paris", "Lyon", "Madrid", "Porto", "Vienna", "Zürich", "Leeds",
];
const CATEGORIES: [&str; 6] = ["garden", "kitchen", "toys", "books", "sports", "office"];
const METHODS: [&str; 4] = ["card", "paypal", "sepa", "invoice"];
const STATES: [&str; 4] = ["authorized", "captured", "refunded", "failed"];

fn tab(out: &mut Vec<u8>) {
    out.push(b'\t');
}

fn customers(out: &mut Vec<u8>, seed: u64, t: usize, id: u64, ver: u32, _e: u32) {
    let mut f = Rng::new(&[seed, t as u64, id]);
    let mut v = Rng::new(&[seed, t as u64, id, u64::from(ver) + 1]);
    push_u64(out, id);
    tab(out);
    let name = NAMES[f.below(16) as usize];
    out.extend_from_slice(name.as_bytes());
    out.push(b'.');
    push_u64(out, id);
    out.extend_from_slice(b"@example.com\t");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(NAMES[f.below(16) as usize].as_bytes());
    out.extend_from_slice(b"son\t");
    out.extend_from_slice(CITIES[v.below(8) as usize].as_bytes());
    tab(out);
    push_time(out, EPOCH - 86400 * 400 + id * 20);
    tab(out);
    push_time(out, EPOCH + u64::from(ver) * 3600 + v.below(3600));
    tab(out);
    push_u64(out, v.below(5000));
}

fn products(out: &mut Vec<u8>, seed: u64, t: usize, id: u64, ver: u32, e: u32) {
    let mut f = Rng::new(&[seed, t as u64, id]);
    let mut v = Rng::new(&[seed, t as u64, id, u64::from(ver) + 1]);
    push_u64(out, id);
    out.extend_from_slice(b"\tSKU-");
    push_u64(out, 100_000 + id);
    tab(out);
    {
        let n = 2 + f.below(4);
        push_words(out, &mut f, &WORDS, n);
    }
    tab(out);
    out.extend_from_slice(CATEGORIES[f.below(6) as usize].as_bytes());
    tab(out);
    // A rewrite raises every price by 5%.
    let mut cents = 199 + f.below(20_000);
    for _ in 0..e {
        cents = cents * 105 / 100;
    }
    push_money(out, cents);
    tab(out);
    push_u64(out, v.below(1000));
    tab(out);
    push_time(out, EPOCH + u64::from(ver) * 3600 + v.below(3600));
}

fn orders(out: &mut Vec<u8>, seed: u64, t: usize, id: u64, ver: u32, e: u32) {
    let mut f = Rng::new(&[seed, t as u64, id]);
    let mut v = Rng::new(&[seed, t as u64, id, u64::from(ver) + 1]);
    let created = EPOCH + id * 7 + f.below(7);
    push_u64(out, id);
    tab(out);
    push_u64(out, f.below(100_000) + 1);
    tab(out);
    push_time(out, created);
    tab(out);
    push_time(out, created + u64::from(ver) * 3600 + v.below(3600));
    tab(out);
    let status = (u64::from(ver) + v.below(2)).min(STATUS.len() as u64 - 1);
    out.extend_from_slice(STATUS[status as usize].as_bytes());
    tab(out);
    // A rewrite adds 19% VAT to every total.
    let mut cents = 500 + f.below(40_000);
    for _ in 0..e {
        cents = cents * 119 / 100;
    }
    push_money(out, cents);
    tab(out);
    out.extend_from_slice(CURRENCY[f.below(4) as usize].as_bytes());
    tab(out);
    {
        let n = v.below(5);
        push_words(out, &mut v, &WORDS, n);
    }
}

fn order_items(out: &mut Vec<u8>, seed: u64, t: usize, id: u64, ver: u32, _e: u32) {
    let mut f = Rng::new(&[seed, t as u64, id]);
    let mut v = Rng::new(&[seed, t as u64, id, u64::from(ver) + 1]);
    push_u64(out, id);
    tab(out);
    push_u64(out, id / 3 + 1);
    tab(out);
    push_u64(out, f.below(20_000) + 1);
    tab(out);
    push_u64(out, 1 + v.below(5));
    tab(out);
    push_money(out, 199 + f.below(20_000));
    tab(out);
    push_money(out, v.below(3) * 250);
}

fn payments(out: &mut Vec<u8>, seed: u64, t: usize, id: u64, ver: u32, _e: u32) {
    let mut f = Rng::new(&[seed, t as u64, id]);
    let mut v = Rng::new(&[seed, t as u64, id, u64::from(ver) + 1]);
    push_u64(out, id);
    tab(out);
    push_u64(out, id);
    tab(out);
    out.extend_from_slice(METHODS[f.below(4) as usize].as_bytes());
    tab(out);
    push_money(out, 500 + f.below(40_000));
    tab(out);
    let state = (u64::from(ver) + v.below(2)).min(3);
    out.extend_from_slice(STATES[state as usize].as_bytes());
    tab(out);
    push_time(out, EPOCH + id * 7 + u64::from(ver) * 3600 + v.below(3600));
    out.extend_from_slice(b"\tpi_");
    out.extend_from_slice(format!("{:016x}", f.next()).as_bytes());
}

fn reviews(out: &mut Vec<u8>, seed: u64, t: usize, id: u64, ver: u32, _e: u32) {
    let mut f = Rng::new(&[seed, t as u64, id]);
    let mut v = Rng::new(&[seed, t as u64, id, u64::from(ver) + 1]);
    push_u64(out, id);
    tab(out);
    push_u64(out, f.below(20_000) + 1);
    tab(out);
    push_u64(out, f.below(100_000) + 1);
    tab(out);
    push_u64(out, 1 + f.below(5));
    tab(out);
    {
        let n = 2 + f.below(3);
        push_words(out, &mut f, &WORDS, n);
    }
    tab(out);
    {
        let n = 12 + f.below(30);
        push_words(out, &mut f, &WORDS, n);
    }
    tab(out);
    push_time(out, EPOCH + id * 60);
    tab(out);
    push_u64(out, v.below(200) + u64::from(ver));
}

pub fn schema(seed: u64, size: u64) -> Schema {
    let ts = "timestamp without time zone NOT NULL";
    let defs = vec![
        Def {
            name: "customers".into(),
            columns: vec![
                ("id", "bigint NOT NULL"),
                ("email", "text NOT NULL"),
                ("full_name", "text NOT NULL"),
                ("city", "text"),
                ("created_at", ts),
                ("updated_at", ts),
                ("loyalty_points", "integer NOT NULL"),
            ],
            row: customers,
            share: 12,
            fks: vec![],
        },
        Def {
            name: "products".into(),
            columns: vec![
                ("id", "bigint NOT NULL"),
                ("sku", "text NOT NULL"),
                ("title", "text NOT NULL"),
                ("category", "text NOT NULL"),
                ("price", "numeric(12,2) NOT NULL"),
                ("stock", "integer NOT NULL"),
                ("updated_at", ts),
            ],
            row: products,
            share: 5,
            fks: vec![],
        },
        Def {
            name: "orders".into(),
            columns: vec![
                ("id", "bigint NOT NULL"),
                ("customer_id", "bigint NOT NULL"),
                ("created_at", ts),
                ("updated_at", ts),
                ("status", "text NOT NULL"),
                ("total", "numeric(12,2) NOT NULL"),
                ("currency", "character(3) NOT NULL"),
                ("note", "text"),
            ],
            row: orders,
            share: 25,
            fks: vec![("customer_id", "customers")],
        },
        Def {
            name: "order_items".into(),
            columns: vec![
                ("id", "bigint NOT NULL"),
                ("order_id", "bigint NOT NULL"),
                ("product_id", "bigint NOT NULL"),
                ("quantity", "integer NOT NULL"),
                ("unit_price", "numeric(12,2) NOT NULL"),
                ("discount", "numeric(12,2) NOT NULL"),
            ],
            row: order_items,
            share: 28,
            fks: vec![("order_id", "orders"), ("product_id", "products")],
        },
        Def {
            name: "payments".into(),
            columns: vec![
                ("id", "bigint NOT NULL"),
                ("order_id", "bigint NOT NULL"),
                ("method", "text NOT NULL"),
                ("amount", "numeric(12,2) NOT NULL"),
                ("state", "text NOT NULL"),
                ("paid_at", ts),
                ("reference", "text NOT NULL"),
            ],
            row: payments,
            share: 15,
            fks: vec![("order_id", "orders")],
        },
        Def {
            name: "Product Reviews".into(),
            columns: vec![
                ("id", "bigint NOT NULL"),
                ("product_id", "bigint NOT NULL"),
                ("customer_id", "bigint NOT NULL"),
                ("rating", "smallint NOT NULL"),
                ("title", "text NOT NULL"),
                ("Body", "text NOT NULL"),
                ("created_at", ts),
                ("helpful_votes", "integer NOT NULL"),
            ],
            row: reviews,
            share: 15,
            fks: vec![("product_id", "products"), ("customer_id", "customers")],
        },
    ];
    Schema::new(seed, size, defs)
}

/// Uniform scattered changes of every table, drawn from (seed, table, hour, `salt`).
pub fn scattered(s: &Schema, hour: u64, salt: u64, update: f64, delete: f64) -> Vec<Change> {
    (s.tables.iter().enumerate())
        .map(|(t, table)| {
            let mut rng = Rng::new(&[s.seed, t as u64, hour, salt]);
            let n = table.rows.len() as u64;
            let mark = Schema::marks(
                n as usize,
                (n as f64 * update).round() as u64,
                (n as f64 * delete).round() as u64,
                |_| rng.below(n),
            );
            Change {
                mark,
                inserts: (n as f64 * INSERT).round() as u64,
                ..Default::default()
            }
        })
        .collect()
}

pub fn changes(s: &Schema, hour: u64) -> Vec<Change> {
    scattered(s, hour, 0x0a1f, UPDATE, DELETE)
}
