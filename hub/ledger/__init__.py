"""The ledger's pure core: entries and their hash chain, the Merkle tree, signed notes, checkpoints and tiles."""
