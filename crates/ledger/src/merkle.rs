//! Tagged Merkle trees, immune to CVE-2012-2459: the root of a block's transaction ids, and
//! the tree functions `ann-mining`'s checkpoint tree uses with its own tags.
//!
//! Bitcoin's tree duplicates the last node of an odd level, so `[a, b, c]` and `[a, b, c, c]`
//! share a root and a block can be mutated without changing its hash. Here:
//!
//! - a leaf is `SHA-256(0x00 || txid)` and an inner node `SHA-256(0x01 || left || right)`, so a
//!   leaf can never be mistaken for a node;
//! - the last node of an odd level is carried up unchanged, never duplicated;
//! - the root is `SHA-256(0x02 || leaf count (u64 LE) || top node)` (the top node of an empty
//!   list is 32 zero bytes), so trees of different sizes cannot collide.
//!
//! Validation also rejects duplicate txids in a block (they would be a double spend anyway).

use crate::hash::{MerkleRoot, Txid, sha256};

/// The domain tags of one kind of tagged Merkle tree: a leaf is `SHA-256(leaf || item)`, an
/// inner node `SHA-256(node || left || right)`, and the root
/// `SHA-256(root || leaf count (u64 LE) || top node)`. The last node of an odd level is carried
/// up unchanged, never duplicated, and the top node of an empty tree is 32 zero bytes.
///
/// The block's transaction tree ([`TXID_TREE`]) and `ann-mining`'s checkpoint tree are the two
/// kinds; both are computed by the functions of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MerkleTags {
    /// Prefix of a leaf's hash.
    pub leaf: &'static [u8],
    /// Prefix of an inner node's hash.
    pub node: &'static [u8],
    /// Prefix of the root's hash.
    pub root: &'static [u8],
}

/// The tags of a block's transaction tree (one byte each: 0, 1, 2).
pub const TXID_TREE: MerkleTags = MerkleTags {
    leaf: &[0x00],
    node: &[0x01],
    root: &[0x02],
};

impl MerkleTags {
    /// The leaf hash of `item`.
    pub fn leaf_hash(&self, item: &[u8; 32]) -> [u8; 32] {
        sha256(&[self.leaf, item])
    }

    /// The hash of an inner node.
    pub fn node_hash(&self, left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
        sha256(&[self.node, left, right])
    }

    /// The root of a tree of `count` leaves whose top node is `top`.
    pub fn root_hash(&self, count: u64, top: &[u8; 32]) -> [u8; 32] {
        sha256(&[self.root, &count.to_le_bytes(), top])
    }

    /// The next level up: pairs hashed, an odd last node carried up.
    fn next_level(&self, level: &[[u8; 32]]) -> Vec<[u8; 32]> {
        level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => self.node_hash(left, right),
                [single] => *single,
                _ => [0u8; 32], // chunks(2) yields only one or two items
            })
            .collect()
    }

    /// The root of the tree over `items`, in order.
    pub fn root(&self, items: &[[u8; 32]]) -> [u8; 32] {
        let mut level: Vec<[u8; 32]> = items.iter().map(|item| self.leaf_hash(item)).collect();
        while level.len() > 1 {
            level = self.next_level(&level);
        }
        let top = level.first().copied().unwrap_or([0u8; 32]);
        self.root_hash(items.len() as u64, &top)
    }

    /// The Merkle path of `items[index]`: its siblings from the leaf level up (a level where
    /// the node is carried up unpaired contributes none). `None` past the end.
    pub fn path(&self, items: &[[u8; 32]], index: usize) -> Option<Vec<[u8; 32]>> {
        items.get(index)?;
        let mut level: Vec<[u8; 32]> = items.iter().map(|item| self.leaf_hash(item)).collect();
        let mut position = index;
        let mut path = Vec::new();
        while level.len() > 1 {
            if let Some(hash) = level.get(position ^ 1) {
                path.push(*hash);
            }
            level = self.next_level(&level);
            position /= 2;
        }
        Some(path)
    }

    /// The root that `item` at `index` with `path` proves for a tree of `count` leaves, or
    /// `None` if the index is out of range or the path has the wrong length for it.
    pub fn root_from_path(
        &self,
        count: u64,
        index: u64,
        item: &[u8; 32],
        path: &[[u8; 32]],
    ) -> Option<[u8; 32]> {
        if index >= count {
            return None;
        }
        let mut hash = self.leaf_hash(item);
        let (mut position, mut width) = (index, count);
        let mut siblings = path.iter();
        while width > 1 {
            if (position ^ 1) < width {
                let other = siblings.next()?;
                hash = if position % 2 == 0 {
                    self.node_hash(&hash, other)
                } else {
                    self.node_hash(other, &hash)
                };
            }
            position /= 2;
            width = width.div_ceil(2);
        }
        if siblings.next().is_some() {
            return None;
        }
        Some(self.root_hash(count, &hash))
    }
}

/// The Merkle root of `txids`, in block order.
pub fn merkle_root(txids: &[Txid]) -> MerkleRoot {
    let items: Vec<[u8; 32]> = txids.iter().map(|txid| txid.to_bytes()).collect();
    MerkleRoot::from_bytes(TXID_TREE.root(&items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_proves_the_root_and_only_at_its_index() {
        for n in 1..=9u8 {
            let items: Vec<[u8; 32]> = (0..n).map(|i| [i; 32]).collect();
            let root = TXID_TREE.root(&items);
            for (i, item) in items.iter().enumerate() {
                let path = TXID_TREE.path(&items, i).expect("in range");
                let count = u64::from(n);
                assert_eq!(
                    TXID_TREE.root_from_path(count, i as u64, item, &path),
                    Some(root)
                );
                let other = (i as u64 + 1) % count;
                if other != i as u64 {
                    assert_ne!(
                        TXID_TREE.root_from_path(count, other, item, &path),
                        Some(root)
                    );
                }
                assert_eq!(TXID_TREE.root_from_path(count, count, item, &path), None);
            }
            assert_eq!(TXID_TREE.path(&items, items.len()), None);
        }
    }

    fn ids(n: u8) -> Vec<Txid> {
        (0..n).map(|i| Txid::from_bytes([i; 32])).collect()
    }

    #[test]
    fn duplicated_last_leaf_changes_the_root() {
        let three = ids(3);
        let mut four = three.clone();
        four.push(three[2]);
        assert_ne!(merkle_root(&three), merkle_root(&four));
        let mut six = ids(6);
        let five = six[..5].to_vec();
        six[5] = six[4];
        assert_ne!(merkle_root(&five), merkle_root(&six));
    }

    #[test]
    fn root_depends_on_order_and_content() {
        let a = ids(4);
        let mut b = a.clone();
        b.swap(0, 1);
        assert_ne!(merkle_root(&a), merkle_root(&b));
        assert_ne!(merkle_root(&[]), merkle_root(&ids(1)));
    }
}
