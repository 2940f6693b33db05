//! What the fuzz harnesses' ordinary tests share: the committed seed corpus and a seeded
//! generator, so a failing input is the same on every run and machine.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;

/// Every file under the workspace's `fuzz/corpus/` (all targets: seeds are useful to every
/// parser).
pub fn corpus() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{dir:?}: {e}")).path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")));
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut inputs = Vec::new();
    walk(&root, &mut inputs);
    inputs
}

/// A deterministic generator for pseudo-random inputs.
pub fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}
