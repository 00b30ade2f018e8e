#[test]
fn diag_tmp() {
    use crate::archive::parent::{choose_base, BaseFinder};
    use crate::stream::{Node, Walk};
    use crate::id::Id;
    let Ok(dir) = std::env::var("DIAG_REPO") else { return };
    let backend = crate::backend::Backend::open(&dir).unwrap();
    let repo = crate::repository::Repository::open(backend, b"dumpvault-bench-password").unwrap();
    let index = crate::index::Index::load(&repo).unwrap();
    let list = crate::commands::snapshots::load_catalogued(&repo).unwrap().entries;
    let (s0, s1) = (&list[0].manifest.streams[0], &list[1].manifest.streams[0]);
    let text = std::fs::read(std::env::var("DIAG_NEW").unwrap()).unwrap();
    let mut prev = Vec::new();
    for n in Walk::of(&repo, &index, Id(s0.root)) { if let Node::Chunk(c) = n.unwrap() { prev.push(c.id); } }
    let m0 = repo.load_manifest(&list[0].id).unwrap();
    let m1 = repo.load_manifest(&list[1].id).unwrap();
    let mut s0 = s0.clone(); s0.sections = m0.streams[0].sections.clone();
    let mut s1 = s1.clone(); s1.sections = m1.streams[0].sections.clone();
    let (s0, s1) = (&s0, &s1);
    let mut f = BaseFinder::from_stream(&repo, &index, s0).unwrap();
    let anchors: Vec<(u64, String)> = (s1.sections.iter())
        .filter(|s| s.kind == crate::format::section::SectionKind::Data)
        .map(|s| (s.start, s.table.clone().unwrap_or_else(|| s.name.clone())))
        .collect();
    println!("anchors {anchors:?}");
    let mut load = |b: &Id| crate::pack::reader::read_base(&repo, &index, b).ok();
    let level = repo.config().compression_level;
    let (mut pays_n, mut whole_n) = (0, 0);
    let mut seen = std::collections::HashSet::new();
    for n in Walk::of(&repo, &index, Id(s1.root)) {
        let Node::Chunk(c) = n.unwrap() else { continue };
        let data = &text[c.offset as usize..(c.offset + c.size) as usize];
        let is_new = !prev.contains(&c.id) && seen.insert(c.id);
        let from = anchors.partition_point(|a| a.0 < c.offset);
        let to = anchors.partition_point(|a| a.0 < c.offset + c.size);
        let loads0 = f.loads();
        let cands = f.propose(&mut load, &c.id, data, is_new, &anchors[from..to]);
        if !is_new { continue; }
        let pos: Vec<usize> = cands.iter().map(|b| prev.iter().position(|p| p == b).unwrap_or(9999)).collect();
        let mut res = Vec::new();
        for b in &cands {
            let b2 = choose_base(&index, *b);
            let r = b2.map(|b2| {
                let base = crate::pack::reader::read_base(&repo, &index, &b2).unwrap();
                let (enc, used) = crate::blob::codec::encode_chunk(data, level, Some((b2, &base)));
                (b2 == *b, used.is_some(), enc.len())
            });
            res.push(r);
        }
        let pays = res.iter().any(|r| matches!(r, Some((_, true, _))));
        pays_n += pays as usize; whole_n += (!pays) as usize;
        println!("chunk at {} len {} loads {} cands {:?} res {:?}", c.offset, c.size, f.loads() - loads0, pos, res);
    }
    println!("pays {pays_n} whole {whole_n}");
}
