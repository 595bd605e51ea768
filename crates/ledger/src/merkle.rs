//! The Merkle root of a block's transaction ids, immune to CVE-2012-2459.
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

const LEAF_TAG: [u8; 1] = [0x00];
const NODE_TAG: [u8; 1] = [0x01];
const ROOT_TAG: [u8; 1] = [0x02];

/// The Merkle root of `txids`, in block order.
pub fn merkle_root(txids: &[Txid]) -> MerkleRoot {
    let mut level: Vec<[u8; 32]> = txids
        .iter()
        .map(|txid| sha256(&[&LEAF_TAG, txid.as_bytes()]))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => sha256(&[&NODE_TAG, left, right]),
                [single] => *single,
                _ => [0u8; 32], // chunks(2) yields only one or two items
            })
            .collect();
    }
    let top = level.first().copied().unwrap_or([0u8; 32]);
    let count = txids.len() as u64;
    MerkleRoot::from_bytes(sha256(&[&ROOT_TAG, &count.to_le_bytes(), &top]))
}

#[cfg(test)]
mod tests {
    use super::*;

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
