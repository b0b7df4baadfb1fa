"""The auditor: replay the ledger from index 0 and close the loops of orders and answers."""
