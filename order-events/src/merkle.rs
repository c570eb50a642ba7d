//! Merkle trees over a log, hashed as Certificate Transparency hashes them (RFC 9162 §2.1):
//! a leaf is SHA-256 of `0x00 ‖ data`, an inner node SHA-256 of `0x01 ‖ left ‖ right`, and a
//! tree of n > 1 leaves splits at the largest power of two below n. With it come the two
//! proofs an auditor checks against a root they trust: that a leaf is in a tree (inclusion,
//! §2.1.3) and that a tree extends an older one (consistency, §2.1.4). Proofs hold O(log n)
//! hashes.
//!
//! [`Frontier`] keeps a growing tree's root in O(log n) memory, one leaf at a time, which is
//! how a writer maintains it; the proof functions take the leaf hashes, which any reader can
//! recompute from the log alone.

use std::ops::Range;

use sha2::{Digest as _, Sha256};

/// A node of the tree: a SHA-256 value.
pub type Digest = [u8; 32];

/// The hash of a leaf holding `data`.
pub fn leaf_hash(data: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an inner node over its two children.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two below `n` (n > 1): where a tree of n leaves splits.
fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves` (leaf hashes, in order); SHA-256 of nothing when empty.
pub fn root(leaves: &[Digest]) -> Digest {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree over `leaves`; `None` when there is no
/// such leaf.
pub fn inclusion_proof(leaves: &[Digest], index: usize) -> Option<Vec<Digest>> {
    let ranges = inclusion_ranges(index as u64, leaves.len() as u64)?;
    Some(roots_of(leaves, &ranges))
}

/// The consistency proof that the tree over `leaves` extends its first `old_size` leaves;
/// `None` unless 0 < old_size ≤ leaves.len().
pub fn consistency_proof(leaves: &[Digest], old_size: usize) -> Option<Vec<Digest>> {
    let ranges = consistency_ranges(old_size as u64, leaves.len() as u64)?;
    Some(roots_of(leaves, &ranges))
}

fn roots_of(leaves: &[Digest], ranges: &[Range<u64>]) -> Vec<Digest> {
    ranges
        .iter()
        .map(|r| root(&leaves[r.start as usize..r.end as usize]))
        .collect()
}

/// The leaf ranges whose subtree roots make the inclusion proof of leaf `index` in a tree of
/// `size` leaves, in proof order (from the leaf up): RFC 9162's PATH(m, D[n]). They are
/// disjoint, so one pass over the leaves computes them all ([`RangeRoots`]). `None` when
/// there is no such leaf.
pub fn inclusion_ranges(index: u64, size: u64) -> Option<Vec<Range<u64>>> {
    if index >= size {
        return None;
    }
    let mut ranges = Vec::new();
    path(index, 0..size, &mut ranges);
    Some(ranges)
}

/// PATH(m, D[range]), appended from the leaf up.
fn path(m: u64, range: Range<u64>, proof: &mut Vec<Range<u64>>) {
    let n = range.end - range.start;
    if n <= 1 {
        return;
    }
    let k = split(n as usize) as u64;
    let middle = range.start + k;
    if m < k {
        path(m, range.start..middle, proof);
        proof.push(middle..range.end);
    } else {
        path(m - k, middle..range.end, proof);
        proof.push(range.start..middle);
    }
}

/// The leaf ranges whose subtree roots make the consistency proof between trees of
/// `old_size` and `new_size` leaves, in proof order: RFC 9162's SUBPROOF(m, D[n], true).
/// Disjoint, like [`inclusion_ranges`]. `None` unless 0 < old_size ≤ new_size.
pub fn consistency_ranges(old_size: u64, new_size: u64) -> Option<Vec<Range<u64>>> {
    if old_size == 0 || old_size > new_size {
        return None;
    }
    let mut ranges = Vec::new();
    subproof(old_size, 0..new_size, true, &mut ranges);
    Some(ranges)
}

/// SUBPROOF(m, D[range], whole), appended.
fn subproof(m: u64, range: Range<u64>, whole: bool, proof: &mut Vec<Range<u64>>) {
    let n = range.end - range.start;
    if m == n {
        if !whole {
            proof.push(range);
        }
        return;
    }
    let k = split(n as usize) as u64;
    let middle = range.start + k;
    if m <= k {
        subproof(m, range.start..middle, whole, proof);
        proof.push(middle..range.end);
    } else {
        subproof(m - k, middle..range.end, false, proof);
        proof.push(range.start..middle);
    }
}

/// The roots of disjoint leaf ranges, computed in one pass over the leaves in order and
/// O(log n) memory per range: how a proof is made from a log too large to hold its leaves.
#[derive(Debug, Clone)]
pub struct RangeRoots {
    ranges: Vec<Range<u64>>,
    trees: Vec<Frontier>,
    /// Indexes into `ranges`, by range start.
    by_start: Vec<usize>,
    /// Position in `by_start` of the range the next leaves may fall in.
    next: usize,
    seen: u64,
}

impl RangeRoots {
    pub fn new(ranges: Vec<Range<u64>>) -> RangeRoots {
        let mut by_start: Vec<usize> = (0..ranges.len()).collect();
        by_start.sort_by_key(|&i| ranges[i].start);
        RangeRoots {
            trees: vec![Frontier::default(); ranges.len()],
            ranges,
            by_start,
            next: 0,
            seen: 0,
        }
    }

    /// The next leaf (leaves come in order, from index 0).
    pub fn push(&mut self, leaf: Digest) {
        let index = self.seen;
        self.seen += 1;
        while let Some(&i) = self.by_start.get(self.next) {
            if index < self.ranges[i].end {
                if index >= self.ranges[i].start {
                    self.trees[i].push(leaf);
                }
                return;
            }
            self.next += 1;
        }
    }

    /// The ranges' roots in the order the ranges were given; `None` when the leaves pushed
    /// did not cover every range.
    pub fn roots(&self) -> Option<Vec<Digest>> {
        self.ranges
            .iter()
            .zip(&self.trees)
            .map(|(range, tree)| (tree.size() == range.end - range.start).then(|| tree.root()))
            .collect()
    }
}

/// Why a proof does not prove what it is offered for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf {index} is not in a tree of {size} leaves")]
    NoSuchLeaf { index: u64, size: u64 },
    #[error("a tree of {old} leaves cannot be extended by one of {new}")]
    Shrunk { old: u64, new: u64 },
    #[error("the proof has {got} hashes, not the number its tree sizes need")]
    WrongLength { got: usize },
    #[error("the proof leads to another root than the one trusted")]
    RootMismatch,
}

/// Shifts `a` and `b` right together until `a`'s lowest bit is set or `a` is zero.
fn shift_while_even(a: &mut u64, b: &mut u64) {
    while *a != 0 && *a & 1 == 0 {
        *a >>= 1;
        *b >>= 1;
    }
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
    root: &Digest,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::NoSuchLeaf { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            shift_while_even(&mut f, &mut s);
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength { got: proof.len() });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2; equal sizes need equal roots and
/// an empty proof).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Digest,
    new_root: &Digest,
    proof: &[Digest],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::Shrunk {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut path: Vec<Digest> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength { got: 0 });
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            shift_while_even(&mut f, &mut s);
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength { got: proof.len() });
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A growing tree's right edge: the roots of its perfect subtrees, largest first, from which
/// its root follows. One leaf at a time, in O(log n) memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (height, root) of each perfect subtree; heights strictly decreasing.
    peaks: Vec<(u32, Digest)>,
}

impl Frontier {
    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf (its hash).
    pub fn push(&mut self, leaf: Digest) {
        let mut peak = (0, leaf);
        while let Some(&(height, left)) = self.peaks.last() {
            if height != peak.0 {
                break;
            }
            self.peaks.pop();
            peak = (height + 1, node_hash(&left, &peak.1));
        }
        self.peaks.push(peak);
        self.size += 1;
    }

    /// The root of the tree so far (SHA-256 of nothing when empty).
    pub fn root(&self) -> Digest {
        let mut peaks = self.peaks.iter().rev();
        let Some(&(_, last)) = peaks.next() else {
            return Sha256::digest([]).into();
        };
        peaks.fold(last, |right, (_, left)| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's test leaves and the roots and proofs Certificate Transparency publishes for
    /// them (its `merkle` tests; the same values in Trillian's and others').
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves() -> Vec<Digest> {
        LEAVES
            .iter()
            .map(|data| leaf_hash(&hex::decode(data).unwrap()))
            .collect()
    }

    fn digests(hexes: &[&str]) -> Vec<Digest> {
        hexes
            .iter()
            .map(|h| hex::decode(h).unwrap().try_into().unwrap())
            .collect()
    }

    fn root_of(size: usize) -> Digest {
        digests(&[ROOTS[size - 1]])[0]
    }

    #[test]
    fn roots_match_certificate_transparencys_vectors() {
        let leaves = leaves();
        let mut frontier = Frontier::default();
        for size in 1..=8 {
            frontier.push(leaves[size - 1]);
            assert_eq!(
                hex::encode(root(&leaves[..size])),
                ROOTS[size - 1],
                "size {size}"
            );
            assert_eq!(frontier.root(), root(&leaves[..size]), "frontier at {size}");
        }
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn proofs_match_certificate_transparencys_vectors_and_verify() {
        let leaves = leaves();
        let inclusion = [
            (
                0,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                vec![
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in inclusion {
            let proof = inclusion_proof(&leaves[..size], index).unwrap();
            assert_eq!(proof, digests(&expected), "inclusion {index} of {size}");
            let leaf = &leaves[index];
            verify_inclusion(leaf, index as u64, size as u64, &proof, &root_of(size)).unwrap();
        }
        let consistency = [
            (
                1,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (1, 1, vec![]),
        ];
        for (old, new, expected) in consistency {
            let proof = consistency_proof(&leaves[..new], old).unwrap();
            assert_eq!(proof, digests(&expected), "consistency {old} to {new}");
            verify_consistency(old as u64, new as u64, &root_of(old), &root_of(new), &proof)
                .unwrap();
        }
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies_and_a_changed_hash_does_not() {
        let leaves: Vec<Digest> = (0..40u8).map(|i| leaf_hash(&[i; 3])).collect();
        let mut frontier = Frontier::default();
        for size in 1..=leaves.len() {
            let tree = &leaves[..size];
            let top = root(tree);
            frontier.push(tree[size - 1]);
            assert_eq!((frontier.size(), frontier.root()), (size as u64, top));
            for index in 0..size {
                let proof = inclusion_proof(tree, index).unwrap();
                assert!(proof.len() <= 6);
                verify_inclusion(&tree[index], index as u64, size as u64, &proof, &top).unwrap();
                let other = leaf_hash(b"not this leaf");
                assert_eq!(
                    verify_inclusion(&other, index as u64, size as u64, &proof, &top),
                    Err(ProofError::RootMismatch)
                );
                // The leaf at another place: its proof's left and right turns differ. (The
                // size is not bound by the proof but by the checkpoint that signs it with
                // the root.)
                if size > 1 {
                    let elsewhere = (index as u64 + 1) % size as u64;
                    assert!(
                        verify_inclusion(&tree[index], elsewhere, size as u64, &proof, &top)
                            .is_err(),
                        "leaf {index} of {size} proven at {elsewhere}"
                    );
                }
            }
            for old in 1..=size {
                let proof = consistency_proof(tree, old).unwrap();
                let old_root = root(&tree[..old]);
                verify_consistency(old as u64, size as u64, &old_root, &top, &proof).unwrap();
                // Another history of the same length is caught.
                let mut rewritten = tree.to_vec();
                rewritten[old - 1] = leaf_hash(b"rewritten");
                assert!(verify_consistency(
                    old as u64,
                    size as u64,
                    &root(&rewritten[..old]),
                    &top,
                    &proof
                )
                .is_err());
            }
        }
    }

    #[test]
    fn proofs_streamed_over_the_leaves_equal_the_proofs_made_in_memory() {
        let leaves: Vec<Digest> = (0..70u8).map(|i| leaf_hash(&[i])).collect();
        let streamed = |ranges: Vec<Range<u64>>, size: usize| {
            let mut roots = RangeRoots::new(ranges);
            leaves[..size].iter().for_each(|leaf| roots.push(*leaf));
            roots.roots().expect("every range covered")
        };
        for size in 1..=leaves.len() {
            for index in 0..size {
                let ranges = inclusion_ranges(index as u64, size as u64).unwrap();
                let expected = inclusion_proof(&leaves[..size], index).unwrap();
                assert_eq!(streamed(ranges, size), expected, "leaf {index} of {size}");
            }
            for old in 1..=size {
                let ranges = consistency_ranges(old as u64, size as u64).unwrap();
                let expected = consistency_proof(&leaves[..size], old).unwrap();
                assert_eq!(streamed(ranges, size), expected, "{old} of {size}");
            }
        }
        // Too few leaves pushed: no roots rather than wrong ones.
        let mut short = RangeRoots::new(inclusion_ranges(0, 8).unwrap());
        leaves[..5].iter().for_each(|leaf| short.push(*leaf));
        assert_eq!(short.roots(), None);
    }

    #[test]
    fn a_proof_among_a_million_leaves_holds_at_most_twenty_hashes() {
        let size = 1_000_000;
        for index in [0, 1, 499_999, 999_999] {
            let ranges = inclusion_ranges(index, size).unwrap();
            // ⌈log2 n⌉ at most; fewer on the tree's short right edge.
            let expected = if index == 999_999 { 12 } else { 20 };
            assert_eq!(ranges.len(), expected, "leaf {index}");
            let covered: u64 = ranges.iter().map(|r| r.end - r.start).sum();
            assert_eq!(covered, size - 1, "the ranges cover every other leaf once");
        }
        assert!(consistency_ranges(999_000, size).unwrap().len() <= 2 * 20);
    }
}
